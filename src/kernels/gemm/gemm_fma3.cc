// AVX2+FMA gemm microkernel: a 6 x 16 tile in 12 ymm accumulators; per k step two aligned
// B loads and six A broadcasts (15 of the 16 registers).
#include <immintrin.h>

#include <type_traits>

#include "kernels/gemm/gemm.h"
#include "kernels/gemm/gemm_rows.h"

namespace convkit::kernels {

namespace {

template <typename Rows, typename A = PackedA<6>>
[[gnu::always_inline]] inline void tile_6x16(int64_t k, std::type_identity_t<A> a, Rows rows, float* c, int64_t ldc, int64_t m, int64_t n, bool accumulate,
               const float* bias) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  // Columns past n are never read: masked loads on an edge tile.
  auto lane_mask = [](int64_t lanes) {
    alignas(32) int32_t v[8];
    for (int j = 0; j < 8; ++j) v[j] = j < lanes ? -1 : 0;
    return _mm256_load_si256(reinterpret_cast<const __m256i*>(v));
  };
  const bool full = n == 16;
  const __m256i mask0 = lane_mask(n), mask1 = lane_mask(n - 8);
  for (int64_t p = 0; p < k; ++p) {
    const float* b = rows.row(p);
    const __m256 b0 = full ? _mm256_loadu_ps(b) : _mm256_maskload_ps(b, mask0);
    const __m256 b1 = full ? _mm256_loadu_ps(b + 8) : _mm256_maskload_ps(b + 8, mask1);
    __m256 ai = _mm256_set1_ps(a.at(0));
    c00 = _mm256_fmadd_ps(ai, b0, c00);
    c01 = _mm256_fmadd_ps(ai, b1, c01);
    ai = _mm256_set1_ps(a.at(1));
    c10 = _mm256_fmadd_ps(ai, b0, c10);
    c11 = _mm256_fmadd_ps(ai, b1, c11);
    ai = _mm256_set1_ps(a.at(2));
    c20 = _mm256_fmadd_ps(ai, b0, c20);
    c21 = _mm256_fmadd_ps(ai, b1, c21);
    ai = _mm256_set1_ps(a.at(3));
    c30 = _mm256_fmadd_ps(ai, b0, c30);
    c31 = _mm256_fmadd_ps(ai, b1, c31);
    ai = _mm256_set1_ps(a.at(4));
    c40 = _mm256_fmadd_ps(ai, b0, c40);
    c41 = _mm256_fmadd_ps(ai, b1, c41);
    ai = _mm256_set1_ps(a.at(5));
    c50 = _mm256_fmadd_ps(ai, b0, c50);
    c51 = _mm256_fmadd_ps(ai, b1, c51);
    a.next();
  }
  const __m256 acc[6][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  if (m == 6 && n == 16) {
    for (int i = 0; i < 6; ++i) {
      float* ci = c + i * ldc;
      __m256 i0, i1;
      if (accumulate) {
        i0 = _mm256_loadu_ps(ci);
        i1 = _mm256_loadu_ps(ci + 8);
      } else {
        i0 = i1 = bias ? _mm256_set1_ps(bias[i]) : _mm256_setzero_ps();
      }
      _mm256_storeu_ps(ci, _mm256_add_ps(i0, acc[i][0]));
      _mm256_storeu_ps(ci + 8, _mm256_add_ps(i1, acc[i][1]));
    }
    return;
  }
  // Edge tile: spill the accumulators and write only the m x n corner.
  alignas(32) float tmp[6][16];
  for (int i = 0; i < 6; ++i) {
    _mm256_store_ps(tmp[i], acc[i][0]);
    _mm256_store_ps(tmp[i] + 8, acc[i][1]);
  }
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      const float init = accumulate ? c[i * ldc + j] : (bias ? bias[i] : 0.0f);
      c[i * ldc + j] = init + tmp[i][j];
    }
}

// MR x 8 (7 to 14 rows) with A read through column pointers (ColsA): MR ymm accumulators, one
// B load and MR broadcasts per k step (14 rows: all 16 registers; an edge tile's mask stays in
// memory).
template <int MR, bool kFullN, bool kFullM>
[[gnu::always_inline]] inline void tile_acols_x8(int64_t k, ColsA<MR, kFullM> a, const float* b, int64_t ldb, float* c,
                                                 int64_t ldc, int64_t m, int64_t n, bool accumulate, const float* bias) {
  __m256 acc[MR];
#pragma GCC unroll 14
  for (int i = 0; i < MR; ++i) acc[i] = _mm256_setzero_ps();
  alignas(32) int32_t lanes[8];
  for (int j = 0; j < 8; ++j) lanes[j] = j < n ? -1 : 0;
  for (int64_t p = 0; p < k; ++p) {
    const __m256 bv = kFullN ? _mm256_loadu_ps(b + p * ldb)
                             : _mm256_maskload_ps(b + p * ldb, _mm256_load_si256(reinterpret_cast<const __m256i*>(lanes)));
    const float* ap = a.row();
#pragma GCC unroll 14
    for (int i = 0; i < MR; ++i) acc[i] = _mm256_fmadd_ps(_mm256_set1_ps(a.at(ap, i)), bv, acc[i]);
    a.next();
  }
  // Rows past m are skipped, columns past n masked off. (The accumulators go through memory
  // once here: indexed by the runtime row, they would live there through the k loop too.)
  alignas(32) float tmp[MR][8];
#pragma GCC unroll 14
  for (int i = 0; i < MR; ++i) _mm256_store_ps(tmp[i], acc[i]);
  const __m256i mask = _mm256_load_si256(reinterpret_cast<const __m256i*>(lanes));
  for (int64_t i = 0; i < m; ++i) {
    float* ci = c + i * ldc;
    const __m256 init = accumulate ? _mm256_maskload_ps(ci, mask) : bias ? _mm256_maskload_ps(bias, mask) : _mm256_setzero_ps();
    _mm256_maskstore_ps(ci, mask, _mm256_add_ps(init, _mm256_load_ps(tmp[i])));
  }
}

}  // namespace

