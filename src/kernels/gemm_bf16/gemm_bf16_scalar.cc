// Portable bfloat16 pair kernel: the contract in plain loops (each pair's products added in
// order, even step first).
#include <bit>

#include "kernels/gemm_bf16/gemm_bf16.h"

namespace convkit::kernels {

namespace {
constexpr int64_t kMR = 4, kQ = kBf16PairQuantum;
inline float low(float pair) { return std::bit_cast<float>(std::bit_cast<uint32_t>(pair) << 16); }
inline float high(float pair) { return std::bit_cast<float>(std::bit_cast<uint32_t>(pair) & 0xffff0000u); }

template <typename Row>
void tile(int64_t k, const float* a, Row row, float* c, int64_t ldc, int64_t m, int64_t n, bool accumulate,
          const float* bias) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      float s = 0;
      for (int64_t p = 0; p < k; ++p) {
        const float ap = a[(p / kQ) * kMR * kQ + i * kQ + p % kQ], bp = row(p)[j];
        s += low(ap) * low(bp);
        s += high(ap) * high(bp);
      }
      float* cij = c + i * ldc + j;
      *cij = (accumulate ? *cij : bias ? bias[i] : 0.0f) + s;
    }
}

}  // namespace

void gemm_bf16_4x16_scalar(int64_t k, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t m,
                           int64_t n, bool accumulate, const float* bias) {
  tile(k, a, [&](int64_t p) { return b + p * ldb; }, c, ldc, m, n, accumulate, bias);
}

void gemm_bf16_4x16_scalar_rows(int64_t k, const float* a, const float* const* rows, int64_t off, float* c, int64_t ldc,
                                int64_t m, int64_t n, bool accumulate, const float* bias) {
  tile(k, a, [&](int64_t p) { return rows[p] + off; }, c, ldc, m, n, accumulate, bias);
}

}  // namespace convkit::kernels
