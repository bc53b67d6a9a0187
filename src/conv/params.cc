#include "conv/params.h"

#include <algorithm>

namespace convkit {

using internal::str_cat;

namespace {

template <typename E, std::size_t N>
E parse_name(const std::string& s, const char* what, const std::pair<const char*, E> (&table)[N]) {
  for (const auto& [name, value] : table)
    if (s == name) return value;
  std::string names;
  for (std::size_t i = 0; i < N; ++i) names += str_cat(i ? ", " : "", "'", table[i].first, "'");
  throw ArgumentError(str_cat(what, " must be one of {", names, "}, but got ", what, "='", s, "'"));
}

constexpr std::pair<const char*, PaddingMode> kPaddingModes[] = {
    {"zeros", PaddingMode::Zeros}, {"reflect", PaddingMode::Reflect},
    {"replicate", PaddingMode::Replicate}, {"circular", PaddingMode::Circular}};
constexpr std::pair<const char*, ConvMode> kConvModes[] = {
    {"cross_correlation", ConvMode::CrossCorrelation}, {"convolution", ConvMode::Convolution}};
constexpr std::pair<const char*, ComputeMode> kComputeModes[] = {
    {"default", ComputeMode::Default}, {"float32", ComputeMode::Float32}};
constexpr std::pair<const char*, WeightLayout> kWeightLayouts[] = {
    {"torch", WeightLayout::Torch}, {"megengine", WeightLayout::MegEngine}};
constexpr std::pair<const char*, Algorithm> kAlgorithms[] = {{"auto", Algorithm::Auto},
                                                             {"reference", Algorithm::Reference},
                                                             {"gemm", Algorithm::Gemm},
                                                             {"depthwise", Algorithm::Depthwise},
                                                             {"winograd", Algorithm::Winograd}};
constexpr std::pair<const char*, InitMode> kInitModes[] = {{"torch", InitMode::Torch},
                                                           {"megengine", InitMode::MegEngine}};

template <typename E, std::size_t N>
const char* lookup_name(E v, const std::pair<const char*, E> (&table)[N]) {
  for (const auto& [name, value] : table)
    if (v == value) return name;
  return "?";
}

}  // namespace

PaddingMode padding_mode_from_name(const std::string& s) { return parse_name(s, "padding_mode", kPaddingModes); }
ConvMode conv_mode_from_name(const std::string& s) { return parse_name(s, "conv_mode", kConvModes); }
ComputeMode compute_mode_from_name(const std::string& s) { return parse_name(s, "compute_mode", kComputeModes); }
WeightLayout weight_layout_from_name(const std::string& s) { return parse_name(s, "weight_layout", kWeightLayouts); }
InitMode init_mode_from_name(const std::string& s) { return parse_name(s, "init", kInitModes); }
const char* name_of(InitMode m) { return lookup_name(m, kInitModes); }
Algorithm algorithm_from_name(const std::string& s) { return parse_name(s, "algorithm", kAlgorithms); }
const char* name_of(Algorithm a) { return lookup_name(a, kAlgorithms); }
const char* name_of(PaddingMode m) { return lookup_name(m, kPaddingModes); }
const char* name_of(ConvMode m) { return lookup_name(m, kConvModes); }
const char* name_of(ComputeMode m) { return lookup_name(m, kComputeModes); }
const char* name_of(WeightLayout m) { return lookup_name(m, kWeightLayouts); }
const char* internal::name_of(internal::Direction d) {
  switch (d) {
    case internal::Direction::Forward: return "forward";
    case internal::Direction::BackwardData: return "backward_data";
    case internal::Direction::BackwardWeights: return "backward_weights";
  }
  return "?";
}

namespace internal {

namespace {

// "(5)" or "(3 x 3)": the way PyTorch prints per-channel spatial sizes.
std::string sizes_x(const Shape& s) {
  std::string r = "(";
  for (std::size_t i = 0; i < s.size(); ++i) r += str_cat(i ? " x " : "", s[i]);
  return r + ")";
}

// PyTorch's message for an int-or-tuple argument of the wrong length (expand_param_if_needed);
// shape_str prints the list as PyTorch prints an IntArrayRef: "[1, 2, 3]".
void check_length(const Shape& v, std::size_t d, const char* what) {
  CONVKIT_CHECK(v.size() == d, "expected ", what, " to be a single integer value or a list of ", d,
                " values to match the convolution dimensions, but got ", what, "=", shape_str(v));
}

void check_positive(const Shape& v, std::size_t d, const char* what, const char* torch_msg) {
  check_length(v, d, what);
  for (int64_t x : v) CONVKIT_CHECK(x > 0, torch_msg, ": got ", what, "=", tuple_str(v));
}

// How padding was given, with its values: "padding=(1, 2)", "padding=[(1, 2), (0, 1)]" for
// (lo, hi) pairs, "padding='same' (resolved to lo=(1,), hi=(2,))" for the named kinds.
std::string padding_str(nn::PaddingKind kind, const Shape& lo, const Shape& hi) {
  if (kind == nn::PaddingKind::Explicit) return "padding=" + tuple_str(lo);
  if (kind == nn::PaddingKind::Pairs) {
    std::string r = "padding=[";
    for (std::size_t i = 0; i < lo.size(); ++i) r += str_cat(i ? ", " : "", "(", lo[i], ", ", hi[i], ")");
    return r + "]";
  }
  const char* name = kind == nn::PaddingKind::Same ? "same" : kind == nn::PaddingKind::Valid ? "valid" : "causal";
  return str_cat("padding='", name, "' (resolved to lo=", tuple_str(lo), ", hi=", tuple_str(hi), ")");
}

// Effective (dilated) kernel extent per dim: dilation * (kernel_size - 1) + 1, which must fit
// in 64 bits; the message names dilation, the kernel size and the largest dilation that fits.
Shape kernel_extents(const ConvParams& p, const std::string& op) {
  Shape span(p.kernel.size());
  for (std::size_t i = 0; i < span.size(); ++i) {
    const int64_t taps = p.kernel[i] - 1;  // >= 0: kernel sizes were checked positive
    const bool fits = !__builtin_mul_overflow(p.dilation[i], taps, &span[i]) && span[i] < INT64_MAX;
    CONVKIT_CHECK(fits, op, ": dilation=", tuple_str(p.dilation), " is too large for kernel_size ",
                  tuple_str(p.kernel), ": the dilated kernel extent dilation * (kernel_size - 1) + 1 at spatial ",
                  "dimension ", i, " overflows 64 bits; expected dilation <= ", (INT64_MAX - 1) / std::max<int64_t>(taps, 1), " there");
    span[i] += 1;
  }
  return span;
}

// Input size plus padding per dim, which must fit in 64 bits; the message names the padding
// as it was given, the input size and the largest total padding that fits.
Shape padded_sizes(const ConvParams& p, const ConvArgs& a, const std::string& op) {
  Shape padded(p.in_size.size());
  for (std::size_t i = 0; i < padded.size(); ++i) {
    const bool fits = !__builtin_add_overflow(p.in_size[i], p.pad_lo[i], &padded[i]) &&
                      !__builtin_add_overflow(padded[i], p.pad_hi[i], &padded[i]);
    CONVKIT_CHECK(fits, op, ": ", padding_str(a.padding_kind, p.pad_lo, p.pad_hi), " is too large for input size ",
                  p.in_size[i], " at spatial dimension ", i, ": the padded input size overflows 64 bits; expected ",
                  "the padding before and after that dimension to total at most ", INT64_MAX - p.in_size[i]);
  }
  return padded;
}

// The output must be allocatable: its bytes must fit in 64 bits. Names the input and weight
// that give it, since the output's size is not an argument.
void check_output_size(const ConvParams& p, const Tensor& x, const Tensor& w, const std::string& op) {
  const Shape out = p.output_shape();
  int64_t bytes = element_size(p.dtype);
  bool fits = true;
  for (int64_t s : out) fits = fits && !__builtin_mul_overflow(bytes, s, &bytes);
  CONVKIT_CHECK(fits, op, ": input of size ", shape_str(x.sizes()), " and weight of size ", shape_str(w.sizes()),
                " give an output of size ", shape_str(out), " (N, out_channels, *spatial) whose ",
                dtype_name(p.dtype), " elements need more bytes than fit in 64 bits; expected at most ", INT64_MAX,
                " bytes");
}

}  // namespace

std::string op_name(int64_t dim) { return str_cat("conv", dim, "d"); }

Lifted lift3(const ConvParams& p) {
  Lifted g{{1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {0, 0, 0}};
  for (int64_t i = 0; i < p.dim; ++i) {
    const auto s = static_cast<std::size_t>(i);
    const int64_t d = 3 - p.dim + i;
    g.S[d] = p.in_size[s];
    g.K[d] = p.kernel[s];
    g.O[d] = p.out_size[s];
    g.st[d] = p.stride[s];
    g.dl[d] = p.dilation[s];
    g.lo[d] = p.pad_lo[s];
  }
  return g;
}

std::string op_label(const ConvParams& p) {
  if (p.transposed) {  // the layer's forward is the matching convolution's backward_data
    const std::string op = str_cat("conv_transpose", p.dim, "d");
    if (p.direction == Direction::BackwardData) return op;
    return op + (p.direction == Direction::Forward ? " backward_data" : " backward_weights");
  }
  if (p.direction == Direction::Forward) return op_name(p.dim);
  return str_cat(op_name(p.dim), " ", name_of(p.direction));
}

std::string tuple_str(const Shape& s) {
  std::string r = "(";
  for (std::size_t i = 0; i < s.size(); ++i) r += str_cat(i ? ", " : "", s[i]);
  return r + (s.size() == 1 ? ",)" : ")");
}

Shape ConvParams::output_shape() const {
  Shape s{N, C_out};
  s.insert(s.end(), out_size.begin(), out_size.end());
  return s;
}

Shape ConvParams::weight_shape() const {
  Shape s{C_out, c_in_per_group()};
  s.insert(s.end(), kernel.begin(), kernel.end());
  return s;
}

Tensor canonical_weight(const Tensor& w, int64_t dim, int64_t groups) {
  CONVKIT_CHECK(w.defined(), op_name(dim), ": weight is undefined");
  if (w.dim() == dim + 2) return w;
  CONVKIT_CHECK(w.dim() == dim + 3, op_name(dim), ": expected weight to be ", dim + 2,
                "-d (C_out, C_in/groups, *kernel) or ", dim + 3,
                "-d MegEngine grouped (groups, C_out/groups, C_in/groups, *kernel), but got weight of size ",
                shape_str(w.sizes()));
  CONVKIT_CHECK(w.size(0) == groups, op_name(dim), ": MegEngine grouped weight of size ", shape_str(w.sizes()),
                " has ", w.size(0), " groups in dimension 0, but groups=", groups);
  int64_t c_out;
  CONVKIT_CHECK(!__builtin_mul_overflow(w.size(0), w.size(1), &c_out), op_name(dim),
                ": MegEngine grouped weight of size ", shape_str(w.sizes()), ": out_channels = groups * ",
                "out_channels/groups = ", w.size(0), " * ", w.size(1), " overflows 64 bits");
  Shape s{c_out, w.size(2)};
  for (int64_t i = 3; i < w.dim(); ++i) s.push_back(w.size(i));
  return w.reshape(s);
}

Tensor canonical_bias(const Tensor& b, int64_t dim) {
  if (!b.defined() || b.dim() == 1) return b;
  bool megengine = b.dim() == dim + 2 && b.size(0) == 1;
  for (int64_t i = 2; megengine && i < b.dim(); ++i) megengine = b.size(i) == 1;
  std::string ones;
  for (int64_t i = 0; i < dim; ++i) ones += ", 1";
  CONVKIT_CHECK(megengine, op_name(dim), ": expected bias of size [C_out] or MegEngine's [1, C_out", ones,
                "], but got bias of size ", shape_str(b.sizes()));
  return b.reshape({b.size(1)});
}

ConvParams make_conv_params(const Tensor& x, const Tensor& w, const Tensor& b, const ConvArgs& a) {
  const std::string op = op_name(a.dim);
  const auto d = static_cast<std::size_t>(a.dim);
  CONVKIT_CHECK(a.dim >= 1 && a.dim <= 3, "convolution spatial rank must be 1, 2 or 3, got ", a.dim);
  CONVKIT_CHECK(a.device == "cpu", op, ": device '", a.device,
                "' is not supported: convkit computes on the CPU only (device='cpu')");
  CONVKIT_CHECK(x.defined(), op, ": input is undefined");
  CONVKIT_CHECK(w.defined(), op, ": weight is undefined");
  CONVKIT_CHECK(x.dim() == a.dim + 1 || x.dim() == a.dim + 2, "Expected ", a.dim + 1, "D (unbatched) or ",
                a.dim + 2, "D (batched) input to ", op, ", but got input of size: ", shape_str(x.sizes()));
  CONVKIT_CHECK(w.dim() == a.dim + 2, op, ": expected weight to be ", a.dim + 2,
                "-d (C_out, C_in/groups, *kernel), but got weight of size ", shape_str(w.sizes()));
  CONVKIT_CHECK(x.dtype() == w.dtype(), op, ": input dtype ", dtype_name(x.dtype()), " and weight dtype ",
                dtype_name(w.dtype()), " should be the same (input, weight and bias must share one dtype)");
  if (b.defined()) {
    CONVKIT_CHECK(x.dtype() == b.dtype(), op, ": input dtype ", dtype_name(x.dtype()), " and bias dtype ",
                  dtype_name(b.dtype()), " should be the same (input, weight and bias must share one dtype)");
  }
  CONVKIT_CHECK(a.groups > 0, "non-positive groups is not supported: got groups=", a.groups);
  check_positive(a.stride, d, "stride", "non-positive stride is not supported");
  if (a.padding_kind == nn::PaddingKind::Explicit || a.padding_kind == nn::PaddingKind::Pairs) {
    check_length(a.pad_lo, d, "padding");
    check_length(a.pad_hi, d, "padding");
  }
  check_positive(a.dilation, d, "dilation", "non-positive dilation is not supported");

  ConvParams p;
  p.dim = a.dim;
  p.batched = x.dim() == a.dim + 2;
  const Shape xs = p.batched ? x.sizes() : [&] { Shape s{1}; s.insert(s.end(), x.sizes().begin(), x.sizes().end()); return s; }();
  p.N = p.batched ? xs[0] : 1;
  p.C_in = xs[1];
  p.C_out = w.size(0);
  p.groups = a.groups;
  p.in_size.assign(xs.begin() + 2, xs.end());
  p.kernel.assign(w.sizes().begin() + 2, w.sizes().end());
  p.stride = a.stride;
  p.dilation = a.dilation;
  p.padding_mode = a.padding_mode;
  p.conv_mode = a.conv_mode;
  p.compute_mode = a.compute_mode;
  p.dtype = x.dtype();
  p.has_bias = b.defined();

  for (int64_t k : w.sizes())
    CONVKIT_CHECK(k > 0, op, ": weight of size ", shape_str(w.sizes()),
                  " has an empty dimension; out channels, channels per group and kernel sizes must be > 0");
  CONVKIT_CHECK(p.C_out % p.groups == 0, "Given groups=", p.groups, ", expected weight to be divisible by ",
                p.groups, " at dimension 0, but got weight of size ", shape_str(w.sizes()), " instead");
  int64_t expected_c;
  CONVKIT_CHECK(!__builtin_mul_overflow(w.size(1), p.groups, &expected_c), "Given groups=", p.groups,
                ", weight of size ", shape_str(w.sizes()), ", the expected input channels groups * weight.size(1) = ",
                p.groups, " * ", w.size(1), " overflow 64 bits; expected groups * weight.size(1) <= ", INT64_MAX);
  CONVKIT_CHECK(p.C_in == expected_c, "Given groups=", p.groups, ", weight of size ", shape_str(w.sizes()),
                ", expected input", shape_str(x.sizes()), " to have ", expected_c, " channels, but got ", p.C_in,
                " channels instead");
  if (b.defined()) {
    CONVKIT_CHECK(b.dim() == 1 && b.size(0) == p.C_out, "Given weight of size ", shape_str(w.sizes()),
                  ", expected bias to be 1-dimensional with ", p.C_out, " elements, but got bias of size ",
                  shape_str(b.sizes()), " instead");
  }

  const Shape span = kernel_extents(p, op);

  // Resolve padding into (lo, hi) per dim.
  p.pad_lo.assign(d, 0);
  p.pad_hi.assign(d, 0);
  switch (a.padding_kind) {
    case nn::PaddingKind::Valid:
      break;
    case nn::PaddingKind::Explicit:
    case nn::PaddingKind::Pairs:
      for (std::size_t i = 0; i < d; ++i)
        CONVKIT_CHECK(a.pad_lo[i] >= 0 && a.pad_hi[i] >= 0, "negative padding is not supported: got padding lo=",
                      tuple_str(a.pad_lo), " hi=", tuple_str(a.pad_hi));
      p.pad_lo = a.pad_lo;
      p.pad_hi = a.pad_hi;
      break;
    case nn::PaddingKind::Same:
      for (std::size_t i = 0; i < d; ++i) {
        int64_t total = span[i] - 1;
        if (p.stride[i] > 1) {  // SAME_UPPER: output ceil(S / stride)
          // (out - 1) * stride < S: subtracting S before adding span cannot overflow.
          const int64_t out = p.in_size[i] / p.stride[i] + (p.in_size[i] % p.stride[i] != 0);  // ceil, no overflow
          total = std::max<int64_t>(std::max<int64_t>(out - 1, 0) * p.stride[i] - p.in_size[i] + span[i], 0);
        }
        p.pad_lo[i] = total / 2;
        p.pad_hi[i] = total - total / 2;
      }
      break;
    case nn::PaddingKind::Causal:
      CONVKIT_CHECK(a.dim == 1, "padding='causal' is only supported for 1-d convolutions (conv1d), but got ", op);
      p.pad_lo[0] = span[0] - 1;
      break;
  }

  // Non-zero padding modes pad the input itself, so the padding must fit inside it.
  for (std::size_t i = 0; i < d && p.padding_mode != PaddingMode::Zeros; ++i) {
    const int64_t S = p.in_size[i], lo = p.pad_lo[i], hi = p.pad_hi[i];
    const char* mode = name_of(p.padding_mode);
    if (p.padding_mode == PaddingMode::Reflect) {
      CONVKIT_CHECK(lo < S && hi < S, op, ": padding_mode='reflect' needs padding < input size: padding (", lo, ", ",
                    hi, ") at spatial dimension ", i, " of input ", shape_str(x.sizes()), " whose size there is ", S);
    } else if (p.padding_mode == PaddingMode::Circular) {
      CONVKIT_CHECK(lo <= S && hi <= S, op, ": padding_mode='circular' needs padding <= input size (padding value ",
                    "causes wrapping around more than once): padding (", lo, ", ", hi, ") at spatial dimension ", i,
                    " of input ", shape_str(x.sizes()), " whose size there is ", S);
    }
    CONVKIT_CHECK(S > 0 || (lo == 0 && hi == 0), op, ": padding_mode='", mode,
                  "' cannot pad an empty spatial dimension ", i, " of input ", shape_str(x.sizes()));
  }

  // Output size: floor((S + lo + hi - span) / stride) + 1, after checking the kernel fits.
  const Shape padded = padded_sizes(p, a, op);
  bool fits = true;
  for (std::size_t i = 0; i < d; ++i) fits = fits && padded[i] >= span[i];
  CONVKIT_CHECK(fits, "Calculated padded input size per channel: ", sizes_x(padded), ". Kernel size: ", sizes_x(span),
                ". Kernel size can't be greater than actual input size (", op, " input ", shape_str(x.sizes()),
                ", kernel ", tuple_str(p.kernel), ", dilation ", tuple_str(p.dilation), ", padding lo ",
                tuple_str(p.pad_lo), " hi ", tuple_str(p.pad_hi), ")");
  p.out_size.resize(d);
  for (std::size_t i = 0; i < d; ++i) p.out_size[i] = (padded[i] - span[i]) / p.stride[i] + 1;
  check_output_size(p, x, w, op);
  return p;
}

namespace {

// PyTorch's per-dim names in the transposed-convolution messages: "stride_height: 2 ...".
std::string named_dims(const char* what, const Shape& v) {
  static const char* const kNames[3][3] = {{"width"}, {"height", "width"}, {"depth", "height", "width"}};
  std::string r;
  for (std::size_t i = 0; i < v.size(); ++i)
    r += str_cat(r.empty() ? "" : " ", what, "_", kNames[v.size() - 1][i], ": ", v[i]);
  return r;
}

// The argument checks a transposed convolution shares with its module (PyTorch's order).
void check_transpose_args(const TransposeArgs& a, const std::string& op) {
  const auto d = static_cast<std::size_t>(a.dim);
  CONVKIT_CHECK(a.dim >= 1 && a.dim <= 3, "convolution spatial rank must be 1, 2 or 3, got ", a.dim);
  CONVKIT_CHECK(a.device == "cpu", op, ": device '", a.device,
                "' is not supported: convkit computes on the CPU only (device='cpu')");
  CONVKIT_CHECK(a.padding_mode == PaddingMode::Zeros, "Only \"zeros\" padding mode is supported for ConvTranspose",
                a.dim, "d, but got padding_mode='", name_of(a.padding_mode), "'");
  CONVKIT_CHECK(a.padding_kind == nn::PaddingKind::Explicit || a.padding_kind == nn::PaddingKind::Pairs, op,
                ": padding must be an int, a tuple or (lo, hi) pairs; 'valid', 'same' and 'causal' are not ",
                "supported for transposed convolutions");
  CONVKIT_CHECK(a.groups > 0, "non-positive groups is not supported: got groups=", a.groups);
  check_positive(a.stride, d, "stride", "non-positive stride is not supported");
  check_length(a.pad_lo, d, "padding");
  check_length(a.pad_hi, d, "padding");
  check_length(a.output_padding, d, "output_padding");
  check_length(a.dilation, d, "dilation");
  for (std::size_t i = 0; i < d; ++i)
    CONVKIT_CHECK(a.pad_lo[i] >= 0 && a.pad_hi[i] >= 0, "negative padding is not supported: got padding lo=",
                  tuple_str(a.pad_lo), " hi=", tuple_str(a.pad_hi));
  for (int64_t v : a.output_padding)
    CONVKIT_CHECK(v >= 0, "negative output_padding is not supported: got output_padding=", tuple_str(a.output_padding));
  for (int64_t v : a.dilation)
    CONVKIT_CHECK(v > 0, "dilation should be greater than zero, but got ", named_dims("dilation", a.dilation));
  for (std::size_t i = 0; i < d; ++i)
    CONVKIT_CHECK(a.output_padding[i] < a.stride[i] || a.output_padding[i] < a.dilation[i],
                  "output padding must be smaller than either stride or dilation, but got ",
                  named_dims("output_padding", a.output_padding), " ", named_dims("stride", a.stride), " ",
                  named_dims("dilation", a.dilation));
}

// (S - 1) * stride - lo - hi + dilation * (K - 1) + 1 + extra per dim, exactly (in 128 bits).
std::vector<__int128> transposed_sizes(const Shape& S, const TransposeArgs& a, const Shape& K, const Shape& extra) {
  std::vector<__int128> r(S.size());
  for (std::size_t i = 0; i < S.size(); ++i)
    r[i] = static_cast<__int128>(S[i] - 1) * a.stride[i] - a.pad_lo[i] - a.pad_hi[i] +
           static_cast<__int128>(a.dilation[i]) * (K[i] - 1) + 1 + extra[i];
  return r;
}

// Sizes that may lie beyond 64 bits, as "(a x b)" (sep " x ") or "[a, b]" (sep ", ").
std::string join128(const std::vector<__int128>& s, const char* open, const char* sep, const char* close) {
  std::string r = open;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool small = s[i] >= INT64_MIN && s[i] <= INT64_MAX;
    r += str_cat(i ? sep : "", small ? str_cat(static_cast<int64_t>(s[i])) : std::string(s[i] < 0 ? "-huge" : "huge"));
  }
  return r + close;
}
std::string sizes_x128(const std::vector<__int128>& s) { return join128(s, "(", " x ", ")"); }

}  // namespace

void check_transpose_args(const TransposeArgs& a) { check_transpose_args(a, str_cat("conv_transpose", a.dim, "d")); }

ConvParams make_transpose_params(const Tensor& x, const Tensor& w, const Tensor& b, const TransposeArgs& a) {
  const std::string op = str_cat("conv_transpose", a.dim, "d");
  check_transpose_args(a, op);
  const auto d = static_cast<std::size_t>(a.dim);
  CONVKIT_CHECK(x.defined(), op, ": input is undefined");
  CONVKIT_CHECK(w.defined(), op, ": weight is undefined");
  CONVKIT_CHECK(x.dim() == a.dim + 1 || x.dim() == a.dim + 2, "Expected ", a.dim + 1, "D (unbatched) or ",
                a.dim + 2, "D (batched) input to ", op, ", but got input of size: ", shape_str(x.sizes()));
  CONVKIT_CHECK(w.dim() == a.dim + 2, op, ": expected weight to be ", a.dim + 2,
                "-d (C_in, C_out/groups, *kernel), but got weight of size ", shape_str(w.sizes()));
  CONVKIT_CHECK(x.dtype() == w.dtype(), op, ": input dtype ", dtype_name(x.dtype()), " and weight dtype ",
                dtype_name(w.dtype()), " should be the same (input, weight and bias must share one dtype)");
  if (b.defined())
    CONVKIT_CHECK(x.dtype() == b.dtype(), op, ": input dtype ", dtype_name(x.dtype()), " and bias dtype ",
                  dtype_name(b.dtype()), " should be the same (input, weight and bias must share one dtype)");
  for (int64_t k : w.sizes())
    CONVKIT_CHECK(k > 0, op, ": weight of size ", shape_str(w.sizes()),
                  " has an empty dimension; in channels, out channels per group and kernel sizes must be > 0");
  CONVKIT_CHECK(w.size(0) % a.groups == 0, "Given groups=", a.groups, ", expected weight to be divisible by ",
                a.groups, " at dimension 0, but got weight of size ", shape_str(w.sizes()), " instead");

  ConvParams p;
  p.direction = Direction::BackwardData;
  p.transposed = true;
  p.dim = a.dim;
  p.batched = x.dim() == a.dim + 2;
  const Shape xs = p.batched ? x.sizes() : [&] { Shape s{1}; s.insert(s.end(), x.sizes().begin(), x.sizes().end()); return s; }();
  CONVKIT_CHECK(xs[1] == w.size(0), "Given transposed=1, weight of size ", shape_str(w.sizes()), ", expected input",
                shape_str(x.sizes()), " to have ", w.size(0), " channels, but got ", xs[1], " channels instead");
  CONVKIT_CHECK(!__builtin_mul_overflow(w.size(1), a.groups, &p.C_in), "Given transposed=1, groups=", a.groups,
                ", weight of size ", shape_str(w.sizes()), ": out_channels = groups * weight.size(1) overflows 64 bits");
  if (b.defined())
    CONVKIT_CHECK(b.dim() == 1 && b.size(0) == p.C_in, "Given transposed=1, weight of size ", shape_str(w.sizes()),
                  ", expected bias to be 1-dimensional with ", p.C_in, " elements, but got bias of size ",
                  shape_str(b.sizes()), " instead");
  p.N = xs[0];
  p.C_out = xs[1];
  p.groups = a.groups;
  p.out_size.assign(xs.begin() + 2, xs.end());
  p.kernel.assign(w.sizes().begin() + 2, w.sizes().end());
  p.stride = a.stride;
  p.dilation = a.dilation;
  p.pad_lo = a.pad_lo;
  p.dtype = x.dtype();
  p.has_bias = b.defined();
  for (int64_t s : p.out_size)
    CONVKIT_CHECK(s > 0, "Only zero batch or zero channel inputs are supported, but got input shape: ",
                  shape_str(x.sizes()));

  // Transposed output: (S - 1) * stride - lo - hi + dilation * (K - 1) + output_padding + 1.
  const auto full = transposed_sizes(p.out_size, a, p.kernel, a.output_padding);
  bool positive = true, fits = true;
  for (const auto v : full) {
    positive = positive && v >= 1;
    fits = fits && v <= INT64_MAX;
  }
  CONVKIT_CHECK(positive, "Given input size per channel: ", sizes_x(p.out_size), ". Calculated output size per channel: ",
                sizes_x128(full), ". Output size is too small");
  // The matching convolution's padded extent, (S - 1) * stride + dilation * (K - 1) + 1 before
  // the crop, is what its loops index: it must fit too.
  TransposeArgs uncropped = a;
  uncropped.pad_lo.assign(d, 0);
  uncropped.pad_hi.assign(d, 0);
  const auto extent = transposed_sizes(p.out_size, uncropped, p.kernel, Shape(d, 0));
  for (const auto v : extent) fits = fits && v <= INT64_MAX;
  CONVKIT_CHECK(fits, op, ": input of size ", shape_str(x.sizes()), " with stride ", tuple_str(a.stride), " and dilation ",
                tuple_str(a.dilation), " reaches ", sizes_x128(extent), " output positions before the padding crop, ",
                "beyond 64 bits");
  p.in_size.resize(d);
  p.pad_hi.resize(d);
  for (std::size_t i = 0; i < d; ++i) {
    p.in_size[i] = static_cast<int64_t>(full[i]);
    // What the last window reaches past the output's end: hi - output_padding (may be < 0).
    p.pad_hi[i] = a.pad_hi[i] - a.output_padding[i];
  }
  Shape out{p.N, p.C_in};
  out.insert(out.end(), p.in_size.begin(), p.in_size.end());
  int64_t bytes = element_size(p.dtype);
  for (int64_t s : out) fits = fits && !__builtin_mul_overflow(bytes, s, &bytes);
  CONVKIT_CHECK(fits, op, ": input of size ", shape_str(x.sizes()), " and weight of size ", shape_str(w.sizes()),
                " give an output of size ", shape_str(out), " whose ", dtype_name(p.dtype),
                " elements need more bytes than fit in 64 bits; expected at most ", INT64_MAX, " bytes");
  return p;
}

Shape output_padding_for(const Tensor& x, const Shape& output_size, const TransposeArgs& a, const Shape& kernel) {
  const auto d = static_cast<std::size_t>(a.dim);
  const bool batched = x.dim() == a.dim + 2;
  const std::size_t non_spatial = batched ? 2 : 1;
  Shape want = output_size;
  if (want.size() == non_spatial + d) want.erase(want.begin(), want.begin() + static_cast<std::ptrdiff_t>(non_spatial));
  CONVKIT_CHECK(want.size() == d, "ConvTranspose", a.dim, "D: for ", x.dim(), "D input, output_size must have ", d,
                " or ", non_spatial + d, " elements (got ", output_size.size(), ")");
  CONVKIT_CHECK(x.dim() == a.dim + 1 || x.dim() == a.dim + 2, "Expected ", a.dim + 1, "D (unbatched) or ", a.dim + 2,
                "D (batched) input to conv_transpose", a.dim, "d, but got input of size: ", shape_str(x.sizes()));
  const Shape S(x.sizes().end() - a.dim, x.sizes().end());
  const auto min = transposed_sizes(S, a, kernel, Shape(d, 0));
  std::vector<__int128> max(d);
  bool ok = true;
  for (std::size_t i = 0; i < d; ++i) {
    max[i] = min[i] + a.stride[i] - 1;
    ok = ok && want[i] >= min[i] && want[i] <= max[i];
  }
  auto list = [](const std::vector<__int128>& v) { return join128(v, "[", ", ", "]"); };
  CONVKIT_CHECK(ok, "requested an output size of ", shape_str(want), ", but valid sizes range from ", list(min), " to ",
                list(max), " (for an input of ", shape_str(S), ")");
  Shape pad(d);
  for (std::size_t i = 0; i < d; ++i) pad[i] = want[i] - static_cast<int64_t>(min[i]);
  return pad;
}

}  // namespace internal
}  // namespace convkit