namespace {
template <int MR>
void acols_x8(int64_t k, const float* const* acols, int64_t aoff, const float* b, int64_t ldb, float* c, int64_t ldc,
              int64_t m, int64_t n, bool accumulate, const float* bias) {
  if (m == MR && n == 8) {
    tile_acols_x8<MR, true, true>(k, ColsA<MR, true>(acols, aoff, m), b, ldb, c, ldc, m, n, accumulate, bias);
  } else if (m == MR) {
    tile_acols_x8<MR, false, true>(k, ColsA<MR, true>(acols, aoff, m), b, ldb, c, ldc, m, n, accumulate, bias);
  } else {
    tile_acols_x8<MR, false, false>(k, ColsA<MR, false>(acols, aoff, m), b, ldb, c, ldc, m, n, accumulate, bias);
  }
}
}  // namespace

// The A-columns tiles, 7 to 14 rows of 8 columns (gemm.h).
#define CONVKIT_FMA3_ACOLS(MR) CONVKIT_ACOLS_ENTRY(gemm_f32_, x8_fma3_acols, acols_x8, MR)
CONVKIT_ACOLS_HEIGHTS(CONVKIT_FMA3_ACOLS)
#undef CONVKIT_FMA3_ACOLS

void gemm_f32_6x16_fma3(int64_t k, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t m,
                        int64_t n, bool accumulate, const float* bias) {
  tile_6x16(k, a, StridedRows{b, ldb}, c, ldc, m, n, accumulate, bias);
}
void gemm_f32_6x16_fma3_rows(int64_t k, const float* a, const float* const* rows, int64_t off, float* c, int64_t ldc,
                             int64_t m, int64_t n, bool accumulate, const float* bias) {
  tile_6x16(k, a, PointerRows{rows, off}, c, ldc, m, n, accumulate, bias);
}
void gemm_f32_6x16_fma3_arows(int64_t k, const float* const* arows, int64_t aoff, const float* b, int64_t ldb, float* c,
                              int64_t ldc, int64_t m, int64_t n, bool accumulate, const float* bias) {
  tile_6x16<StridedRows, RowsA<6>>(k, RowsA<6>(arows, aoff, m), StridedRows{b, ldb}, c, ldc, m, n, accumulate, bias);
}

}  // namespace convkit::kernels
