// AVX2+FMA rng kernel: 8 lanes of spec/torch-rng.md §3.5 per instruction. Compiled with
// -mavx2 -mfma; every fused multiply-add is an explicit _mm256_fmadd_ps.
#include <immintrin.h>

#include "kernels/rng/rng.h"

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

}  // namespace convkit::kernels
