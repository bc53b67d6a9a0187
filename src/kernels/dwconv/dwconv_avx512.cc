// AVX-512 direct-convolution row kernels (float32 and float64): a register tile of OR output
// rows x MO output channels x NV vectors of L outputs (16 floats, 8 doubles); per tap OR * NV
// loads feed OR * MO * NV FMAs — depthwise (MO = 1) runs two output rows for eight independent
// chains, a 4-channel group shares each load four ways. Store masks are set once per column
// tile, then the tile sweeps every row.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "kernels/dwconv/dwconv.h"
#include "kernels/dwconv/nhwc_row.h"
#include "kernels/dwconv/row_taps_avx512.h"

namespace convkit::kernels {

namespace {

// The vector operations of one element type: L lanes; first(n) masks the first n.
struct F32 {
  using T = float;
  using V = __m512;
  static constexpr int L = 16;
  static V zero() { return _mm512_setzero_ps(); }
  static V set1(T v) { return _mm512_set1_ps(v); }
  static V load(const T* p) { return _mm512_loadu_ps(p); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  using M = __mmask16;
  static M first(int64_t n) { return n >= 16 ? static_cast<M>(0xffff) : n <= 0 ? 0 : static_cast<M>((1u << n) - 1); }
  static void store(T* p, M live, V v) { _mm512_mask_storeu_ps(p, live, v); }
  // (The channels-last row's: whole vectors, and the first n lanes.)
  static void store(T* p, V v) { _mm512_storeu_ps(p, v); }
  static V load_n(const T* p, int64_t n) { return _mm512_maskz_loadu_ps(first(n), p); }
  static void store_n(T* p, V v, int64_t n) { _mm512_mask_storeu_ps(p, first(n), v); }
};
struct F64 {
  using T = double;
  using V = __m512d;
  static constexpr int L = 8;
  static V zero() { return _mm512_setzero_pd(); }
  static V set1(T v) { return _mm512_set1_pd(v); }
  static V load(const T* p) { return _mm512_loadu_pd(p); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
  static V add(V a, V b) { return _mm512_add_pd(a, b); }
  using M = __mmask8;
  static M first(int64_t n) { return n >= 8 ? static_cast<M>(0xff) : n <= 0 ? 0 : static_cast<M>((1u << n) - 1); }
  static void store(T* p, M live, V v) { _mm512_mask_storeu_pd(p, live, v); }
};

// Outputs o0 .. o0 + L * NV of MO channels for output rows j0 .. j1, OR rows at a time
// ((j1 - j0) % OR == 0); lanes past wo are computed, not stored.
template <class K, int OR, int MO, int NV>
void tile(const DwRows<typename K::T>& a, int64_t m0, int64_t o0, int64_t j0, int64_t j1) {
  using T = typename K::T;
  using V = typename K::V;
  const int64_t ntaps = a.ntaps, step = a.row_step;
  typename K::M live[NV];
  for (int v = 0; v < NV; ++v) live[v] = K::first(a.wo - o0 - K::L * v);
  const T* w = a.w + m0 * ntaps;
  V bias[MO];
  for (int m = 0; m < MO; ++m) bias[m] = K::set1(a.bias ? a.bias[m0 + m] : T{0});
  for (int64_t j = j0; j < j1; j += OR) {
    V acc[OR][MO][NV];
    for (int i = 0; i < OR; ++i)
      for (int m = 0; m < MO; ++m)
        for (int v = 0; v < NV; ++v) acc[i][m][v] = K::zero();
    const int64_t off = j * step + o0;
    for (int64_t t = 0; t < ntaps; ++t) {
      const T* x = a.taps[t] + off;
      V wm[MO];
      for (int m = 0; m < MO; ++m) wm[m] = K::set1(w[m * ntaps + t]);
      for (int i = 0; i < OR; ++i)
        for (int v = 0; v < NV; ++v) {
          const V xv = K::load(x + i * step + K::L * v);
          for (int m = 0; m < MO; ++m) acc[i][m][v] = K::fmadd(wm[m], xv, acc[i][m][v]);
        }
    }
    for (int m = 0; m < MO; ++m)
      for (int i = 0; i < OR; ++i) {
        T* y = a.y + (m0 + m) * a.ys_c + (j + i) * a.ys_r + o0;
        for (int v = 0; v < NV; ++v) K::store(y + K::L * v, live[v], K::add(acc[i][m][v], bias[m]));
      }
  }
}

// Every row of MO channels for one column tile: OR rows at a time, then the odd one.
template <class K, int OR, int MO, int NV>
void rows_of(const DwRows<typename K::T>& a, int64_t m0, int64_t o0) {
  const int64_t grouped = a.orows / OR * OR;
  tile<K, OR, MO, NV>(a, m0, o0, 0, grouped);
  if (grouped < a.orows) tile<K, 1, MO, NV>(a, m0, o0, grouped, a.orows);
}

// Column tiles of up to NV vectors: the last takes the vectors that are left.
template <class K, int OR, int MO, int NV>
void rows_of_nv(const DwRows<typename K::T>& a, int64_t m0, int64_t o0, int64_t nv) {
  if constexpr (NV > 1) {
    if (nv < NV) return rows_of_nv<K, OR, MO, NV - 1>(a, m0, o0, nv);
  }
  rows_of<K, OR, MO, NV>(a, m0, o0);
}

template <class K, int OR, int MO, int NV>
void channels(const DwRows<typename K::T>& a, int64_t m0) {
  for (int64_t o0 = 0; o0 < a.wo; o0 += K::L * NV) rows_of_nv<K, OR, MO, NV>(a, m0, o0, (a.wo - o0 + K::L - 1) / K::L);
}

// Four channels fill the registers with one row; fewer take two rows at once; a lone row of
// one channel (1-d) takes eight vectors for eight independent chains.
template <class K>
void rows(const DwRows<typename K::T>& a) {
  int64_t m = 0;
  for (; m + 4 <= a.mo; m += 4) channels<K, 1, 4, 4>(a, m);
  for (; m + 2 <= a.mo; m += 2) channels<K, 2, 2, 4>(a, m);
  for (; m < a.mo; ++m) a.orows == 1 ? channels<K, 1, 1, 8>(a, m) : channels<K, 2, 1, 4>(a, m);
}

}  // namespace

namespace {

using row_taps::below, row_taps::BlockMasks, row_taps::block_masks, row_taps::RowTaps;

// Output rows in pairs (r, r + 1) when SH, the row stride, is 1 or 2: their input rows
// overlap, so each of the 3 + SH rows is loaded and shifted once for both. SH 0: one row per
// pass (any sh). Rows outside the plane give zero taps, still added (the rows kernel's bits).
template <int SW, int PW, int SH>
void window3x3(const DwWindow3x3& a) {
  constexpr int Q = SH == 0 ? 3 : 3 + SH;  // input rows per pass
  const __m512 z = _mm512_setzero_ps(), bias = _mm512_set1_ps(a.bias);
  __m512 wt[9];
#pragma GCC unroll 9
  for (int t = 0; t < 9; ++t) wt[t] = _mm512_set1_ps(a.w9[t]);
  const int64_t step = SH == 0 ? 1 : 2;
  for (int64_t oh = a.oh0; oh < a.oh1; oh += step) {
    const bool two = SH != 0 && oh + 1 < a.oh1;
    const float* rows[Q];
    RowTaps<SW, PW> taps[Q];
    row_taps::start_pass(a.x, a.xs, a.h, a.w, oh * a.sh - a.ph, two, rows, taps);
    float* y0 = a.y + (oh - a.oh0) * a.wo;
    for (int64_t i = 0; i < a.wo; i += 16) {
      const BlockMasks bm = block_masks<SW, PW>(a.w, i);
      __m512 acc0 = z, acc1 = z;
#pragma GCC unroll 5
      for (int q = 0; q < Q; ++q) {
        __m512 t[3] = {z, z, z};
        if (rows[q] != nullptr) taps[q].next(rows[q], i, bm, t);
#pragma GCC unroll 3
        for (int kw = 0; kw < 3; ++kw) {
          if (q < 3) acc0 = _mm512_fmadd_ps(wt[q * 3 + kw], t[kw], acc0);
          if (SH != 0 && q >= SH && q - SH < 3) acc1 = _mm512_fmadd_ps(wt[(q - SH) * 3 + kw], t[kw], acc1);
        }
      }
      const __mmask16 m = below(a.wo, i);
      _mm512_mask_storeu_ps(y0 + i, m, _mm512_add_ps(acc0, bias));
      if (two) _mm512_mask_storeu_ps(y0 + a.wo + i, m, _mm512_add_ps(acc1, bias));
    }
  }
}

template <int SW, int PW>
void window3x3_rows(const DwWindow3x3& a) {
  if (a.sh == 1) window3x3<SW, PW, 1>(a);
  else if (a.sh == 2) window3x3<SW, PW, 2>(a);
  else window3x3<SW, PW, 0>(a);
}

}  // namespace

void dwconv_f32_rows_avx512(const DwRowsArgs& a) { rows<F32>(a); }

void dwconv_f32_window3x3_avx512(const DwWindow3x3& a) {
  if (a.sw == 1) {
    if (a.pw == 1) window3x3_rows<1, 1>(a);
    else window3x3_rows<1, 0>(a);
  } else {
    if (a.pw == 1) window3x3_rows<2, 1>(a);
    else window3x3_rows<2, 0>(a);
  }
}
void dwconv_f64_rows_avx512(const DwRowsF64Args& a) { rows<F64>(a); }

void dwconv_f32_nhwc_row_avx512(const DwNhwcRow& a) { nhwc_row<F32, 8>(a); }

}  // namespace convkit::kernels
