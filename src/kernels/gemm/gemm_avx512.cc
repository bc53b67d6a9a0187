// AVX-512 gemm microkernels: 12 x 32, 8 x 48, 24 x 16 and 6 x 64 tiles in 24 zmm accumulators (named,
// so they stay in registers).
#include <immintrin.h>

#include <type_traits>

#include "kernels/gemm/gemm.h"
#include "kernels/gemm/gemm_rows.h"

namespace convkit::kernels {

namespace {

// A B row's vector: a full tile (n == NR) loads plainly, an edge tile masks off the columns
// past n.
template <bool kFull>
[[gnu::always_inline]] inline __m512 load(__mmask16 mask, const float* p) {
  if constexpr (kFull) {
    return _mm512_loadu_ps(p);
  } else {
    return _mm512_maskz_loadu_ps(mask, p);
  }
}

// 12 x 32: per k step two B loads and twelve A broadcasts.

template <bool kFull, typename Rows>
[[gnu::always_inline]] inline void tile_12x32(int64_t k, const float* a, Rows rows, float* c, int64_t ldc, int64_t m, int64_t n, bool accumulate,
                const float* bias) {
  const __m512 z = _mm512_setzero_ps();
  __m512 c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z, c40 = z, c41 = z, c50 = z, c51 = z, c60 = z, c61 = z, c70 = z, c71 = z, c80 = z, c81 = z, c90 = z, c91 = z, c100 = z, c101 = z, c110 = z, c111 = z;
  // Columns past n are never read (masked loads and stores).
  const __mmask16 k0 = static_cast<__mmask16>(n >= 16 ? 0xffff : (1u << n) - 1);
  const __mmask16 k1 = static_cast<__mmask16>(n >= 32 ? 0xffff : n <= 16 ? 0 : (1u << (n - 16)) - 1);
#pragma GCC unroll 2
  for (int64_t p = 0; p < k; ++p) {
    const float* b = rows.row(p);
    const __m512 b0 = load<kFull>(k0, b), b1 = load<kFull>(k1, b + 16);
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

// 8 x 48: per k step three B loads and eight A broadcasts. It pads no rows when M is a multiple
// of 8 (64, 128, 256 ... output channels), where 12-row panels pad M = 64 to 72; the plan picks
// whichever kernel pads M x N least.
template <bool kFull, typename Rows>
[[gnu::always_inline]] inline void tile_8x48(int64_t k, const float* a, Rows rows, float* c, int64_t ldc, int64_t m, int64_t n, bool accumulate,
               const float* bias) {
  const __m512 z = _mm512_setzero_ps();
  __m512 c00 = z, c01 = z, c02 = z, c10 = z, c11 = z, c12 = z, c20 = z, c21 = z, c22 = z, c30 = z, c31 = z, c32 = z, c40 = z, c41 = z, c42 = z, c50 = z, c51 = z, c52 = z, c60 = z, c61 = z, c62 = z, c70 = z, c71 = z, c72 = z;
  // Columns past n are never read (masked loads and stores): vector v holds columns
  // 16 v .. 16 v + 15.
  __mmask16 km[3];
  for (int v = 0; v < 3; ++v) {
    const int64_t l = n - 16 * v;
    km[v] = static_cast<__mmask16>(l >= 16 ? 0xffff : l <= 0 ? 0 : (1u << l) - 1);
  }
#pragma GCC unroll 2
  for (int64_t p = 0; p < k; ++p) {
    const float* b = rows.row(p);
    const __m512 b0 = load<kFull>(km[0], b), b1 = load<kFull>(km[1], b + 16), b2 = load<kFull>(km[2], b + 32);
    __m512 ai;
    ai = _mm512_set1_ps(a[0]);
    c00 = _mm512_fmadd_ps(ai, b0, c00);
    c01 = _mm512_fmadd_ps(ai, b1, c01);
    c02 = _mm512_fmadd_ps(ai, b2, c02);
    ai = _mm512_set1_ps(a[1]);
    c10 = _mm512_fmadd_ps(ai, b0, c10);
    c11 = _mm512_fmadd_ps(ai, b1, c11);
    c12 = _mm512_fmadd_ps(ai, b2, c12);
    ai = _mm512_set1_ps(a[2]);
    c20 = _mm512_fmadd_ps(ai, b0, c20);
    c21 = _mm512_fmadd_ps(ai, b1, c21);
    c22 = _mm512_fmadd_ps(ai, b2, c22);
    ai = _mm512_set1_ps(a[3]);
    c30 = _mm512_fmadd_ps(ai, b0, c30);
    c31 = _mm512_fmadd_ps(ai, b1, c31);
    c32 = _mm512_fmadd_ps(ai, b2, c32);
    ai = _mm512_set1_ps(a[4]);
    c40 = _mm512_fmadd_ps(ai, b0, c40);
    c41 = _mm512_fmadd_ps(ai, b1, c41);
    c42 = _mm512_fmadd_ps(ai, b2, c42);
    ai = _mm512_set1_ps(a[5]);
    c50 = _mm512_fmadd_ps(ai, b0, c50);
    c51 = _mm512_fmadd_ps(ai, b1, c51);
    c52 = _mm512_fmadd_ps(ai, b2, c52);
    ai = _mm512_set1_ps(a[6]);
    c60 = _mm512_fmadd_ps(ai, b0, c60);
    c61 = _mm512_fmadd_ps(ai, b1, c61);
    c62 = _mm512_fmadd_ps(ai, b2, c62);
    ai = _mm512_set1_ps(a[7]);
    c70 = _mm512_fmadd_ps(ai, b0, c70);
    c71 = _mm512_fmadd_ps(ai, b1, c71);
    c72 = _mm512_fmadd_ps(ai, b2, c72);
    a += 8;
  }
  const __m512 acc[8][3] = {{c00, c01, c02}, {c10, c11, c12}, {c20, c21, c22}, {c30, c31, c32}, {c40, c41, c42}, {c50, c51, c52}, {c60, c61, c62}, {c70, c71, c72}};
  // Rows past m are skipped, columns past n masked off: no spill on edge tiles.
  for (int64_t i = 0; i < m; ++i) {
    float* ci = c + i * ldc;
    for (int v = 0; v < 3; ++v) {
      const __m512 init = accumulate ? _mm512_maskz_loadu_ps(km[v], ci + 16 * v)
                                     : bias ? _mm512_set1_ps(bias[i]) : _mm512_setzero_ps();
      _mm512_mask_storeu_ps(ci + 16 * v, km[v], _mm512_add_ps(init, acc[i][v]));
    }
  }
}

// 24 x 16: per k step one B load and twenty-four A broadcasts (the load ports have room). For
// GEMMs with few columns: Winograd on a 14 x 14 image has 16 tiles, which 32-column tiles
// would half waste.
template <bool kFull, typename Rows>
[[gnu::always_inline]] inline void tile_24x16(int64_t k, const float* a, Rows rows, float* c, int64_t ldc, int64_t m,
                                              int64_t n, bool accumulate, const float* bias) {
  const __m512 z = _mm512_setzero_ps();
  __m512 c0 = z, c1 = z, c2 = z, c3 = z, c4 = z, c5 = z, c6 = z, c7 = z, c8 = z, c9 = z, c10 = z, c11 = z, c12 = z, c13 = z, c14 = z, c15 = z, c16 = z, c17 = z, c18 = z, c19 = z, c20 = z, c21 = z, c22 = z, c23 = z;
  // Columns past n are never read (masked loads and stores).
  const __mmask16 k0 = static_cast<__mmask16>(n >= 16 ? 0xffff : (1u << n) - 1);
#pragma GCC unroll 2
  for (int64_t p = 0; p < k; ++p) {
    const __m512 b0 = load<kFull>(k0, rows.row(p));
    c0 = _mm512_fmadd_ps(_mm512_set1_ps(a[0]), b0, c0);
    c1 = _mm512_fmadd_ps(_mm512_set1_ps(a[1]), b0, c1);
    c2 = _mm512_fmadd_ps(_mm512_set1_ps(a[2]), b0, c2);
    c3 = _mm512_fmadd_ps(_mm512_set1_ps(a[3]), b0, c3);
    c4 = _mm512_fmadd_ps(_mm512_set1_ps(a[4]), b0, c4);
    c5 = _mm512_fmadd_ps(_mm512_set1_ps(a[5]), b0, c5);
    c6 = _mm512_fmadd_ps(_mm512_set1_ps(a[6]), b0, c6);
    c7 = _mm512_fmadd_ps(_mm512_set1_ps(a[7]), b0, c7);
    c8 = _mm512_fmadd_ps(_mm512_set1_ps(a[8]), b0, c8);
    c9 = _mm512_fmadd_ps(_mm512_set1_ps(a[9]), b0, c9);
    c10 = _mm512_fmadd_ps(_mm512_set1_ps(a[10]), b0, c10);
    c11 = _mm512_fmadd_ps(_mm512_set1_ps(a[11]), b0, c11);
    c12 = _mm512_fmadd_ps(_mm512_set1_ps(a[12]), b0, c12);
    c13 = _mm512_fmadd_ps(_mm512_set1_ps(a[13]), b0, c13);
    c14 = _mm512_fmadd_ps(_mm512_set1_ps(a[14]), b0, c14);
    c15 = _mm512_fmadd_ps(_mm512_set1_ps(a[15]), b0, c15);
    c16 = _mm512_fmadd_ps(_mm512_set1_ps(a[16]), b0, c16);
    c17 = _mm512_fmadd_ps(_mm512_set1_ps(a[17]), b0, c17);
    c18 = _mm512_fmadd_ps(_mm512_set1_ps(a[18]), b0, c18);
    c19 = _mm512_fmadd_ps(_mm512_set1_ps(a[19]), b0, c19);
    c20 = _mm512_fmadd_ps(_mm512_set1_ps(a[20]), b0, c20);
    c21 = _mm512_fmadd_ps(_mm512_set1_ps(a[21]), b0, c21);
    c22 = _mm512_fmadd_ps(_mm512_set1_ps(a[22]), b0, c22);
    c23 = _mm512_fmadd_ps(_mm512_set1_ps(a[23]), b0, c23);
    a += 24;
  }
  const __m512 acc[24] = {c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16, c17, c18, c19, c20, c21, c22, c23};
  // Rows past m are skipped, columns past n masked off.
  for (int64_t i = 0; i < m; ++i) {
    float* ci = c + i * ldc;
    const __m512 init = accumulate ? _mm512_maskz_loadu_ps(k0, ci) : bias ? _mm512_set1_ps(bias[i]) : _mm512_setzero_ps();
    _mm512_mask_storeu_ps(ci, k0, _mm512_add_ps(init, acc[i]));
  }
}

// 6 x 64: per k step four B loads and six A broadcasts. For products whose columns are
// whole channel rows of 64, 128, 256 ... (the channels-last weight gradient), where 32- and
// 48-wide tiles need more broadcasts per FMA or pad the columns.
template <bool kFull, typename Rows, typename A = PackedA<6>>
[[gnu::always_inline]] inline void tile_6x64(int64_t k, std::type_identity_t<A> a, Rows rows, float* c, int64_t ldc, int64_t m,
                                             int64_t n, bool accumulate, const float* bias) {
  const __m512 z = _mm512_setzero_ps();
  __m512 c00 = z, c01 = z, c02 = z, c03 = z, c10 = z, c11 = z, c12 = z, c13 = z, c20 = z, c21 = z, c22 = z, c23 = z, c30 = z, c31 = z, c32 = z, c33 = z, c40 = z, c41 = z, c42 = z, c43 = z, c50 = z, c51 = z, c52 = z, c53 = z;
  // Columns past n are never read (masked loads and stores): vector v holds columns
  // 16 v .. 16 v + 15.
  __mmask16 km[4];
  for (int v = 0; v < 4; ++v) {
    const int64_t l = n - 16 * v;
    km[v] = static_cast<__mmask16>(l >= 16 ? 0xffff : l <= 0 ? 0 : (1u << l) - 1);
  }
#pragma GCC unroll 2
  for (int64_t p = 0; p < k; ++p) {
    const float* b = rows.row(p);
    const __m512 b0 = load<kFull>(km[0], b), b1 = load<kFull>(km[1], b + 16), b2 = load<kFull>(km[2], b + 32),
                 b3 = load<kFull>(km[3], b + 48);
    __m512 ai;
    ai = _mm512_set1_ps(a.at(0));
    c00 = _mm512_fmadd_ps(ai, b0, c00);
    c01 = _mm512_fmadd_ps(ai, b1, c01);
    c02 = _mm512_fmadd_ps(ai, b2, c02);
    c03 = _mm512_fmadd_ps(ai, b3, c03);
    ai = _mm512_set1_ps(a.at(1));
    c10 = _mm512_fmadd_ps(ai, b0, c10);
    c11 = _mm512_fmadd_ps(ai, b1, c11);
    c12 = _mm512_fmadd_ps(ai, b2, c12);
    c13 = _mm512_fmadd_ps(ai, b3, c13);
    ai = _mm512_set1_ps(a.at(2));
    c20 = _mm512_fmadd_ps(ai, b0, c20);
    c21 = _mm512_fmadd_ps(ai, b1, c21);
    c22 = _mm512_fmadd_ps(ai, b2, c22);
    c23 = _mm512_fmadd_ps(ai, b3, c23);
    ai = _mm512_set1_ps(a.at(3));
    c30 = _mm512_fmadd_ps(ai, b0, c30);
    c31 = _mm512_fmadd_ps(ai, b1, c31);
    c32 = _mm512_fmadd_ps(ai, b2, c32);
    c33 = _mm512_fmadd_ps(ai, b3, c33);
    ai = _mm512_set1_ps(a.at(4));
    c40 = _mm512_fmadd_ps(ai, b0, c40);
    c41 = _mm512_fmadd_ps(ai, b1, c41);
    c42 = _mm512_fmadd_ps(ai, b2, c42);
    c43 = _mm512_fmadd_ps(ai, b3, c43);
    ai = _mm512_set1_ps(a.at(5));
    c50 = _mm512_fmadd_ps(ai, b0, c50);
    c51 = _mm512_fmadd_ps(ai, b1, c51);
    c52 = _mm512_fmadd_ps(ai, b2, c52);
    c53 = _mm512_fmadd_ps(ai, b3, c53);
    a.next();
  }
  const __m512 acc[6][4] = {{c00, c01, c02, c03}, {c10, c11, c12, c13}, {c20, c21, c22, c23}, {c30, c31, c32, c33}, {c40, c41, c42, c43}, {c50, c51, c52, c53}};
  // Rows past m are skipped, columns past n masked off: no spill on edge tiles.
  for (int64_t i = 0; i < m; ++i) {
    float* ci = c + i * ldc;
    for (int v = 0; v < 4; ++v) {
      const __m512 init = accumulate ? _mm512_maskz_loadu_ps(km[v], ci + 16 * v)
                                     : bias ? _mm512_set1_ps(bias[i]) : _mm512_setzero_ps();
      _mm512_mask_storeu_ps(ci + 16 * v, km[v], _mm512_add_ps(init, acc[i][v]));
    }
  }
}

// MR x 16 NV with A read through column pointers (ColsA): per k step NV B loads and MR
// broadcasts from one input row. 7 to 14 rows of 32 columns (at most 28 accumulators): a
// 14-wide output row is one 14-row tile, a 33-wide one three 11-row tiles.
template <int MR, int NV, bool kFull, bool kFullM>
[[gnu::always_inline]] inline void tile_acols(int64_t k, ColsA<MR, kFullM> a, const float* b, int64_t ldb, float* c,
                                              int64_t ldc, int64_t m, int64_t n, bool accumulate, const float* bias) {
  __m512 acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
  __mmask16 km[NV];
  for (int v = 0; v < NV; ++v) {
    const int64_t l = n - 16 * v;
    km[v] = static_cast<__mmask16>(l >= 16 ? 0xffff : l <= 0 ? 0 : (1u << l) - 1);
  }
  for (int64_t p = 0; p < k; ++p) {
    const float* bp = b + p * ldb;
    __m512 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = load<kFull>(km[v], bp + 16 * v);
    const float* ap = a.row();
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m512 ai = _mm512_set1_ps(a.at(ap, i));
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
    }
    a.next();
  }
  // Rows past m are skipped, columns past n masked off. (The accumulators go through memory
  // once here: indexed by the runtime row, they would live there through the k loop too.)
  alignas(64) float tmp[MR][NV][16];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) _mm512_store_ps(tmp[i][v], acc[i][v]);
  for (int64_t i = 0; i < m; ++i) {
    float* ci = c + i * ldc;
    for (int v = 0; v < NV; ++v) {
      const __m512 init = accumulate ? _mm512_maskz_loadu_ps(km[v], ci + 16 * v)
                                     : bias ? _mm512_maskz_loadu_ps(km[v], bias + 16 * v) : _mm512_setzero_ps();
      _mm512_mask_storeu_ps(ci + 16 * v, km[v], _mm512_add_ps(init, _mm512_load_ps(tmp[i][v])));
    }
  }
}

// Calls f with std::true_type for a full-width tile (plain B loads), else std::false_type.
template <typename F>
[[gnu::always_inline]] inline void full_or_edge(bool full, F&& f) {
  if (full) {
    f(std::true_type{});
  } else {
    f(std::false_type{});
  }
}

}  // namespace

// Each tile's two entry points (gemm.h): B rows ldb apart, or through row pointers.
#define CONVKIT_AVX512_TILE(name, tile, NR)                                                                          \
  void name(int64_t k, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t m, int64_t n,      \
            bool accumulate, const float* bias) {                                                                    \
    full_or_edge(n == NR, [&](auto full) __attribute__((always_inline)) {                                           \
      tile<decltype(full)::value>(k, a, StridedRows{b, ldb}, c, ldc, m, n, accumulate, bias);                        \
    });                                                                                                              \
  }                                                                                                                  \
  void name##_rows(int64_t k, const float* a, const float* const* rows, int64_t off, float* c, int64_t ldc, int64_t m, \
                   int64_t n, bool accumulate, const float* bias) {                                                  \
    full_or_edge(n == NR, [&](auto full) __attribute__((always_inline)) {                                           \
      tile<decltype(full)::value>(k, a, PointerRows{rows, off}, c, ldc, m, n, accumulate, bias);                     \
    });                                                                                                              \
  }

