// AVX-512 float64 kernel: an 8 x 24 tile in 24 zmm accumulators (three B vectors, eight A
// broadcasts per step; named, so they stay in registers), columns past n masked.
#include <immintrin.h>

#include "kernels/gemm_f64/gemm_f64.h"

namespace convkit::kernels {

void gemm_f64_8x24_avx512(int64_t k, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t m,
                          int64_t n, bool accumulate, const float*) {
  const auto* ad = reinterpret_cast<const double*>(a);
  const auto* bd = reinterpret_cast<const double*>(b);
  auto* cd = reinterpret_cast<double*>(c);
  const int64_t steps = k / 2, cols = n / 2, lb = ldb / 2, lc = ldc / 2;
  __mmask8 km[3];
  for (int v = 0; v < 3; ++v) {
    const int64_t l = cols - 8 * v;
    km[v] = static_cast<__mmask8>(l >= 8 ? 0xff : l <= 0 ? 0 : (1u << l) - 1);
  }
  const __m512d z = _mm512_setzero_pd();
  __m512d c00 = z, c01 = z, c02 = z, c10 = z, c11 = z, c12 = z, c20 = z, c21 = z, c22 = z, c30 = z, c31 = z, c32 = z, c40 = z, c41 = z, c42 = z, c50 = z, c51 = z, c52 = z, c60 = z, c61 = z, c62 = z, c70 = z, c71 = z, c72 = z;
#pragma GCC unroll 2
  for (int64_t p = 0; p < steps; ++p, ad += 8) {
    const double* br = bd + p * lb;
    const __m512d b0 = _mm512_maskz_loadu_pd(km[0], br), b1 = _mm512_maskz_loadu_pd(km[1], br + 8),
                  b2 = _mm512_maskz_loadu_pd(km[2], br + 16);
    __m512d ai;
    ai = _mm512_set1_pd(ad[0]);
    c00 = _mm512_fmadd_pd(ai, b0, c00);
    c01 = _mm512_fmadd_pd(ai, b1, c01);
    c02 = _mm512_fmadd_pd(ai, b2, c02);
    ai = _mm512_set1_pd(ad[1]);
    c10 = _mm512_fmadd_pd(ai, b0, c10);
    c11 = _mm512_fmadd_pd(ai, b1, c11);
    c12 = _mm512_fmadd_pd(ai, b2, c12);
    ai = _mm512_set1_pd(ad[2]);
    c20 = _mm512_fmadd_pd(ai, b0, c20);
    c21 = _mm512_fmadd_pd(ai, b1, c21);
    c22 = _mm512_fmadd_pd(ai, b2, c22);
    ai = _mm512_set1_pd(ad[3]);
    c30 = _mm512_fmadd_pd(ai, b0, c30);
    c31 = _mm512_fmadd_pd(ai, b1, c31);
    c32 = _mm512_fmadd_pd(ai, b2, c32);
    ai = _mm512_set1_pd(ad[4]);
    c40 = _mm512_fmadd_pd(ai, b0, c40);
    c41 = _mm512_fmadd_pd(ai, b1, c41);
    c42 = _mm512_fmadd_pd(ai, b2, c42);
    ai = _mm512_set1_pd(ad[5]);
    c50 = _mm512_fmadd_pd(ai, b0, c50);
    c51 = _mm512_fmadd_pd(ai, b1, c51);
    c52 = _mm512_fmadd_pd(ai, b2, c52);
    ai = _mm512_set1_pd(ad[6]);
    c60 = _mm512_fmadd_pd(ai, b0, c60);
    c61 = _mm512_fmadd_pd(ai, b1, c61);
    c62 = _mm512_fmadd_pd(ai, b2, c62);
    ai = _mm512_set1_pd(ad[7]);
    c70 = _mm512_fmadd_pd(ai, b0, c70);
    c71 = _mm512_fmadd_pd(ai, b1, c71);
    c72 = _mm512_fmadd_pd(ai, b2, c72);
  }
  const __m512d acc[8][3] = {{c00, c01, c02}, {c10, c11, c12}, {c20, c21, c22}, {c30, c31, c32}, {c40, c41, c42}, {c50, c51, c52}, {c60, c61, c62}, {c70, c71, c72}};
  for (int64_t i = 0; i < m; ++i)
    for (int v = 0; v < 3; ++v) {
      double* ci = cd + i * lc + 8 * v;
      const __m512d init = accumulate ? _mm512_maskz_loadu_pd(km[v], ci) : _mm512_setzero_pd();
      _mm512_mask_storeu_pd(ci, km[v], _mm512_add_pd(init, acc[i][v]));
    }
}

}  // namespace convkit::kernels
