// AVX2+FMA rng kernel: 8 lanes of spec/torch-rng.md §3.5 per instruction. Compiled with
// -mavx2 -mfma; every fused multiply-add is an explicit _mm256_fmadd_ps.
#include <immintrin.h>

#include <cmath>

#include "kernels/rng/rng.h"
#include "kernels/rng/rng_common.h"

namespace convkit::kernels {

namespace {

__m256 c(uint32_t bits) { return _mm256_castsi256_ps(_mm256_set1_epi32(static_cast<int>(bits))); }

__m256 log_cephes(__m256 x) {
  x = _mm256_max_ps(x, c(0x00800000u));
  const __m256i E = _mm256_sub_epi32(_mm256_srli_epi32(_mm256_castps_si256(x), 23), _mm256_set1_epi32(127));
  __m256 e = _mm256_add_ps(_mm256_cvtepi32_ps(E), _mm256_set1_ps(1.0f));
  const __m256 m = _mm256_or_ps(_mm256_and_ps(x, c(~0x7f800000u)), _mm256_set1_ps(0.5f));
  const __m256 mask = _mm256_cmp_ps(m, c(0x3f3504f3u), _CMP_LT_OQ);
  __m256 v = _mm256_sub_ps(m, _mm256_set1_ps(1.0f));
  e = _mm256_sub_ps(e, _mm256_and_ps(_mm256_set1_ps(1.0f), mask));
  v = _mm256_add_ps(v, _mm256_and_ps(m, mask));
  const __m256 z = _mm256_mul_ps(v, v);
  __m256 y = c(0x3d9021bbu);
  y = _mm256_fmadd_ps(y, v, c(0xbdebd1b8u));
  y = _mm256_fmadd_ps(y, v, c(0x3def251au));
  y = _mm256_fmadd_ps(y, v, c(0xbdfe5d4fu));
  y = _mm256_fmadd_ps(y, v, c(0x3e11e9bfu));
  y = _mm256_fmadd_ps(y, v, c(0xbe2aae50u));
  y = _mm256_fmadd_ps(y, v, c(0x3e4cceacu));
  y = _mm256_fmadd_ps(y, v, c(0xbe7ffffcu));
  y = _mm256_fmadd_ps(y, v, c(0x3eaaaaaau));
  y = _mm256_mul_ps(y, v);
  y = _mm256_fmadd_ps(y, z, _mm256_mul_ps(e, c(0xb95e8083u)));
  y = _mm256_sub_ps(y, _mm256_mul_ps(z, _mm256_set1_ps(0.5f)));
  return _mm256_fmadd_ps(e, c(0x3f318000u), _mm256_add_ps(v, y));
}

void sincos_cephes(__m256 theta, __m256* s_out, __m256* c_out) {
  const __m256 sign_mask = c(0x80000000u);
  __m256 a = _mm256_andnot_ps(sign_mask, theta);
  __m256i j = _mm256_cvttps_epi32(_mm256_mul_ps(a, c(0x3fa2f983u)));
  j = _mm256_and_si256(_mm256_add_epi32(j, _mm256_set1_epi32(1)), _mm256_set1_epi32(~1));
  const __m256 g = _mm256_cvtepi32_ps(j);
  const __m256 swap = _mm256_castsi256_ps(
      _mm256_cmpeq_epi32(_mm256_and_si256(j, _mm256_set1_epi32(2)), _mm256_setzero_si256()));  // true: no swap
  const __m256 sin_sign = _mm256_xor_ps(
      _mm256_and_ps(theta, sign_mask), _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_and_si256(j, _mm256_set1_epi32(4)), 29)));
  const __m256 cos_sign = _mm256_castsi256_ps(_mm256_slli_epi32(
      _mm256_andnot_si256(_mm256_sub_epi32(j, _mm256_set1_epi32(2)), _mm256_set1_epi32(4)), 29));
  a = _mm256_fmadd_ps(g, c(0xbf490000u), a);
  a = _mm256_fmadd_ps(g, c(0xb97da000u), a);
  a = _mm256_fmadd_ps(g, c(0xb3222169u), a);
  const __m256 z = _mm256_mul_ps(a, a);
  __m256 yc = c(0x37ccf5ceu);
  yc = _mm256_fmadd_ps(yc, z, c(0xbab6061au));
  yc = _mm256_fmadd_ps(yc, z, c(0x3d2aaaa5u));
  yc = _mm256_mul_ps(yc, z);
  yc = _mm256_fmadd_ps(yc, z, _mm256_sub_ps(_mm256_setzero_ps(), _mm256_mul_ps(z, _mm256_set1_ps(0.5f))));
  yc = _mm256_add_ps(yc, _mm256_set1_ps(1.0f));
  __m256 ys = c(0xb94ca1f9u);
  ys = _mm256_fmadd_ps(ys, z, c(0x3c08839eu));
  ys = _mm256_fmadd_ps(ys, z, c(0xbe2aaaa3u));
  ys = _mm256_mul_ps(ys, z);
  ys = _mm256_fmadd_ps(ys, a, a);
  // Select by masking and adding, so a -0.0 result becomes +0.0 exactly as in the spec.
  const __m256 s = _mm256_add_ps(_mm256_and_ps(swap, ys), _mm256_andnot_ps(swap, yc));
  const __m256 co = _mm256_add_ps(_mm256_and_ps(swap, yc), _mm256_andnot_ps(swap, ys));
  *s_out = _mm256_xor_ps(s, sin_sign);
  *c_out = _mm256_xor_ps(co, cos_sign);
}

}  // namespace

