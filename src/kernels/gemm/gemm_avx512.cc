// AVX-512 gemm microkernel: a 12 x 32 tile in 24 zmm accumulators (named, so they stay in
// registers); per k step two B loads and twelve A broadcasts.
#include <immintrin.h>

#include "kernels/gemm/gemm.h"

namespace convkit::kernels {

void gemm_f32_12x32_avx512(int64_t k, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t m,
                           int64_t n, bool accumulate, const float* bias) {
  const __m512 z = _mm512_setzero_ps();
  __m512 c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z, c40 = z, c41 = z, c50 = z, c51 = z, c60 = z, c61 = z, c70 = z, c71 = z, c80 = z, c81 = z, c90 = z, c91 = z, c100 = z, c101 = z, c110 = z, c111 = z;
  // Columns past n are never read (masked loads and stores).
  const __mmask16 k0 = static_cast<__mmask16>(n >= 16 ? 0xffff : (1u << n) - 1);
  const __mmask16 k1 = static_cast<__mmask16>(n >= 32 ? 0xffff : n <= 16 ? 0 : (1u << (n - 16)) - 1);
  for (int64_t p = 0; p < k; ++p, b += ldb) {
    // B rows are ldb apart: ask for the row 8 steps ahead (both lines) while computing this one.
    // (A prefetch never faults, so running past the last row is harmless.)
    _mm_prefetch(reinterpret_cast<const char*>(b + 8 * ldb), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(b + 8 * ldb + 16), _MM_HINT_T0);
    const __m512 b0 = _mm512_maskz_loadu_ps(k0, b), b1 = _mm512_maskz_loadu_ps(k1, b + 16);
    __m512 ai;
    ai = _mm512_set1_ps(a[0]);
    c00 = _mm512_fmadd_ps(ai, b0, c00);
    c01 = _mm512_fmadd_ps(ai, b1, c01);
    ai = _mm512_set1_ps(a[1]);
    c10 = _mm512_fmadd_ps(ai, b0, c10);
    c11 = _mm512_fmadd_ps(ai, b1, c11);
    ai = _mm512_set1_ps(a[2]);
    c20 = _mm512_fmadd_ps(ai, b0, c20);
    c21 = _mm512_fmadd_ps(ai, b1, c21);
    ai = _mm512_set1_ps(a[3]);
    c30 = _mm512_fmadd_ps(ai, b0, c30);
    c31 = _mm512_fmadd_ps(ai, b1, c31);
    ai = _mm512_set1_ps(a[4]);
    c40 = _mm512_fmadd_ps(ai, b0, c40);
    c41 = _mm512_fmadd_ps(ai, b1, c41);
    ai = _mm512_set1_ps(a[5]);
    c50 = _mm512_fmadd_ps(ai, b0, c50);
    c51 = _mm512_fmadd_ps(ai, b1, c51);
    ai = _mm512_set1_ps(a[6]);
    c60 = _mm512_fmadd_ps(ai, b0, c60);
    c61 = _mm512_fmadd_ps(ai, b1, c61);
    ai = _mm512_set1_ps(a[7]);
    c70 = _mm512_fmadd_ps(ai, b0, c70);
    c71 = _mm512_fmadd_ps(ai, b1, c71);
    ai = _mm512_set1_ps(a[8]);
    c80 = _mm512_fmadd_ps(ai, b0, c80);
    c81 = _mm512_fmadd_ps(ai, b1, c81);
    ai = _mm512_set1_ps(a[9]);
    c90 = _mm512_fmadd_ps(ai, b0, c90);
    c91 = _mm512_fmadd_ps(ai, b1, c91);
    ai = _mm512_set1_ps(a[10]);
    c100 = _mm512_fmadd_ps(ai, b0, c100);
    c101 = _mm512_fmadd_ps(ai, b1, c101);
    ai = _mm512_set1_ps(a[11]);
    c110 = _mm512_fmadd_ps(ai, b0, c110);
    c111 = _mm512_fmadd_ps(ai, b1, c111);
    a += 12;
  }
  const __m512 acc[12][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}, {c60, c61}, {c70, c71}, {c80, c81}, {c90, c91}, {c100, c101}, {c110, c111}};
  // Rows past m are skipped, columns past n masked off: no spill on edge tiles.
  for (int64_t i = 0; i < m; ++i) {
    float* ci = c + i * ldc;
    __m512 i0, i1;
    if (accumulate) {
      i0 = _mm512_maskz_loadu_ps(k0, ci);
      i1 = _mm512_maskz_loadu_ps(k1, ci + 16);
    } else {
      i0 = i1 = bias ? _mm512_set1_ps(bias[i]) : _mm512_setzero_ps();
    }
    _mm512_mask_storeu_ps(ci, k0, _mm512_add_ps(i0, acc[i][0]));
    _mm512_mask_storeu_ps(ci + 16, k1, _mm512_add_ps(i1, acc[i][1]));
  }
}

}  // namespace convkit::kernels
