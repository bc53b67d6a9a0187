// AVX-512 direct-convolution row kernel: a register tile of OR output rows x MO output channels
// x NV vectors of 16 outputs; per tap OR * NV loads feed OR * MO * NV FMAs — depthwise
// (MO = 1) runs two output rows for eight independent chains, a 4-channel group shares each
// load four ways. Store masks are set once per column tile, then the tile sweeps every row.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "kernels/dwconv/dwconv.h"

namespace convkit::kernels {

namespace {

// Lanes i (of 16) with i < n.
inline __mmask16 first_lanes(int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xffff) : n <= 0 ? 0 : static_cast<__mmask16>((1u << n) - 1);
}

// Outputs o0 .. o0 + 16 * NV of MO channels for output rows j0 .. j1, OR rows at a time
// ((j1 - j0) % OR == 0); lanes past wo are computed, not stored.
template <int OR, int MO, int NV>
void tile(const DwRowsArgs& a, int64_t m0, int64_t o0, int64_t j0, int64_t j1) {
  __mmask16 live[NV];
  for (int v = 0; v < NV; ++v) live[v] = first_lanes(a.wo - o0 - 16 * v);
  const int64_t ntaps = a.ntaps, step = a.row_step;
  const float* w = a.w + m0 * ntaps;
  __m512 bias[MO];
  for (int m = 0; m < MO; ++m) bias[m] = _mm512_set1_ps(a.bias ? a.bias[m0 + m] : 0.0f);
  for (int64_t j = j0; j < j1; j += OR) {
    __m512 acc[OR][MO][NV];
    for (int i = 0; i < OR; ++i)
      for (int m = 0; m < MO; ++m)
        for (int v = 0; v < NV; ++v) acc[i][m][v] = _mm512_setzero_ps();
    const int64_t off = j * step + o0;
    for (int64_t t = 0; t < ntaps; ++t) {
      const float* x = a.taps[t] + off;
      __m512 wm[MO];
      for (int m = 0; m < MO; ++m) wm[m] = _mm512_set1_ps(w[m * ntaps + t]);
      for (int i = 0; i < OR; ++i)
        for (int v = 0; v < NV; ++v) {
          const __m512 xv = _mm512_loadu_ps(x + i * step + 16 * v);
          for (int m = 0; m < MO; ++m) acc[i][m][v] = _mm512_fmadd_ps(wm[m], xv, acc[i][m][v]);
        }
    }
    for (int m = 0; m < MO; ++m)
      for (int i = 0; i < OR; ++i) {
        float* y = a.y + (m0 + m) * a.ys_c + (j + i) * a.ys_r + o0;
        for (int v = 0; v < NV; ++v) _mm512_mask_storeu_ps(y + 16 * v, live[v], _mm512_add_ps(acc[i][m][v], bias[m]));
      }
  }
}

// Every row of MO channels for one column tile: OR rows at a time, then the odd one.
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
  for (int64_t o0 = 0; o0 < a.wo; o0 += 16 * NV) rows_of_nv<OR, MO, NV>(a, m0, o0, (a.wo - o0 + 15) / 16);
}

}  // namespace

// Four channels fill the registers with one row; fewer take two rows at once; a lone row of
// one channel (1-d) takes eight vectors for eight independent chains.
void dwconv_f32_rows_avx512(const DwRowsArgs& a) {
  int64_t m = 0;
  for (; m + 4 <= a.mo; m += 4) channels<1, 4, 4>(a, m);
  for (; m + 2 <= a.mo; m += 2) channels<2, 2, 4>(a, m);
  for (; m < a.mo; ++m) a.orows == 1 ? channels<1, 1, 8>(a, m) : channels<2, 1, 4>(a, m);
}

}  // namespace convkit::kernels
