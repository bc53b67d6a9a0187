// AVX2 finiteness scan: x * 0 is 0 for finite x and NaN for inf and NaN, so one FMA per
// 8 floats accumulates the answer (two accumulators hide the latency).
#include <immintrin.h>

#include "kernels/scan/scan.h"

namespace convkit::kernels {

bool finite_rows_f32_fma3(const float* p, int64_t ld, int64_t rows, int64_t n) {
  const __m256 zero = _mm256_setzero_ps();
  __m256 a0 = zero, a1 = zero;
  float tail = 0.0f;
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = p + r * ld;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(row + i), zero, a0);
      a1 = _mm256_fmadd_ps(_mm256_loadu_ps(row + i + 8), zero, a1);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(row + i), zero, a0);
    for (; i < n; ++i) tail += row[i] * 0.0f;
  }
  // Every lane and the tail are 0 exactly when everything was finite.
  const __m256 acc = _mm256_add_ps(a0, a1);
  return _mm256_movemask_ps(_mm256_cmp_ps(acc, zero, _CMP_NEQ_UQ)) == 0 && tail == 0.0f;
}

}  // namespace convkit::kernels
