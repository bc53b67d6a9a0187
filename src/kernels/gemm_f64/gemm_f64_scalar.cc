// Portable float64 kernel: the contract in plain loops.
#include "kernels/gemm_f64/gemm_f64.h"

namespace convkit::kernels {

void gemm_f64_4x4_scalar(int64_t k, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t m,
                         int64_t n, bool accumulate, const float*) {
  constexpr int64_t kMR = 4;
  const auto* ad = reinterpret_cast<const double*>(a);
  const auto* bd = reinterpret_cast<const double*>(b);
  auto* cd = reinterpret_cast<double*>(c);
  const int64_t steps = k / 2, cols = n / 2, lb = ldb / 2, lc = ldc / 2;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < cols; ++j) {
      double s = 0;
      for (int64_t p = 0; p < steps; ++p) s += ad[p * kMR + i] * bd[p * lb + j];
      cd[i * lc + j] = (accumulate ? cd[i * lc + j] : 0.0) + s;
    }
}

}  // namespace convkit::kernels
