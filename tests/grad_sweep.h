// The configurations the gradient tests sweep: one convolution configuration of any rank
// (every padding form and mode, groups, conv_mode, unbatched, N = 0), the rank-dispatching
// forward and backward calls, and the transposed layers built from them.
#pragma once

#include <string>
#include <vector>

#include "conv/plan.h"
#include "test_util.h"

namespace convkit::test::grad {

using nn::PaddingKind;

// One convolution configuration, rank-agnostic; pad_kind Explicit/Pairs use lo/hi.
struct Config {
  int dim = 2;
  int64_t N = 2, Cin = 4, Cout = 6, groups = 1;
  Shape S, K, stride, dil, lo, hi;
  PaddingKind pad_kind = PaddingKind::Explicit;
  PaddingMode mode = PaddingMode::Zeros;
  ConvMode conv_mode = ConvMode::CrossCorrelation;
  bool batched = true;
  DType dtype = kFloat64;
};

template <std::size_t D, typename Opt>
void apply(Opt& o, const Config& c) {
  o.stride(c.stride).dilation(c.dil).groups(c.groups).padding_mode(c.mode).conv_mode(c.conv_mode);
  switch (c.pad_kind) {
    case PaddingKind::Explicit: o.padding(c.lo); break;
    case PaddingKind::Pairs: {
      std::vector<std::pair<int64_t, int64_t>> p;
      for (std::size_t i = 0; i < D; ++i) p.emplace_back(c.lo[i], c.hi[i]);
      o.padding(p);
      break;
    }
    case PaddingKind::Same: o.padding("same"); break;
    case PaddingKind::Valid: o.padding("valid"); break;
    case PaddingKind::Causal: o.padding("causal"); break;
  }
}

inline Shape input_shape(const Config& c) {
  Shape s{c.N, c.Cin};
  s.insert(s.end(), c.S.begin(), c.S.end());
  if (!c.batched) s.erase(s.begin());
  return s;
}
inline Shape weight_shape(const Config& c) {
  Shape s{c.Cout, c.Cin / c.groups};
  s.insert(s.end(), c.K.begin(), c.K.end());
  return s;
}
// A transposed layer from Cin to Cout channels: weight (C_in, C_out/groups, *K).
inline Shape transpose_weight_shape(const Config& c) {
  Shape s{c.Cin, c.Cout / c.groups};
  s.insert(s.end(), c.K.begin(), c.K.end());
  return s;
}

template <std::size_t D>
inline Tensor forward_d(const Config& c, const Tensor& x, const Tensor& w, const Tensor& b) {
  nn::functional::ConvFuncOptions<D> o;
  apply<D>(o, c);
  if constexpr (D == 1) return F::conv1d(x, w, b, o);
  else if constexpr (D == 2) return F::conv2d(x, w, b, o);
  else return F::conv3d(x, w, b, o);
}
template <std::size_t D>
inline F::ConvGradients backward_d(const Config& c, const Tensor& gy, const Tensor& x, const Tensor& w) {
  nn::functional::ConvFuncOptions<D> o;
  apply<D>(o, c);
  return F::conv_backward(gy, x, w, o);
}
inline Tensor forward(const Config& c, const Tensor& x, const Tensor& w, const Tensor& b = {}) {
  return c.dim == 1 ? forward_d<1>(c, x, w, b) : c.dim == 2 ? forward_d<2>(c, x, w, b) : forward_d<3>(c, x, w, b);
}
inline F::ConvGradients backward(const Config& c, const Tensor& gy, const Tensor& x, const Tensor& w) {
  return c.dim == 1 ? backward_d<1>(c, gy, x, w) : c.dim == 2 ? backward_d<2>(c, gy, x, w) : backward_d<3>(c, gy, x, w);
}

// A deterministic sweep over every argument: ranks, strides, dilations, every padding form
// and mode, groups (depthwise with multiplier), conv_mode, unbatched, N = 0.
inline std::vector<Config> sweep() {
  std::vector<Config> v;
  Generator gen(2024);
  auto pick = [&](int64_t lo, int64_t hi) {  // uniform in [lo, hi]
    return lo + static_cast<int64_t>(rand({1}, kFloat64, &gen).item() * static_cast<double>(hi - lo + 1)) % (hi - lo + 1);
  };
  const PaddingKind kinds[] = {PaddingKind::Explicit, PaddingKind::Pairs, PaddingKind::Same, PaddingKind::Valid,
                               PaddingKind::Causal};
  const PaddingMode modes[] = {PaddingMode::Zeros, PaddingMode::Reflect, PaddingMode::Replicate, PaddingMode::Circular};
  for (int i = 0; static_cast<int>(v.size()) < 160 && i < 2000; ++i) {
    Config c;
    c.dim = static_cast<int>(pick(1, 3));
    const int64_t g = pick(1, 3);
    c.groups = g;
    c.Cin = g * pick(1, 3);
    c.Cout = g * pick(1, 3);
    c.N = pick(0, 9) == 0 ? 0 : pick(1, 2);
    c.batched = pick(0, 5) != 0;
    if (!c.batched) c.N = 1;
    for (int d = 0; d < c.dim; ++d) {
      c.S.push_back(pick(c.dim == 3 ? 2 : 3, c.dim == 1 ? 11 : c.dim == 2 ? 7 : 4));
      c.K.push_back(pick(1, 3));
      c.stride.push_back(pick(1, 3));
      c.dil.push_back(pick(1, 2));
      c.lo.push_back(pick(0, 2));
      c.hi.push_back(pick(0, 2));
    }
    c.pad_kind = kinds[pick(0, 4)];
    if (c.pad_kind == PaddingKind::Causal && c.dim != 1) c.pad_kind = PaddingKind::Same;
    c.mode = modes[pick(0, 3)];
    c.conv_mode = pick(0, 3) == 0 ? ConvMode::Convolution : ConvMode::CrossCorrelation;
    try {  // keep the configurations the forward accepts (e.g. reflect needs padding < size)
      forward(c, Tensor::zeros(input_shape(c), kFloat64), Tensor::zeros(weight_shape(c), kFloat64));
      v.push_back(c);
    } catch (const ArgumentError&) {
    }
  }
  return v;
}

inline std::string describe(const Config& c) {
  return internal::str_cat(c.dim, "-d N=", c.N, " C=", c.Cin, "->", c.Cout, " g=", c.groups, " S=", shape_str(c.S),
                           " K=", shape_str(c.K), " s=", shape_str(c.stride), " d=", shape_str(c.dil), " pad kind ",
                           static_cast<int>(c.pad_kind), " lo=", shape_str(c.lo), " hi=", shape_str(c.hi), " ",
                           name_of(c.mode), " ", name_of(c.conv_mode), c.batched ? "" : " unbatched");
}

// Transposed configurations: output_padding below stride, or below dilation.
struct TConfig {
  Config c;
  Shape output_padding;
};

template <std::size_t D>
nn::functional::ConvTransposeFuncOptions<D> transpose_options(const TConfig& t) {
  nn::functional::ConvTransposeFuncOptions<D> o;
  o.stride(t.c.stride).dilation(t.c.dil).groups(t.c.groups).output_padding(t.output_padding);
  std::vector<std::pair<int64_t, int64_t>> p;
  for (std::size_t i = 0; i < D; ++i) p.emplace_back(t.c.lo[i], t.c.hi[i]);
  o.padding(p);
  return o;
}
inline Tensor transpose(const TConfig& t, const Tensor& x, const Tensor& w, const Tensor& b = {}) {
  switch (t.c.dim) {
    case 1: return F::conv_transpose1d(x, w, b, transpose_options<1>(t));
    case 2: return F::conv_transpose2d(x, w, b, transpose_options<2>(t));
    default: return F::conv_transpose3d(x, w, b, transpose_options<3>(t));
  }
}
inline F::ConvGradients transpose_backward(const TConfig& t, const Tensor& gy, const Tensor& x, const Tensor& w) {
  switch (t.c.dim) {
    case 1: return F::conv_transpose_backward(gy, x, w, transpose_options<1>(t));
    case 2: return F::conv_transpose_backward(gy, x, w, transpose_options<2>(t));
    default: return F::conv_transpose_backward(gy, x, w, transpose_options<3>(t));
  }
}

inline std::vector<TConfig> transpose_sweep() {
  std::vector<TConfig> v;
  for (const Config& c : sweep()) {
    TConfig t{c, {}};
    t.c.mode = PaddingMode::Zeros;
    t.c.pad_kind = PaddingKind::Pairs;
    for (int d = 0; d < c.dim; ++d) {
      const auto i = static_cast<std::size_t>(d);
      t.output_padding.push_back((c.S[i] + c.lo[i]) % std::max(c.stride[i], c.dil[i]));
    }
    try {
      transpose(t, Tensor::zeros(input_shape(t.c), kFloat64), Tensor::zeros(transpose_weight_shape(t.c), kFloat64));
      v.push_back(t);
    } catch (const ArgumentError&) {
    }
  }
  return v;
}

// Pins the channels-last weight gradient's test knobs for a scope (restored even when an
// assertion ends the test early).
struct ChannelsLastKnobs {
  explicit ChannelsLastKnobs(int64_t min_channels, int64_t piece_bytes = -1) {
    internal::set_channels_last_weights_min_channels(min_channels);
    internal::set_channels_last_piece_bytes(piece_bytes);
  }
  ~ChannelsLastKnobs() {
    internal::set_channels_last_weights_min_channels(-1);
    internal::set_channels_last_piece_bytes(-1);
  }
  ChannelsLastKnobs(const ChannelsLastKnobs&) = delete;
  ChannelsLastKnobs& operator=(const ChannelsLastKnobs&) = delete;
};

}  // namespace convkit::test::grad
