#include "fuzz/conv_diff.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <vector>

#include "convkit/convkit.h"
#include "conv/backward.h"
#include "conv/conv.h"
#include "core/storage.h"
#include "cpu/isa.h"

namespace convkit::fuzz {
namespace {

// Reads the fuzz input front to back; past its end every read is 0, so any input is a case.
class Bytes {
 public:
  Bytes(const uint8_t* d, std::size_t n) : d_(d), n_(n) {}
  unsigned byte() { return i_ < n_ ? d_[i_++] : 0u; }
  /// A value in [lo, hi].
  int64_t in(int64_t lo, int64_t hi) { return lo + static_cast<int64_t>(byte()) % (hi - lo + 1); }
  uint32_t u32() {  // (one byte per statement: the order of reads is fixed)
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(byte()) << (8 * i);
    return v;
  }

 private:
  const uint8_t* d_;
  std::size_t n_, i_ = 0;
};

struct Case {
  int dim = 1;
  DType dtype = kFloat32;
  Algorithm algo = Algorithm::Auto;
  internal::Isa isa = internal::Isa::Scalar;
  int threads = 1;
  bool allow_winograd = false, bias = true, batched = true;
  int64_t N = 1, cin = 1, cout = 1, groups = 1;
  Shape S, K, stride, dil, lo, hi;
  int padding = 0;  // 0 int per dim (lo), 1 pairs, 2 same, 3 valid, 4 causal
  PaddingMode mode = PaddingMode::Zeros;
  ConvMode conv_mode = ConvMode::CrossCorrelation;
  // Input: 0 contiguous, 1 channels-last, 2 every other element of a wider tensor; 3: the
  // input contiguous and the weight channels-last (its output channels-last in 2-d).
  int layout = 0;

