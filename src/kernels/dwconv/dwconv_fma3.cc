// AVX2+FMA direct-convolution row kernels (float32 and float64): a register tile of OR output
// rows x MO output channels x NV vectors of L outputs (8 floats, 4 doubles), OR * MO * NV <= 8
// so accumulators, an input and a weight fit 16 ymm registers (depthwise runs two rows at
// once). The tile sweeps every output row.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "kernels/dwconv/dwconv.h"
#include "kernels/dwconv/nhwc_row.h"

namespace convkit::kernels {

namespace {

// The vector operations of one element type: L lanes.
struct F32 {
  using T = float;
  using V = __m256;
  static constexpr int L = 8;
  static V zero() { return _mm256_setzero_ps(); }
  static V set1(T v) { return _mm256_set1_ps(v); }
  static V broadcast(const T* p) { return _mm256_broadcast_ss(p); }
  static V load(const T* p) { return _mm256_loadu_ps(p); }
  static void store(T* p, V v) { _mm256_storeu_ps(p, v); }
  // The first n < L lanes.
  static __m256i first(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static V load_n(const T* p, int64_t n) { return _mm256_maskload_ps(p, first(n)); }
  static void store_n(T* p, V v, int64_t n) { _mm256_maskstore_ps(p, first(n), v); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
};
struct F64 {
  using T = double;
  using V = __m256d;
  static constexpr int L = 4;
  static V zero() { return _mm256_setzero_pd(); }
  static V set1(T v) { return _mm256_set1_pd(v); }
  static V broadcast(const T* p) { return _mm256_broadcast_sd(p); }
  static V load(const T* p) { return _mm256_loadu_pd(p); }
  static void store(T* p, V v) { _mm256_storeu_pd(p, v); }
  static void store_n(T* p, V v, int64_t n) {
    _mm256_maskstore_pd(p, _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3)), v);
  }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  static V add(V a, V b) { return _mm256_add_pd(a, b); }
};

// Outputs o0 .. o0 + L * NV of MO channels for output rows j0 .. j1, OR rows at a time
// ((j1 - j0) % OR == 0); lanes past wo are computed, not stored.
template <class K, int OR, int MO, int NV>
void tile(const DwRows<typename K::T>& a, int64_t m0, int64_t o0, int64_t j0, int64_t j1) {
  using T = typename K::T;
  using V = typename K::V;
  const int64_t ntaps = a.ntaps, step = a.row_step;
  const T* w = a.w + m0 * ntaps;
  for (int64_t j = j0; j < j1; j += OR) {
    V acc[OR][MO][NV];
    for (int i = 0; i < OR; ++i)
      for (int m = 0; m < MO; ++m)
        for (int v = 0; v < NV; ++v) acc[i][m][v] = K::zero();
    const int64_t off = j * step + o0;
    for (int64_t t = 0; t < ntaps; ++t) {
      const T* x = a.taps[t] + off;
      V wm[MO];
      for (int m = 0; m < MO; ++m) wm[m] = K::broadcast(w + m * ntaps + t);
      for (int i = 0; i < OR; ++i)
        for (int v = 0; v < NV; ++v) {
          const V xv = K::load(x + i * step + K::L * v);
          for (int m = 0; m < MO; ++m) acc[i][m][v] = K::fmadd(wm[m], xv, acc[i][m][v]);
        }
    }
    for (int m = 0; m < MO; ++m) {
      const V b = K::set1(a.bias ? a.bias[m0 + m] : T{0});
      for (int i = 0; i < OR; ++i) {
        T* y = a.y + (m0 + m) * a.ys_c + (j + i) * a.ys_r + o0;
        for (int v = 0; v < NV; ++v) {
          const V res = K::add(acc[i][m][v], b);
          const int64_t left = a.wo - o0 - K::L * v;
          // (A masked store: a bounce buffer here kept the accumulators in memory, stored on
          // every tap.)
          if (left >= K::L) {
            K::store(y + K::L * v, res);
          } else if (left > 0) {
            K::store_n(y + K::L * v, res, left);
          }
        }
      }
    }
  }
}

// Every row of MO channels for one column tile: OR rows at a time, then the rest singly.
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
  static_assert(OR * MO * NV <= 8, "accumulators, an input and a weight must fit 16 ymm registers");
  for (int64_t o0 = 0; o0 < a.wo; o0 += K::L * NV) rows_of_nv<K, OR, MO, NV>(a, m0, o0, (a.wo - o0 + K::L - 1) / K::L);
}

// Two or more channels fill the registers with one row; depthwise takes two rows at once, or
// eight vectors of a lone row (1-d).
template <class K>
void rows(const DwRows<typename K::T>& a) {
  int64_t m = 0;
  for (; m + 4 <= a.mo; m += 4) channels<K, 1, 4, 2>(a, m);
  for (; m + 2 <= a.mo; m += 2) channels<K, 1, 2, 4>(a, m);
  for (; m < a.mo; ++m) a.orows == 1 ? channels<K, 1, 1, 8>(a, m) : channels<K, 2, 1, 4>(a, m);
}

}  // namespace

void dwconv_f32_rows_fma3(const DwRowsArgs& a) { rows<F32>(a); }

void dwconv_f32_nhwc_row_fma3(const DwNhwcRow& a) { nhwc_row<F32, 8>(a); }
void dwconv_f64_rows_fma3(const DwRowsF64Args& a) { rows<F64>(a); }

}  // namespace convkit::kernels
