// The channels-last depthwise row (dwconv_f32_nhwc_row_<isa>), written once over a vector
// traits struct K each ISA file supplies (K::L float lanes; load/store of a full vector and of
// the first n lanes, fmadd, add, zero). Plain C++: the intrinsics stay in the ISA files.
//
// Channels are the lanes: per block of K::L channels, output columns run P at a time where
// every tap of their windows is inside the input row (one weight vector per tap, P input
// vectors, P accumulators), and one at a time near the row's ends, skipping the taps that fall
// in the padding.
#pragma once

#include <algorithm>
#include <cstdint>

#include "kernels/dwconv/dwconv.h"

namespace convkit::kernels {
namespace {

template <class K, int P, bool kFull>
[[gnu::always_inline]] inline typename K::V nhwc_load(const float* p, int64_t n) {
  if constexpr (kFull) {
    return K::load(p);
  } else {
    return K::load_n(p, n);
  }
}

// Columns [ow, ow + Q) of channels [c0, c0 + n), Q <= P. Inside: every tap's column is in the
// row (no checks); else each column's taps outside [0, W) are skipped.
template <class K, int P, bool kFull, bool kInside>
[[gnu::always_inline]] inline void nhwc_columns(const DwNhwcRow& a, int64_t c0, int64_t n, int64_t ow, int Q) {
  using V = typename K::V;
  V acc[P];
  for (int q = 0; q < P; ++q) acc[q] = K::zero();
  const int64_t step = a.sw * a.xs;  // between neighbouring outputs' inputs
  for (int64_t kh = 0; kh < a.kh; ++kh) {
    const float* row = a.rows[kh];
    if (row == nullptr) continue;  // a padding row
    for (int64_t kw = 0; kw < a.kw; ++kw) {
      const V wv = nhwc_load<K, P, kFull>(a.w + (kh * a.kw + kw) * a.C + c0, n);
      const int64_t iw = ow * a.sw + kw * a.dw - a.pw;  // column of output ow's tap
      if constexpr (kInside) {
        const float* x = row + iw * a.xs + c0;
        for (int q = 0; q < P; ++q) acc[q] = K::fmadd(wv, nhwc_load<K, P, kFull>(x + q * step, n), acc[q]);
      } else {
        for (int q = 0; q < Q; ++q) {
          const int64_t c = iw + q * a.sw;
          if (c >= 0 && c < a.W) acc[q] = K::fmadd(wv, nhwc_load<K, P, kFull>(row + c * a.xs + c0, n), acc[q]);
        }
      }
    }
  }
  const V b = a.bias ? nhwc_load<K, P, kFull>(a.bias + c0, n) : K::zero();
  for (int q = 0; q < Q; ++q) {
    float* y = a.y + (ow + q) * a.ys + c0;
    if constexpr (kFull) {
      K::store(y, K::add(acc[q], b));
    } else {
      K::store_n(y, K::add(acc[q], b), n);
    }
  }
}

// Columns [ow, ow + Q) for every channel: whole vectors, then the tail. (Columns outer,
// channels inner: the inputs a block of columns reads stay in L1 across the channel blocks.)
template <class K, int P, bool kInside>
void nhwc_columns_all(const DwNhwcRow& a, int64_t ow, int Q) {
  int64_t c0 = 0;
  for (; c0 + K::L <= a.C; c0 += K::L) nhwc_columns<K, P, true, kInside>(a, c0, K::L, ow, Q);
  if (c0 < a.C) nhwc_columns<K, P, false, kInside>(a, c0, a.C - c0, ow, Q);
}

template <class K, int P>
void nhwc_row(const DwNhwcRow& a) {
  // Outputs [in0, in1) read only columns inside [0, W): the first tap at ow sw - pw >= 0, the
  // last at ow sw - pw + (kw - 1) dw <= W - 1.
  const int64_t reach = (a.kw - 1) * a.dw;
  const int64_t in0 = std::min(a.wo, a.pw <= 0 ? 0 : (a.pw + a.sw - 1) / a.sw);
  const int64_t last = a.W - 1 + a.pw - reach;
  const int64_t in1 = std::max(in0, std::min(a.wo, last < 0 ? 0 : last / a.sw + 1));
  int64_t ow = 0;
  for (; ow < in0; ow += std::min<int64_t>(P, in0 - ow))
    nhwc_columns_all<K, P, false>(a, ow, static_cast<int>(std::min<int64_t>(P, in0 - ow)));
  for (; ow + P <= in1; ow += P) nhwc_columns_all<K, P, true>(a, ow, P);
  for (; ow < a.wo; ow += std::min<int64_t>(P, a.wo - ow))
    nhwc_columns_all<K, P, false>(a, ow, static_cast<int>(std::min<int64_t>(P, a.wo - ow)));
}

}  // namespace
}  // namespace convkit::kernels
