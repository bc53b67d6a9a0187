// Portable rng kernel: the AVX2 arithmetic of spec/torch-rng.md §3.5 one lane at a time,
// with every fused multiply-add written as std::fma (this file is compiled with
// -ffp-contract=off like the whole project, so nothing else is fused).
#include <bit>
#include <cmath>
#include <cstdint>

#include "kernels/rng/rng.h"
#include "kernels/rng/rng_common.h"

namespace convkit::kernels {

namespace {

float from_bits(uint32_t b) { return std::bit_cast<float>(b); }
uint32_t bits(float f) { return std::bit_cast<uint32_t>(f); }

// Cephes logf with the spec's roundings; x in [2^-24, 1].
float log_cephes(float x) {
  x = std::fmax(x, from_bits(0x00800000u));  // at least the smallest normal
  const int32_t E = static_cast<int32_t>(bits(x) >> 23) - 127;
  float e = static_cast<float>(E) + 1.0f;
  const float m = from_bits((bits(x) & ~0x7f800000u) | bits(0.5f));
  float v = m - 1.0f;
  if (m < from_bits(0x3f3504f3u)) {  // SQRTHF
    e = e - 1.0f;
    v = v + m;
  }
  const float z = v * v;
  static const uint32_t p[9] = {0x3d9021bb, 0xbdebd1b8, 0x3def251a, 0xbdfe5d4f, 0x3e11e9bf,
                                0xbe2aae50, 0x3e4cceac, 0xbe7ffffc, 0x3eaaaaaa};
  float y = from_bits(p[0]);
  for (int k = 1; k <= 8; ++k) y = std::fma(y, v, from_bits(p[k]));
  y = y * v;
  y = std::fma(y, z, e * from_bits(0xb95e8083u));  // q1
  y = y - z * 0.5f;
  return std::fma(e, from_bits(0x3f318000u), v + y);  // q2
}

// Cephes sincosf with the spec's roundings; theta >= 0.
void sincos_cephes(float theta, float* s_out, float* c_out) {
  float a = std::fabs(theta);
  int32_t j = static_cast<int32_t>(a * from_bits(0x3fa2f983u));  // FOPI, truncated
  j = (j + 1) & ~1;
  const float g = static_cast<float>(j);
  a = std::fma(g, from_bits(0xbf490000u), a);  // DP1
  a = std::fma(g, from_bits(0xb97da000u), a);  // DP2
  a = std::fma(g, from_bits(0xb3222169u), a);  // DP3
  const float z = a * a;
  float yc = from_bits(0x37ccf5ceu);
  yc = std::fma(yc, z, from_bits(0xbab6061au));
  yc = std::fma(yc, z, from_bits(0x3d2aaaa5u));
  yc = yc * z;
  yc = std::fma(yc, z, -(z * 0.5f));
  yc = yc + 1.0f;
  float ys = from_bits(0xb94ca1f9u);
  ys = std::fma(ys, z, from_bits(0x3c08839eu));
  ys = std::fma(ys, z, from_bits(0xbe2aaaa3u));
  ys = ys * z;
  ys = std::fma(ys, a, a);
  const bool swap = (j & 2) != 0;
  float s = (swap ? yc : ys) + 0.0f;  // + 0.0 turns -0.0 into +0.0, as the vector select does
  float c = (swap ? ys : yc) + 0.0f;
  const uint32_t sin_sign = ((j & 4) != 0 ? 0x80000000u : 0u) ^ (bits(theta) & 0x80000000u);
  const uint32_t cos_sign = (((j - 2) & 4) == 0) ? 0x80000000u : 0u;
  *s_out = from_bits(bits(s) ^ sin_sign);
  *c_out = from_bits(bits(c) ^ cos_sign);
}

}  // namespace

void rng_uniform_f32_scalar(const uint32_t* words, float* out, int64_t n, float from, float range) {
  for (int64_t i = 0; i < n; ++i) out[i] = std::fma(static_cast<float>(words[i] & 0xffffffu) * 0x1p-24f, range, from);
}

void rng_uniform_f64_scalar(const uint32_t* words, double* out, int64_t n, double from, double range) {
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t v = ((static_cast<uint64_t>(words[2 * i]) << 32) | words[2 * i + 1]) & ((uint64_t{1} << 53) - 1);
    out[i] = std::fma(static_cast<double>(v) * 0x1p-53, range, from);
  }
}

void rng_normal_f32_c16_scalar(float* data, int64_t chunks, float mean, float std) {
  for (int64_t c = 0; c < chunks; ++c) {
    float* d = data + 16 * c;
    for (int j = 0; j < 8; ++j) {
      const float radius = std::sqrt(-2.0f * log_cephes(1.0f - d[j]));
      const float theta = from_bits(0x40c90fdbu) * d[j + 8];
      float s, co;
      sincos_cephes(theta, &s, &co);
      d[j] = std::fma(radius * co, std, mean);
      d[j + 8] = std::fma(radius * s, std, mean);
    }
  }
}

void rng_normal_f64_c16_scalar(double* data, int64_t chunks, double mean, double std) {
  rng_common::normal_f64_c16(data, chunks, mean, std);
}

// The standard MT19937 recurrence, split so no index needs a modulo.
void rng_mt_twist_scalar(uint32_t* mt) {
  constexpr int N = 624, M = 397;
  int k = 0;
  for (; k < N - M; ++k) mt[k] = mt[k + M] ^ rng_common::mt_twist_one(mt[k], mt[k + 1]);
  for (; k < N - 1; ++k) mt[k] = mt[k + M - N] ^ rng_common::mt_twist_one(mt[k], mt[k + 1]);
  mt[N - 1] = mt[M - 1] ^ rng_common::mt_twist_one(mt[N - 1], mt[0]);
}

void rng_mt_temper_scalar(const uint32_t* state, uint32_t* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = rng_common::mt_temper_one(state[i]);
}

}  // namespace convkit::kernels
