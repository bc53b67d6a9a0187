// AVX-512 direct-convolution row kernels (float32 and float64): a register tile of OR output
// rows x MO output channels x NV vectors of L outputs (16 floats, 8 doubles); per tap OR * NV
// loads feed OR * MO * NV FMAs — depthwise (MO = 1) runs two output rows for eight independent
// chains, a 4-channel group shares each load four ways. Store masks are set once per column
// tile, then the tile sweeps every row.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "kernels/dwconv/dwconv.h"

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

void dwconv_f32_rows_avx512(const DwRowsArgs& a) { rows<F32>(a); }
void dwconv_f64_rows_avx512(const DwRowsF64Args& a) { rows<F64>(a); }

}  // namespace convkit::kernels