  std::string str() const {
    std::ostringstream o;
    auto v = [&](const Shape& s) {
      std::string r;
      for (int64_t e : s) r += (r.empty() ? "" : "x") + std::to_string(e);
      return r;
    };
    o << dim << "-d " << dtype_name(dtype) << " algo=" << name_of(algo) << " isa=" << internal::name_of(isa)
      << " threads=" << threads << (allow_winograd ? " fast-winograd" : "") << " N=" << N
      << (batched ? "" : " unbatched") << " C=" << cin << "->" << cout << " groups=" << groups << " S=" << v(S)
      << " K=" << v(K) << " stride=" << v(stride) << " dil=" << v(dil) << " padding#" << padding << " lo=" << v(lo)
      << " hi=" << v(hi) << " " << name_of(mode) << " " << name_of(conv_mode) << (bias ? " bias" : "")
      << " layout=" << layout;
    return o.str();
  }
};

Case decode(Bytes& in) {
  Case c;
  c.dim = static_cast<int>(in.in(1, 3));
  constexpr DType kDtypes[] = {kFloat32, kFloat32, kFloat32, kFloat32, kFloat32,
                               kFloat64, kFloat16, kBFloat16, kComplex64};
  c.dtype = kDtypes[in.in(0, 8)];
  c.algo = static_cast<Algorithm>(in.in(0, 4));
  c.isa = static_cast<internal::Isa>(in.in(0, 3));  // (amx: the bfloat16 tiles where the CPU has them)
  c.threads = static_cast<int>(in.in(1, 2));
  c.allow_winograd = in.in(0, 1);
  const int64_t family = in.in(0, 3);  // generic, depthwise, wide (Winograd-able), pointwise
  // One wide case in 8 is large: 2-d Winograd over several 32-tile blocks, 1-d dilations past
  // 16 (lane groups of 16 sub-sequences).
  const bool large = family == 2 && in.in(0, 7) == 0;
  const int64_t max_s = c.dim == 1 ? (large ? 120 : 40) : c.dim == 2 ? (large ? 30 : family == 2 ? 8 : 12) : 5;
  for (int d = 0; d < c.dim; ++d) {
    c.S.push_back(in.in(1, max_s));
    c.K.push_back(family == 2 ? 3 : family == 3 ? 1 : in.in(1, c.dim == 3 ? 3 : 5));
    c.stride.push_back(family == 2 ? 1 : in.in(1, 3));
    c.dil.push_back(in.in(1, large && c.dim == 1 ? 24 : 3));
    c.lo.push_back(in.in(0, 3));
    c.hi.push_back(in.in(0, 3));
  }
  if (family == 1) {  // depthwise, multiplier 1 or 2
    c.groups = c.cin = in.in(1, 24);
    c.cout = c.cin * in.in(1, 2);
  } else if (family == 2 || family == 3) {
    c.cin = in.in(family == 2 ? 32 : 8, family == 2 ? 40 : 70);
    c.cout = in.in(family == 2 ? 32 : 8, family == 2 ? 40 : 70);
  } else {
    c.groups = in.in(1, 3);
    c.cin = c.groups * in.in(1, 5);
    c.cout = c.groups * in.in(1, 5);
  }
  c.N = in.in(0, family == 2 ? 1 : 2);
  c.batched = c.N != 1 || in.in(0, 3) != 0;
  c.padding = static_cast<int>(in.in(0, 4));
  if (c.padding == 4 && c.dim != 1) c.padding = 0;
  constexpr PaddingMode kModes[] = {PaddingMode::Zeros, PaddingMode::Zeros, PaddingMode::Reflect,
                                    PaddingMode::Replicate, PaddingMode::Circular};
  c.mode = kModes[in.in(0, 4)];
  c.conv_mode = in.in(0, 3) == 0 ? ConvMode::Convolution : ConvMode::CrossCorrelation;
  c.bias = in.in(0, 3) != 0;
  c.layout = static_cast<int>(in.in(0, 3));
  return c;
}

template <std::size_t D>
internal::ConvArgs args_of(const Case& c, Algorithm algo) {
  F::ConvFuncOptions<D> o;
  o.stride(c.stride).dilation(c.dil).groups(c.groups).padding_mode(c.mode).conv_mode(c.conv_mode).algorithm(algo);
  if (c.padding == 0) {
    o.padding(c.lo);
  } else if (c.padding == 1) {
    std::vector<std::pair<int64_t, int64_t>> pairs;
    for (int d = 0; d < c.dim; ++d) pairs.emplace_back(c.lo[d], c.hi[d]);
    o.padding(pairs);
  } else {
    o.padding(c.padding == 2 ? "same" : c.padding == 3 ? "valid" : "causal");
  }
  return internal::conv_args(ConvSpec::from(o));
}

// The plan F::convNd makes for these arguments (conv.cc's conv_forward, step by step), so
// the check knows which algorithm ran; run it with internal::run_plan.
std::unique_ptr<internal::ConvPlan> plan_of(const Case& c, const Tensor& x, const Tensor& w, const Tensor& b,
                                            Algorithm algo) {
  const internal::ConvArgs args = c.dim == 1 ? args_of<1>(c, algo) : c.dim == 2 ? args_of<2>(c, algo) : args_of<3>(c, algo);
  const internal::ConvCall call = internal::prepare_conv(x, w, b, args);
  const bool cl = call.params.batched && call.params.dim == 2 && internal::is_channels_last(x);
  return internal::make_plan(call.params, call.w, call.b, algo, c.allow_winograd, cl);
}

// The plan's output for x, in the memory format F::convNd gives it.
Tensor run(const internal::ConvPlan& plan, const Tensor& x, const Tensor& w) {
  return internal::run_plan(plan, x, internal::channels_last_result(plan.params, x, internal::weight_channels_last(w)));
}

Tensor conv(const Case& c, const Tensor& x, const Tensor& w, const Tensor& b, Algorithm algo) {
  return run(*plan_of(c, x, w, b, algo), x, w);
}

// Values ~ N(0, 1) from the seed; then up to three chosen by the input: inf, -inf, NaN, a
// subnormal or zero (at the first, last, or a chosen element).
std::vector<std::complex<double>> values(int64_t n, std::mt19937& rng, Bytes& in, bool complex) {
  std::normal_distribution<double> normal;
  std::vector<std::complex<double>> v(static_cast<std::size_t>(n));
  for (auto& e : v) e = {normal(rng), complex ? normal(rng) : 0.0};
  if (n == 0) return v;
  const int64_t specials = in.in(0, 3);
  for (int64_t i = 0; i < specials; ++i) {
    const int64_t where = in.in(0, 2);
    const auto at = static_cast<std::size_t>(where == 0 ? 0 : where == 1 ? n - 1 : static_cast<int64_t>(in.u32() % n));
    constexpr double kInf = std::numeric_limits<double>::infinity();
    const double special[] = {kInf, -kInf, std::numeric_limits<double>::quiet_NaN(), 1e-40 * v[at].real(), 0.0};
    v[at] = {special[in.in(0, 4)], v[at].imag()};
  }
  return v;
}

// The values as a tensor of dtype in the case's layout (strided layouts hold NaN between
// the elements, so reading outside the view shows).
Tensor make(const std::vector<std::complex<double>>& v, Shape shape, DType dtype, int layout, bool is_input) {
  const bool complex = dtype == kComplex64 || dtype == kComplex128;
  auto build = [&](const std::vector<std::complex<double>>& vals, const Shape& s) {
    if (complex) return Tensor::from_values(vals, s, dtype);
    std::vector<double> re(vals.size());
    for (std::size_t i = 0; i < vals.size(); ++i) re[i] = vals[i].real();
    return Tensor::from_values(re, s, dtype);
  };
  if (!is_input || layout == 0 || shape.size() < 3) return build(v, shape);
  if (layout == 2) {  // every other element of the last dim
    Shape wide = shape;
    wide.back() *= 2;
    std::vector<std::complex<double>> wv(v.size() * 2, {std::numeric_limits<double>::quiet_NaN(), 0.0});
    for (std::size_t i = 0; i < v.size(); ++i) wv[2 * i] = v[i];
    return build(wv, wide).slice(static_cast<int64_t>(shape.size()) - 1, 0, wide.back(), 2);
  }
  // channels-last: memory in [N, *S, C] order, viewed as [N, C, *S]
  std::vector<int64_t> to_last{0}, back(shape.size());
  for (std::size_t d = 2; d < shape.size(); ++d) to_last.push_back(static_cast<int64_t>(d));
  to_last.push_back(1);
  for (std::size_t d = 0; d < to_last.size(); ++d) back[static_cast<std::size_t>(to_last[d])] = static_cast<int64_t>(d);
  return build(v, shape).permute(to_last).contiguous().permute(back);
}

double unit_roundoff(DType t) {
  switch (t) {
    case DType::Float16: return std::ldexp(1.0, -11);
    case DType::BFloat16: return std::ldexp(1.0, -8);
    case DType::Float64: case DType::Complex128: return std::ldexp(1.0, -53);
    default: return std::ldexp(1.0, -24);
  }
}

double smallest_subnormal(DType t) {
  switch (t) {
    case DType::Float16: return std::ldexp(1.0, -24);
    case DType::BFloat16: return std::ldexp(1.0, -133);
    case DType::Float64: case DType::Complex128: return std::ldexp(1.0, -1074);
    default: return std::ldexp(1.0, -149);
  }
}

// NaN, +inf, -inf or finite.
int value_class(double v) { return std::isnan(v) ? 0 : std::isinf(v) ? (v > 0 ? 1 : 2) : 3; }

std::string compare(const Case& c, const Tensor& y, const Tensor& exact, const Tensor& bound, double terms,
                    bool winograd) {
  if (y.sizes() != exact.sizes()) return "output shape differs from the reference's";
  const auto vy = y.to_complex_vector(), ve = exact.to_complex_vector();
  auto va = bound.to_complex_vector();
  if (winograd) {  // a tile mixes its window: an output's error scales with its plane's terms
    const std::size_t plane = static_cast<std::size_t>(std::max<int64_t>(1, y.numel() / std::max<int64_t>(1, c.N * c.cout)));
    for (std::size_t p0 = 0; p0 < va.size(); p0 += plane) {
      double top = 0;
      for (std::size_t i = p0; i < std::min(va.size(), p0 + plane); ++i) top = std::max(top, va[i].real());
      for (std::size_t i = p0; i < std::min(va.size(), p0 + plane); ++i) va[i] = top;
    }
  }
  const bool complex = c.dtype == kComplex64;
  const double cst = winograd ? 64 : complex ? 2 : 1;
  const double u_acc = c.dtype == kFloat64 ? unit_roundoff(kFloat64) : unit_roundoff(kFloat32);
  // The AMX tiles flush bfloat16 values and partial sums below 2^-126 to zero (docs/guarantees.md):
  // each term and each partial sum may lose that much (the 8: weights up to 8 in magnitude).
  const bool flushes = c.dtype == kBFloat16 && c.isa == internal::Isa::Amx;
  const double u_out = unit_roundoff(c.dtype), tiny = flushes ? 8 * std::ldexp(1.0, -126) : smallest_subnormal(c.dtype);
  for (std::size_t i = 0; i < vy.size(); ++i) {
    const std::complex<double> a = vy[i], e = ve[i];
    const bool finite = std::isfinite(e.real()) && std::isfinite(e.imag());
    if (!finite || !std::isfinite(a.real()) || !std::isfinite(a.imag())) {
      if (value_class(a.real()) != value_class(e.real()) || value_class(a.imag()) != value_class(e.imag()))
        return internal::str_cat("element ", i, ": ", a.real(), "+", a.imag(), "i where a direct convolution gives ",
                                 e.real(), "+", e.imag(), "i");
      continue;
    }
    const double tol =
        cst * ((terms + 2) * u_acc * va[i].real() + u_out * std::abs(e)) + cst * (terms + 2) * tiny;
    if (!(std::abs(a - e) <= tol))
      return internal::str_cat("element ", i, ": ", a.real(), "+", a.imag(), "i vs ", e.real(), "+", e.imag(),
                               "i, error ", std::abs(a - e), " > tolerance ", tol);
  }
  return "";
}

struct Scope {  // the ISA cap and thread count of one case; the caller's are restored after
  explicit Scope(const Case& c) : threads(get_num_threads()) {
    const char* cap = std::getenv("CONVKIT_MAX_ISA");
    had_cap = cap != nullptr;
    if (had_cap) old_cap = cap;
    setenv("CONVKIT_MAX_ISA", internal::name_of(c.isa), 1);
  }
  ~Scope() {
    if (had_cap) setenv("CONVKIT_MAX_ISA", old_cap.c_str(), 1);
    else unsetenv("CONVKIT_MAX_ISA");
    set_num_threads(threads);
  }
  int threads;
  bool had_cap = false;
  std::string old_cap;
};

Tensor abs_of(const Tensor& t) {
  if (!t.defined()) return t;
  auto v = t.to_complex_vector();
  std::vector<double> a(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) a[i] = std::abs(v[i]);
  return Tensor::from_values(a, t.sizes(), kFloat64);
}

// The gradients of the case for a grad_output drawn like the inputs (inf, NaN, subnormals
// included), direction chosen by the input: backward_data or backward_weights, on the path
// auto (or the forced gemm/reference) takes, against the float64 reference under the model
// of docs/guarantees.md, and bitwise the same for the other thread count.
std::string gradient_differential(const Case& c, Bytes& in, std::mt19937& rng, const Tensor& x, const Tensor& w,
                                  const Tensor& y) {
  const int64_t dir = in.in(0, 2);  // 0: forward only
  if (dir == 0) return "";
  const Algorithm algo = c.algo == Algorithm::Gemm || c.algo == Algorithm::Reference ? c.algo : Algorithm::Auto;
  const internal::ConvArgs args = c.dim == 1 ? args_of<1>(c, algo) : c.dim == 2 ? args_of<2>(c, algo) : args_of<3>(c, algo);
  internal::ConvArgs ref_args = args;
  ref_args.algorithm = Algorithm::Reference;
  const bool complex = c.dtype == kComplex64;
  const Tensor gy = make(values(y.numel(), rng, in, complex), y.sizes(), c.dtype, 0, false);
  const F::OutputMask mask{dir == 1, dir == 2, false};
  auto pick = [&](const F::ConvGradients& g) { return dir == 1 ? g.grad_input : g.grad_weight; };
  set_num_threads(c.threads);
  Tensor g;
  try {
    g = pick(internal::conv_backward(gy, x, w, args, mask));
  } catch (const Error& e) {  // a forced gemm whose forward computes but not this gradient (float64's)
    if (algo == Algorithm::Gemm) return "";
    return internal::str_cat(c.str(), " ", dir == 1 ? "backward_data" : "backward_weights", ": refused: ", e.what());
  }
  set_num_threads(3 - c.threads);
  const Tensor g2 = pick(internal::conv_backward(gy, x, w, args, mask));
  if (std::memcmp(g.const_data_ptr(), g2.const_data_ptr(), static_cast<std::size_t>(g.numel() * g.element_size())))
    return internal::str_cat(c.str(), " ", dir == 1 ? "backward_data" : "backward_weights",
                             ": 1 and 2 threads give different bits");
  const DType wide = complex ? kComplex128 : kFloat64;
  const Tensor exact = pick(internal::conv_backward(gy.to(wide), x.to(wide), w.to(wide), ref_args, mask));
  const Tensor bound = pick(internal::conv_backward(abs_of(gy), abs_of(x), abs_of(w), ref_args, mask));
  // Terms per result: C_out/groups taps (each folded up to taps times by a padding mode) for
  // grad_input; N times the output positions for grad_weight.
  double taps = 1;
  for (int64_t k : c.K) taps *= static_cast<double>(k);
  const double terms = dir == 1 ? static_cast<double>(c.cout / c.groups) * taps * (c.mode == PaddingMode::Zeros ? 1 : taps)
                                : static_cast<double>(y.numel() / std::max<int64_t>(1, c.cout));
  const std::string diff = compare(c, g, exact, bound, terms, false);
  return diff.empty() ? "" : internal::str_cat(c.str(), " ", dir == 1 ? "backward_data" : "backward_weights", ": ", diff);
}

}  // namespace

std::string conv_differential(const uint8_t* data, std::size_t size) {
  Bytes in(data, size);
  const Case c = decode(in);
  std::mt19937 rng(in.u32());
  Shape xs{c.N, c.cin}, ws{c.cout, c.cin / c.groups};
  xs.insert(xs.end(), c.S.begin(), c.S.end());
  ws.insert(ws.end(), c.K.begin(), c.K.end());
  const bool complex = c.dtype == kComplex64;
  const auto xv = values(checked_numel(xs), rng, in, complex);
  const auto wv = values(checked_numel(ws), rng, in, complex);
  const auto bv = values(c.cout, rng, in, complex);
  Tensor x = make(xv, xs, c.dtype, c.layout == 3 ? 0 : c.layout, true);
  const Tensor w = make(wv, ws, c.dtype, c.layout == 3 ? 1 : 0, c.layout == 3);
  const Tensor b = c.bias ? make(bv, {c.cout}, c.dtype, 0, false) : Tensor();
  if (!c.batched) x = x.select(0, 0);

  Scope scope(c);
  Tensor ref;
  std::string refused;
  try {
    ref = conv(c, x, w, b, Algorithm::Reference);
  } catch (const Error& e) {
    refused = e.what();
  }
  Tensor y;
  std::unique_ptr<internal::ConvPlan> plan;
  try {
    set_num_threads(c.threads);
    plan = plan_of(c, x, w, b, c.algo);
    y = run(*plan, x, w);
  } catch (const Error& e) {
    if (!refused.empty() || c.algo != Algorithm::Auto) return "";  // refused by both, or not this algorithm's case
    return internal::str_cat(c.str(), ": auto refused what the reference computes: ", e.what());
  }
  if (!refused.empty())
    return internal::str_cat(c.str(), ": computed what the reference refuses (", refused, ")");

  // Bitwise the same result for the other thread count, from the same plan.
  set_num_threads(3 - c.threads);
  const Tensor y2 = run(*plan, x, w);
  if (std::memcmp(y.const_data_ptr(), y2.const_data_ptr(), static_cast<std::size_t>(y.numel() * y.element_size())))
    return internal::str_cat(c.str(), ": 1 and 2 threads give different bits");

  // The exact values (float64 direct convolution of the same values) and the bound's A_i.
  const DType wide = complex ? kComplex128 : kFloat64;
  const Tensor exact = conv(c, x.to(wide), w.to(wide), b.defined() ? b.to(wide) : b, Algorithm::Reference);
  const Tensor bound = conv(c, abs_of(x), abs_of(w), abs_of(b), Algorithm::Reference);
  double terms = static_cast<double>(c.cin / c.groups);
  for (int64_t k : c.K) terms *= static_cast<double>(k);
  const bool winograd = plan->choice.algorithm == Algorithm::Winograd;
  std::string diff = compare(c, y, exact, bound, terms, winograd);
  if (diff.empty()) diff = compare(c, ref, exact, bound, terms, false);  // the reference itself
  if (!diff.empty()) return internal::str_cat(c.str(), ": ", diff);
  return gradient_differential(c, in, rng, x, w, y);
}

}  // namespace convkit::fuzz
