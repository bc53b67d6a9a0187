// AVX2 float64 kernel: a 6 x 8 tile in 12 ymm accumulators (two B vectors, six A broadcasts per
// step), columns past n masked.
#include <immintrin.h>

#include "kernels/gemm_f64/gemm_f64.h"

namespace convkit::kernels {

namespace {
inline __m256i lane_mask(int64_t left) {  // lanes t < left on (all ones), for maskload / maskstore
  const __m256i idx = _mm256_setr_epi64x(0, 1, 2, 3);
  return _mm256_cmpgt_epi64(_mm256_set1_epi64x(left), idx);
}
}  // namespace

void gemm_f64_6x8_fma3(int64_t k, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t m,
                       int64_t n, bool accumulate, const float*) {
  constexpr int kMR = 6, kV = 2;
  const auto* ad = reinterpret_cast<const double*>(a);
  const auto* bd = reinterpret_cast<const double*>(b);
  auto* cd = reinterpret_cast<double*>(c);
  const int64_t steps = k / 2, cols = n / 2, lb = ldb / 2, lc = ldc / 2;
  const __m256i km[kV] = {lane_mask(cols), lane_mask(cols - 4)};
  __m256d acc[kMR][kV];
#pragma GCC unroll 6
  for (int i = 0; i < kMR; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_pd();
#pragma GCC unroll 2
  for (int64_t p = 0; p < steps; ++p) {
    const double* br = bd + p * lb;
    const __m256d b0 = _mm256_maskload_pd(br, km[0]), b1 = _mm256_maskload_pd(br + 4, km[1]);
#pragma GCC unroll 6
    for (int i = 0; i < kMR; ++i) {
      const __m256d ai = _mm256_broadcast_sd(ad + p * kMR + i);
      acc[i][0] = _mm256_fmadd_pd(ai, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_pd(ai, b1, acc[i][1]);
    }
  }
  for (int64_t i = 0; i < m; ++i)
    for (int v = 0; v < kV; ++v) {
      double* ci = cd + i * lc + 4 * v;
      const __m256d init = accumulate ? _mm256_maskload_pd(ci, km[v]) : _mm256_setzero_pd();
      _mm256_maskstore_pd(ci, km[v], _mm256_add_pd(init, acc[i][v]));
    }
}

}  // namespace convkit::kernels
