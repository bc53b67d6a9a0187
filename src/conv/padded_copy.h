// A padded copy of an input for the packed GEMM paths (bf16_gemm.cc, f64_gemm.cc): per channel,
// Sp0 x Sp1 rows of Sp2 elements, the extents the outputs' windows read, every padding mode
// materialized; and where a block of output positions reads it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "conv/plan.h"

namespace convkit::internal {

/// The copy's geometry for layer p (lifted to three dims).
struct PaddedCopy {
  Lifted g;
  int64_t Sp[3] = {1, 1, 1};
  int64_t plane = 1;  // Sp0 x Sp1 x Sp2
  PaddingMode mode = PaddingMode::Zeros;

  explicit PaddedCopy(const ConvParams& p) : g(lift3(p)), mode(p.padding_mode) {
    for (int d = 0; d < 3; ++d) Sp[d] = (g.O[d] - 1) * g.st[d] + (g.K[d] - 1) * g.dl[d] + 1;
    plane = Sp[0] * Sp[1] * Sp[2];
  }
  /// The columns [in0, in1) of a row lie inside the input; the others are padding.
  int64_t in0() const { return std::clamp<int64_t>(g.lo[2], 0, Sp[2]); }
  int64_t in1() const { return std::clamp<int64_t>(g.lo[2] + g.S[2], in0(), Sp[2]); }
  /// Tap t's offset in a channel's copy (taps in the weight's order).
  int64_t tap_offset(int64_t t) const {
    const int64_t kd = t / (g.K[1] * g.K[2]), kh = t / g.K[2] % g.K[1], kw = t % g.K[2];
    return (kd * g.dl[0] * Sp[1] + kh * g.dl[1]) * Sp[2] + kw * g.dl[2];
  }

  /// x's elements and strides, its spatial dims lifted to three (dims added in front).
  template <typename T>
  struct Source {
    const T* base;
    int64_t sn, sc, s[3] = {0, 0, 0};
    explicit Source(const Tensor& x) : base(static_cast<const T*>(x.const_data_ptr())), sn(x.stride(0)), sc(x.stride(1)) {
      const int64_t nd = x.dim() - 2;
      for (int64_t d = 0; d < nd; ++d) s[3 - nd + d] = x.stride(2 + d);
    }
  };

  /// The input row that row r (over Sp0 x Sp1) of channel c's copy reads, or null for a row of
  /// zero padding.
  template <typename T>
  const T* source_row(const Source<T>& x, int64_t image, int64_t c, int64_t r) const {
    const int64_t s0 = source_index(r / Sp[1] - g.lo[0], g.S[0], mode);
    const int64_t s1 = source_index(r % Sp[1] - g.lo[1], g.S[1], mode);
    return s0 < 0 || s1 < 0 ? nullptr : x.base + image * x.sn + c * x.sc + s0 * x.s[0] + s1 * x.s[1];
  }

  /// Row r of channel c's copy into out[Sp2] (the inside straight, the padding by the mode);
  /// a row of zero padding is zeros.
  template <typename T>
  void fill_row(const Source<T>& x, int64_t image, int64_t c, int64_t r, T* out) const {
    const T* row = source_row(x, image, c, r);
    if (row == nullptr) {
      std::fill(out, out + Sp[2], T{});
      return;
    }
    const int64_t xsw = x.s[2], lo = g.lo[2], a = in0(), b = in1();
    auto edge = [&](int64_t col) {
      const int64_t si = source_index(col - lo, g.S[2], mode);
      return si < 0 ? T{} : row[si * xsw];
    };
    for (int64_t col = 0; col < a; ++col) out[col] = edge(col);
    if (xsw == 1) std::memcpy(out + a, row + (a - lo), static_cast<std::size_t>(b - a) * sizeof(T));
    else
      for (int64_t col = a; col < b; ++col) out[col] = row[(col - lo) * xsw];
    for (int64_t col = b; col < Sp[2]; ++col) out[col] = edge(col);
  }

  /// Output positions [j0, j0 + n) (flat over O0 x O1 x O2) in runs along the last dim: where
  /// each run starts in a channel's copy (before a tap's offset; its elements g.st[2] apart), at
  /// which column of the block, how long. Writes at most n runs; returns their count.
  struct Run {
    int64_t src, dst, len;
  };
  int64_t runs(int64_t j0, int64_t n, Run* out) const {
    int64_t count = 0;
    for (int64_t j = j0; j < j0 + n; ++count) {
      const int64_t o2 = j % g.O[2], o1 = j / g.O[2] % g.O[1], o0 = j / (g.O[2] * g.O[1]);
      const int64_t len = std::min(g.O[2] - o2, j0 + n - j);
      out[count] = {(o0 * g.st[0] * Sp[1] + o1 * g.st[1]) * Sp[2] + o2 * g.st[2], j - j0, len};
      j += len;
    }
    return count;
  }
};

}  // namespace convkit::internal
