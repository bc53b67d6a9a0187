// AVX2+FMA direct-convolution row kernel: a register tile of OR output rows x MO output
// channels x NV vectors of 8 outputs, OR * MO * NV <= 8 so accumulators, an input and a weight
// fit 16 ymm registers (depthwise runs two rows at once). The tile sweeps every output row.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "kernels/dwconv/dwconv.h"

namespace convkit::kernels {

namespace {

// Outputs o0 .. o0 + 8 * NV of MO channels for output rows j0 .. j1, OR rows at a time
// ((j1 - j0) % OR == 0); lanes past wo are computed, not stored.
template <int OR, int MO, int NV>
void tile(const DwRowsArgs& a, int64_t m0, int64_t o0, int64_t j0, int64_t j1) {
  const int64_t ntaps = a.ntaps, step = a.row_step;
  const float* w = a.w + m0 * ntaps;
  for (int64_t j = j0; j < j1; j += OR) {
    __m256 acc[OR][MO][NV];
    for (int i = 0; i < OR; ++i)
      for (int m = 0; m < MO; ++m)
        for (int v = 0; v < NV; ++v) acc[i][m][v] = _mm256_setzero_ps();
    const int64_t off = j * step + o0;
    for (int64_t t = 0; t < ntaps; ++t) {
      const float* x = a.taps[t] + off;
      for (int i = 0; i < OR; ++i)
        for (int v = 0; v < NV; ++v) {
          const __m256 xv = _mm256_loadu_ps(x + i * step + 8 * v);
          for (int m = 0; m < MO; ++m) acc[i][m][v] = _mm256_fmadd_ps(_mm256_broadcast_ss(w + m * ntaps + t), xv, acc[i][m][v]);
        }
    }
    for (int m = 0; m < MO; ++m) {
      const __m256 b = _mm256_set1_ps(a.bias ? a.bias[m0 + m] : 0.0f);
      for (int i = 0; i < OR; ++i) {
        float* y = a.y + (m0 + m) * a.ys_c + (j + i) * a.ys_r + o0;
        for (int v = 0; v < NV; ++v) {
          const __m256 res = _mm256_add_ps(acc[i][m][v], b);
          const int64_t left = a.wo - o0 - 8 * v;
          if (left >= 8) {
            _mm256_storeu_ps(y + 8 * v, res);
          } else {
            alignas(32) float tmp[8];
            _mm256_store_ps(tmp, res);
            for (int64_t k = 0; k < left; ++k) y[8 * v + k] = tmp[k];
          }
        }
      }
    }
  }
}

// Every row of MO channels for one column tile: OR rows at a time, then the rest singly.
template <int OR, int MO, int NV>
void rows_of(const DwRowsArgs& a, int64_t m0, int64_t o0) {
  const int64_t grouped = a.orows / OR * OR;
  tile<OR, MO, NV>(a, m0, o0, 0, grouped);
  if (grouped < a.orows) tile<1, MO, NV>(a, m0, o0, grouped, a.orows);
}

// Column tiles of up to NV vectors: the last takes the vectors that are left.
template <int OR, int MO, int NV>
void rows_of_nv(const DwRowsArgs& a, int64_t m0, int64_t o0, int64_t nv) {
  if constexpr (NV > 1) {
    if (nv < NV) return rows_of_nv<OR, MO, NV - 1>(a, m0, o0, nv);
  }
  rows_of<OR, MO, NV>(a, m0, o0);
}

template <int OR, int MO, int NV>
void channels(const DwRowsArgs& a, int64_t m0) {
  static_assert(OR * MO * NV <= 8, "accumulators, an input and a weight must fit 16 ymm registers");
  for (int64_t o0 = 0; o0 < a.wo; o0 += 8 * NV) rows_of_nv<OR, MO, NV>(a, m0, o0, (a.wo - o0 + 7) / 8);
}

}  // namespace

// Two or more channels fill the registers with one row; depthwise takes two rows at once, or
// eight vectors of a lone row (1-d).
void dwconv_f32_rows_fma3(const DwRowsArgs& a) {
  int64_t m = 0;
  for (; m + 4 <= a.mo; m += 4) channels<1, 4, 2>(a, m);
  for (; m + 2 <= a.mo; m += 2) channels<1, 2, 4>(a, m);
  for (; m < a.mo; ++m) a.orows == 1 ? channels<1, 1, 8>(a, m) : channels<2, 1, 4>(a, m);
}

}  // namespace convkit::kernels
