// Portable gemm microkernel: a 4 x 8 tile in plain loops (the compiler may vectorize it).
#include <type_traits>

#include "kernels/gemm/gemm.h"
#include "kernels/gemm/gemm_rows.h"

namespace convkit::kernels {

namespace {

template <typename Rows, typename A = PackedA<4>>
[[gnu::always_inline]] inline void tile_4x8(int64_t k, std::type_identity_t<A> a, Rows rows, float* c, int64_t ldc, int64_t m, int64_t n, bool accumulate,
              const float* bias) {
  constexpr int MR = 4, NR = 8;
  float acc[MR][NR] = {};
  for (int64_t p = 0; p < k; ++p) {
    const float* b = rows.row(p);
    for (int i = 0; i < MR; ++i)
      for (int64_t j = 0; j < n; ++j) acc[i][j] += a.at(i) * b[j];
    a.next();
  }
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      const float init = accumulate ? c[i * ldc + j] : (bias ? bias[i] : 0.0f);
      c[i * ldc + j] = init + acc[i][j];
    }
}

}  // namespace

void gemm_f32_4x8_scalar(int64_t k, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t m,
                         int64_t n, bool accumulate, const float* bias) {
  tile_4x8(k, a, StridedRows{b, ldb}, c, ldc, m, n, accumulate, bias);
}
void gemm_f32_4x8_scalar_rows(int64_t k, const float* a, const float* const* rows, int64_t off, float* c, int64_t ldc,
                              int64_t m, int64_t n, bool accumulate, const float* bias) {
  tile_4x8(k, a, PointerRows{rows, off}, c, ldc, m, n, accumulate, bias);
}
void gemm_f32_4x8_scalar_arows(int64_t k, const float* const* arows, int64_t aoff, const float* b, int64_t ldb, float* c,
                               int64_t ldc, int64_t m, int64_t n, bool accumulate, const float* bias) {
  tile_4x8<StridedRows, RowsA<4>>(k, RowsA<4>(arows, aoff, m), StridedRows{b, ldb}, c, ldc, m, n, accumulate, bias);
}

namespace {
template <int MR>
void acols_x8(int64_t k, const float* const* acols, int64_t aoff, const float* b, int64_t ldb, float* c, int64_t ldc,
              int64_t m, int64_t n, bool accumulate, const float* bias) {
  constexpr int NR = 8;
  float acc[MR][NR] = {};
  for (int64_t p = 0; p < k; ++p) {
    const float* a = acols[p] + aoff;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) acc[i][j] += a[i] * b[p * ldb + j];
  }
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      const float init = accumulate ? c[i * ldc + j] : (bias ? bias[j] : 0.0f);
      c[i * ldc + j] = init + acc[i][j];
    }
}
}  // namespace

// The A-columns tiles, 7 to 14 rows of 8 columns (gemm.h).
#define CONVKIT_SCALAR_ACOLS(MR) CONVKIT_ACOLS_ENTRY(gemm_f32_, x8_scalar_acols, acols_x8, MR)
CONVKIT_ACOLS_HEIGHTS(CONVKIT_SCALAR_ACOLS)
#undef CONVKIT_SCALAR_ACOLS

}  // namespace convkit::kernels
