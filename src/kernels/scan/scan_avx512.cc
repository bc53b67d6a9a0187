// AVX-512 finiteness scan: x * 0 is 0 for finite x and NaN for inf and NaN, so one FMA per
// 16 floats accumulates the answer (two accumulators hide the latency; the row's edge is a
// masked load).
#include <immintrin.h>

#include "kernels/scan/scan.h"

namespace convkit::kernels {

bool finite_rows_f32_avx512(const float* p, int64_t ld, int64_t rows, int64_t n) {
  const __m512 zero = _mm512_setzero_ps();
  __m512 a0 = zero, a1 = zero;
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = p + r * ld;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
      a0 = _mm512_fmadd_ps(_mm512_loadu_ps(row + i), zero, a0);
      a1 = _mm512_fmadd_ps(_mm512_loadu_ps(row + i + 16), zero, a1);
    }
    for (; i < n; i += 16) {
      const __mmask16 m = static_cast<__mmask16>(n - i >= 16 ? 0xffff : (1u << (n - i)) - 1);
      a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, row + i), zero, a0);
    }
  }
  return _mm512_cmp_ps_mask(_mm512_add_ps(a0, a1), zero, _CMP_NEQ_UQ) == 0;
}

}  // namespace convkit::kernels
