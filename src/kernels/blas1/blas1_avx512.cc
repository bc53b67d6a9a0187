// AVX-512 row kernels: 16-lane fused multiply-adds (gathers for strided b) with a masked tail;
// the lanes are added in a fixed tree.
#include <immintrin.h>

#include <cmath>

#include "kernels/blas1/blas1.h"

namespace convkit::kernels {

namespace {

inline __mmask16 first(int64_t k) { return static_cast<__mmask16>(k >= 16 ? 0xffff : (1u << k) - 1); }

inline float sum16(__m512 v) {
  alignas(64) float l[16];
  _mm512_store_ps(l, v);
  float s8[8];
  for (int i = 0; i < 8; ++i) s8[i] = l[i] + l[i + 8];
  const float s4[4] = {s8[0] + s8[4], s8[1] + s8[5], s8[2] + s8[6], s8[3] + s8[7]};
  return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

}  // namespace

float blas1_f32_avx512_dot(const float* a, int64_t lda, const float* b, int64_t ldb, int64_t sb, int64_t n,
                           int64_t rows) {
  __m512 acc = _mm512_setzero_ps();
  if (sb > (int64_t{1} << 26)) {  // 32-bit gather offsets (lane * sb) would overflow
    float s = 0;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < n; ++i) s = std::fma(a[r * lda + i], b[r * ldb + i * sb], s);
    return s;
  }
  const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                         _mm512_set1_epi32(static_cast<int>(sb)));
  // Four accumulators (column block c of a row goes to acc[c % 4]) keep four FMA chains in
  // flight; they are added in a fixed tree at the end.
  __m512 accs[4] = {acc, _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  for (int64_t r = 0; r < rows; ++r) {
    const float* ar = a + r * lda;
    const float* br = b + r * ldb;
    for (int64_t i = 0, c = 0; i < n; i += 16, c = (c + 1) & 3) {
      const __mmask16 m = first(n - i);
      const __m512 bv = sb == 1 ? _mm512_maskz_loadu_ps(m, br + i)
                                : _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, br + i * sb, 4);
      accs[c] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, ar + i), bv, accs[c]);
    }
  }
  return sum16(_mm512_add_ps(_mm512_add_ps(accs[0], accs[2]), _mm512_add_ps(accs[1], accs[3])));
}

void blas1_f32_avx512_axpy(float alpha, const float* x, int64_t n, float* y, int64_t sy) {
  if (sy == 2) {  // x[i .. i + 7] spread to the even lanes of y[2i .. 2i + 15]; odd lanes kept
    const __m512 a = _mm512_set1_ps(alpha);
    const __m512i spread = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      // (maskz forms: GCC 12 warns that the plain ones' pass-through operand is uninitialized)
      const __m512 xe = _mm512_maskz_permutexvar_ps(0xffff, spread, _mm512_maskz_loadu_ps(0x00ff, x + i));
      // The last element written is y[2i + 14]: load and store only through it.
      const __mmask16 m = 0x7fff;
      const __m512 yv = _mm512_maskz_loadu_ps(m, y + 2 * i);
      _mm512_mask_storeu_ps(y + 2 * i, 0x5555, _mm512_fmadd_ps(a, xe, yv));
    }
    for (; i < n; ++i) y[2 * i] = std::fma(alpha, x[i], y[2 * i]);
    return;
  }
  if (sy != 1) {
    for (int64_t i = 0; i < n; ++i) y[i * sy] = std::fma(alpha, x[i], y[i * sy]);
    return;
  }
  const __m512 a = _mm512_set1_ps(alpha);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = first(n - i);
    _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(a, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i)));
  }
}

}  // namespace convkit::kernels
