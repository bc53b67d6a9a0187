// Portable gemm microkernel: a 4 x 8 tile in plain loops (the compiler may vectorize it).
#include "kernels/gemm/gemm.h"

namespace convkit::kernels {

void gemm_f32_4x8_scalar(int64_t k, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t m,
                         int64_t n, bool accumulate, const float* bias) {
  constexpr int MR = 4, NR = 8;
  float acc[MR][NR] = {};
  for (int64_t p = 0; p < k; ++p)
    for (int i = 0; i < MR; ++i)
      for (int64_t j = 0; j < n; ++j) acc[i][j] += a[p * MR + i] * b[p * ldb + j];
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      const float init = accumulate ? c[i * ldc + j] : (bias ? bias[i] : 0.0f);
      c[i * ldc + j] = init + acc[i][j];
    }
}

}  // namespace convkit::kernels