CONVKIT_AVX512_TILE(gemm_f32_12x32_avx512, tile_12x32, 32)
CONVKIT_AVX512_TILE(gemm_f32_8x48_avx512, tile_8x48, 48)
CONVKIT_AVX512_TILE(gemm_f32_24x16_avx512, tile_24x16, 16)
CONVKIT_AVX512_TILE(gemm_f32_6x64_avx512, tile_6x64, 64)
#undef CONVKIT_AVX512_TILE

void gemm_f32_6x64_avx512_arows(int64_t k, const float* const* arows, int64_t aoff, const float* b, int64_t ldb,
                                float* c, int64_t ldc, int64_t m, int64_t n, bool accumulate, const float* bias) {
  full_or_edge(n == 64, [&](auto full) __attribute__((always_inline)) {
    tile_6x64<decltype(full)::value, StridedRows, RowsA<6>>(k, RowsA<6>(arows, aoff, m), StridedRows{b, ldb}, c, ldc, m,
                                                            n, accumulate, bias);
  });
}

namespace {
template <int MR>
void acols_x32(int64_t k, const float* const* acols, int64_t aoff, const float* b, int64_t ldb, float* c, int64_t ldc,
               int64_t m, int64_t n, bool accumulate, const float* bias) {
  full_or_edge(n == 32, [&](auto full) __attribute__((always_inline)) {
    full_or_edge(m == MR, [&](auto full_m) __attribute__((always_inline)) {
      constexpr bool kFullM = decltype(full_m)::value;
      tile_acols<MR, 2, decltype(full)::value, kFullM>(k, ColsA<MR, kFullM>(acols, aoff, m), b, ldb, c, ldc, m, n,
                                                       accumulate, bias);
    });
  });
}
}  // namespace

// The A-columns tiles, 7 to 14 rows of 32 columns (gemm.h).
#define CONVKIT_AVX512_ACOLS(MR) CONVKIT_ACOLS_ENTRY(gemm_f32_, x32_avx512_acols, acols_x32, MR)
CONVKIT_ACOLS_HEIGHTS(CONVKIT_AVX512_ACOLS)
#undef CONVKIT_AVX512_ACOLS

}  // namespace convkit::kernels