void rng_uniform_f32_fma3(const uint32_t* words, float* out, int64_t n, float from, float range) {
  const __m256 vr = _mm256_set1_ps(range), vf = _mm256_set1_ps(from), scale = _mm256_set1_ps(0x1p-24f);
  const __m256i mask = _mm256_set1_epi32(0xffffff);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i w = _mm256_and_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(words + i)), mask);
    _mm256_storeu_ps(out + i, _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(w), scale), vr, vf));
  }
  for (; i < n; ++i) out[i] = std::fma(static_cast<float>(words[i] & 0xffffffu) * 0x1p-24f, range, from);
}

void rng_uniform_f64_fma3(const uint32_t* words, double* out, int64_t n, double from, double range) {
  // Each 64-bit lane holds (first word) | (second word) << 32; the value is
  // (first & 0x1fffff) * 2^32 + second, built exactly from two 2^52-offset doubles.
  const __m256i magic = _mm256_set1_epi64x(0x4330000000000000LL);
  const __m256d two52 = _mm256_set1_pd(0x1p52), two32 = _mm256_set1_pd(0x1p32), scale = _mm256_set1_pd(0x1p-53);
  const __m256d vr = _mm256_set1_pd(range), vf = _mm256_set1_pd(from);
  const __m256i low21 = _mm256_set1_epi64x(0x1fffff);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const __m256i l = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(words + 2 * i));
    const __m256d hi = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(_mm256_and_si256(l, low21), magic)), two52);
    const __m256d lo = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(_mm256_srli_epi64(l, 32), magic)), two52);
    const __m256d x = _mm256_mul_pd(_mm256_fmadd_pd(hi, two32, lo), scale);  // exact: < 2^53
    _mm256_storeu_pd(out + i, _mm256_fmadd_pd(x, vr, vf));
  }
  for (; i < n; ++i) {
    const uint64_t v = ((static_cast<uint64_t>(words[2 * i]) << 32) | words[2 * i + 1]) & ((uint64_t{1} << 53) - 1);
    out[i] = std::fma(static_cast<double>(v) * 0x1p-53, range, from);
  }
}

void rng_normal_f32_c16_fma3(float* data, int64_t chunks, float mean, float std) {
  const __m256 vmean = _mm256_set1_ps(mean), vstd = _mm256_set1_ps(std);
  for (int64_t k = 0; k < chunks; ++k) {
    float* d = data + 16 * k;
    const __m256 a = _mm256_loadu_ps(d), b = _mm256_loadu_ps(d + 8);
    const __m256 radius = _mm256_sqrt_ps(
        _mm256_mul_ps(_mm256_set1_ps(-2.0f), log_cephes(_mm256_sub_ps(_mm256_set1_ps(1.0f), a))));
    const __m256 theta = _mm256_mul_ps(c(0x40c90fdbu), b);
    __m256 s, co;
    sincos_cephes(theta, &s, &co);
    _mm256_storeu_ps(d, _mm256_fmadd_ps(_mm256_mul_ps(radius, co), vstd, vmean));
    _mm256_storeu_ps(d + 8, _mm256_fmadd_ps(_mm256_mul_ps(radius, s), vstd, vmean));
  }
}

void rng_normal_f64_c16_fma3(double* data, int64_t chunks, double mean, double std) {
  rng_common::normal_f64_c16(data, chunks, mean, std);
}

namespace {
// 8 lanes of mt_twist_one(u, v).
__m256i twist8(__m256i u, __m256i v) {
  const __m256i y = _mm256_or_si256(_mm256_and_si256(u, _mm256_set1_epi32(static_cast<int>(0x80000000u))),
                                    _mm256_and_si256(v, _mm256_set1_epi32(0x7fffffff)));
  const __m256i odd = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_and_si256(v, _mm256_set1_epi32(1)));
  return _mm256_xor_si256(_mm256_srli_epi32(y, 1), _mm256_and_si256(odd, _mm256_set1_epi32(static_cast<int>(0x9908b0dfu))));
}
__m256i load(const uint32_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
void store(uint32_t* p, __m256i v) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v); }
}  // namespace

// The scalar recurrence 8 words at a time: mt[k + 1 .. k + 8] are still old when read and
// mt[k + M - N ..] were written by earlier steps, so the vector order gives the same words.
void rng_mt_twist_fma3(uint32_t* mt) {
  constexpr int N = 624, M = 397;
  int k = 0;
  for (; k + 8 <= N - M; k += 8) store(mt + k, _mm256_xor_si256(load(mt + k + M), twist8(load(mt + k), load(mt + k + 1))));
  for (; k < N - M; ++k) mt[k] = mt[k + M] ^ rng_common::mt_twist_one(mt[k], mt[k + 1]);
  for (; k + 8 <= N - 1; k += 8)
    store(mt + k, _mm256_xor_si256(load(mt + k + M - N), twist8(load(mt + k), load(mt + k + 1))));
  for (; k < N - 1; ++k) mt[k] = mt[k + M - N] ^ rng_common::mt_twist_one(mt[k], mt[k + 1]);
  mt[N - 1] = mt[M - 1] ^ rng_common::mt_twist_one(mt[N - 1], mt[0]);
}

void rng_mt_temper_fma3(const uint32_t* state, uint32_t* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256i y = load(state + i);
    y = _mm256_xor_si256(y, _mm256_srli_epi32(y, 11));
    y = _mm256_xor_si256(y, _mm256_and_si256(_mm256_slli_epi32(y, 7), _mm256_set1_epi32(static_cast<int>(0x9d2c5680u))));
    y = _mm256_xor_si256(y, _mm256_and_si256(_mm256_slli_epi32(y, 15), _mm256_set1_epi32(static_cast<int>(0xefc60000u))));
    y = _mm256_xor_si256(y, _mm256_srli_epi32(y, 18));
    store(out + i, y);
  }
  for (; i < n; ++i) out[i] = rng_common::mt_temper_one(state[i]);
}

}  // namespace convkit::kernels
