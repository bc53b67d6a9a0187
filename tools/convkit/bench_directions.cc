#include "tools/convkit/bench_directions.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <sstream>
#include <tuple>
#include <utility>

#include "tools/convkit/conv_command.h"

namespace convkit::tool {

using internal::str_cat;

namespace {

template <std::size_t D>
nn::ConvTransposeOptions<D> transposed_options(const BenchShape& s) {
  return nn::ConvTransposeOptions<D>(s.c_in, s.c_out, s.kernel)
      .stride(s.stride)
      .padding(s.padding)
      .output_padding(s.output_padding.empty() ? Shape(s.dim(), 0) : s.output_padding)
      .dilation(s.dilation)
      .groups(s.groups);
}

template <std::size_t D>
std::pair<Tensor, Tensor> init_parameters(const BenchShape& s) {
  if (s.transposed) {
    const nn::ConvTransposeNdImpl<D> m(transposed_options<D>(s));
    return {m.weight, m.bias};
  }
  const nn::ConvNdImpl<D> m(module_options<D>(s));
  return {m.weight, m.bias};
}

std::vector<Tensor> from_gradients(BenchDirection dir, const F::ConvGradients& g) {
  if (dir == BenchDirection::bwd_data) return {g.grad_input};
  return {g.grad_weight, g.grad_bias};
}

template <std::size_t D>
F::ConvTransposeFuncOptions<D> transposed_func_options(const BenchShape& s, const char* algorithm) {
  return F::ConvTransposeFuncOptions<D>()
      .stride(s.stride)
      .padding(s.padding)
      .output_padding(s.output_padding.empty() ? Shape(D, 0) : s.output_padding)
      .dilation(s.dilation)
      .groups(s.groups)
      .algorithm(algorithm);
}

template <std::size_t D>
F::ConvFuncOptions<D> func_options(const BenchShape& s, const char* algorithm) {
  return F::ConvFuncOptions<D>().stride(s.stride).padding(s.padding).dilation(s.dilation).groups(s.groups).algorithm(
      algorithm);
}

F::OutputMask mask_of(BenchDirection dir) {
  return dir == BenchDirection::bwd_data ? F::OutputMask{true, false, false} : F::OutputMask{false, true, true};
}

template <std::size_t D>
std::vector<Tensor> outputs_d(const BenchShape& s, BenchDirection dir, const BenchData& d, bool reference) {
  const char* algorithm = reference ? "reference" : "auto";
  if (s.transposed) {
    const auto o = transposed_func_options<D>(s, algorithm);
    if (dir != BenchDirection::fwd) return from_gradients(dir, F::conv_transpose_backward(d.dy, d.x, d.w, o, mask_of(dir)));
    if constexpr (D == 1) return {F::conv_transpose1d(d.x, d.w, d.b, o)};
    else if constexpr (D == 2) return {F::conv_transpose2d(d.x, d.w, d.b, o)};
    else return {F::conv_transpose3d(d.x, d.w, d.b, o)};
  }
  const auto o = func_options<D>(s, algorithm);
  if (dir != BenchDirection::fwd) return from_gradients(dir, F::conv_backward(d.dy, d.x, d.w, o, mask_of(dir)));
  if constexpr (D == 1) return {F::conv1d(d.x, d.w, d.b, o)};
  else if constexpr (D == 2) return {F::conv2d(d.x, d.w, d.b, o)};
  else return {F::conv3d(d.x, d.w, d.b, o)};
}

template <std::size_t D>
ConvSpec spec_d(const BenchShape& s) {
  return s.transposed ? ConvSpec::from(transposed_func_options<D>(s, "auto")) : ConvSpec::from(func_options<D>(s, "auto"));
}

// 2048 positions in [0, numel) picked by splitmix64, after the first and the last element:
// deterministic, and unlike an even stride they cannot alias with the row length; the ends
// cover both padded corners.
std::vector<int64_t> sample_positions(int64_t numel) {
  std::vector<int64_t> index = {0, numel - 1};
  uint64_t state = 0x5EED;
  for (int i = 0; i < 2048 && static_cast<int64_t>(index.size()) < numel; ++i) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    index.push_back(static_cast<int64_t>((z ^ (z >> 31)) % static_cast<uint64_t>(numel)));
  }
  return index;
}

}  // namespace

BenchData make_bench_data(const BenchShape& s, bool with_grad) {
  BenchData d;
  Shape xs{s.n, s.c_in}, ys{s.n, s.c_out};
  xs.insert(xs.end(), s.spatial.begin(), s.spatial.end());
  for (int64_t o : s.out_spatial()) ys.push_back(o);
  d.x = randn(xs);
  switch (s.dim()) {
    case 1: std::tie(d.w, d.b) = init_parameters<1>(s); break;
    case 2: std::tie(d.w, d.b) = init_parameters<2>(s); break;
    default: std::tie(d.w, d.b) = init_parameters<3>(s); break;
  }
  if (with_grad) d.dy = randn(ys);
  return d;
}

BenchData BenchData::to(DType t) const {
  auto conv = [t](const Tensor& v) { return v.defined() ? v.to(t) : v; };
  return {conv(x), conv(w), conv(b), conv(dy)};
}

void warm_up(const std::vector<int>& threads, bool backward) {
  // The OpenMP team of each thread count, first use of the code and of the allocator. (Its own
  // generator and no module init: the shapes' data stays what the default generator gives.)
  Generator gen(1);
  namespace F = nn::functional;  // enough work for every thread
  for (int t : threads) {
    set_num_threads(t);
    (void)F::conv2d(randn({1, 32, 32, 32}, kFloat32, &gen), randn({32, 32, 3, 3}, kFloat32, &gen), {},
                    F::Conv2dFuncOptions().padding(1));
    (void)F::conv1d(randn({16, 16, 64}, kFloat32, &gen), randn({32, 16, 3}, kFloat32, &gen), {},
                    F::Conv1dFuncOptions().stride(2));
    if (!backward) continue;
    const Tensor x = randn({1, 32, 32, 32}, kFloat32, &gen), w = randn({32, 32, 3, 3}, kFloat32, &gen);
    const auto o = F::Conv2dFuncOptions().padding(1);
    (void)F::conv_backward(F::conv2d(x, w, {}, o), x, w, o);
    (void)F::conv_transpose2d(x, w, {}, F::ConvTranspose2dFuncOptions().stride(2));
  }
}

BenchData BenchData::channels_last() const {
  auto cl = [](const Tensor& v) { return v.defined() ? v.permute({0, 2, 3, 1}).contiguous().permute({0, 3, 1, 2}) : v; };
  return {cl(x), w, b, cl(dy)};
}

std::function<std::vector<Tensor>()> convkit_prepared(const BenchShape& s, BenchDirection dir, const BenchData& d) {
  const ConvSpec spec = s.dim() == 1 ? spec_d<1>(s) : s.dim() == 2 ? spec_d<2>(s) : spec_d<3>(s);
  auto plan = std::make_shared<ConvPlan>();
  return [plan, spec, dir, &d] {
    if (!plan->defined()) *plan = prepare(spec, d.w, d.b, d.x.sizes());
    if (dir == BenchDirection::fwd) return std::vector<Tensor>{plan->run(d.x)};
    return from_gradients(dir, plan->backward(d.x, d.dy, mask_of(dir)));
  };
}

std::vector<Tensor> convkit_outputs(const BenchShape& s, BenchDirection dir, const BenchData& data, bool reference) {
  switch (s.dim()) {
    case 1: return outputs_d<1>(s, dir, data, reference);
    case 2: return outputs_d<2>(s, dir, data, reference);
    default: return outputs_d<3>(s, dir, data, reference);
  }
}

double reference_mac_limit(const BenchShape& s, BenchDirection dir) {
  return !s.transposed && dir == BenchDirection::fwd ? 2e9 : 2e8;
}

Expected full_expected(const std::string& kind, const std::vector<Tensor>& results) {
  Expected e;
  e.kind = kind;
  for (const Tensor& t : results) {
    Expected::Part p;
    p.full = t.contiguous();
    p.shape = p.full.sizes();
    const float* q = p.full.const_data<float>();
    for (int64_t i = 0; i < p.full.numel(); ++i) p.max_abs = std::max(p.max_abs, std::abs(static_cast<double>(q[i])));
    e.parts.push_back(std::move(p));
  }
  return e;
}

Expected sampled_expected(const BenchShape& s, BenchDirection dir, const BenchData& data) {
  // A transposed layer's results are those of its matching convolution m with roles swapped:
  // its forward is m's input gradient (for dy = x), its input gradient m's forward (of dy),
  // its weight gradient m's weight gradient for input dy and output gradient x.
  const BenchShape m = s.matching_conv();
  const float* x = data.x.const_data<float>();
  const float* w = data.w.const_data<float>();
  const float* b = data.b.defined() ? data.b.const_data<float>() : nullptr;
  const float* dy = data.dy.defined() ? data.dy.const_data<float>() : nullptr;
  Shape ys{s.n, s.c_out};
  for (int64_t o : s.out_spatial()) ys.push_back(o);
  const int64_t ovol = std::accumulate(ys.begin() + 2, ys.end(), int64_t{1}, std::multiplies<>());
  Expected e;
  e.kind = "sampled";
  Expected::Part p;
  p.shape = dir == BenchDirection::fwd ? ys : dir == BenchDirection::bwd_data ? data.x.sizes() : data.w.sizes();
  p.index = sample_positions(std::accumulate(p.shape.begin(), p.shape.end(), int64_t{1}, std::multiplies<>()));
  for (int64_t i : p.index) {
    double v = 0;
    switch (dir) {
      case BenchDirection::fwd:
        v = s.transposed ? point_grad_input(m, x, w, i) + (b ? b[(i / ovol) % s.c_out] : 0.0) : point_value(s, x, w, b, i);
        break;
      case BenchDirection::bwd_data:
        v = s.transposed ? point_value(m, dy, w, nullptr, i) : point_grad_input(s, dy, w, i);
        break;
      case BenchDirection::bwd_weights:
        v = s.transposed ? point_grad_weight(m, dy, x, i) : point_grad_weight(s, x, dy, i);
        break;
    }
    p.value.push_back(v);
    p.max_abs = std::max(p.max_abs, std::abs(v));
  }
  e.parts.push_back(std::move(p));
  if (dir == BenchDirection::bwd_weights) {  // the bias gradient: dy summed over N and positions
    Expected::Part pb;
    pb.shape = {s.c_out};
    for (int64_t c = 0; c < s.c_out; ++c) {
      double acc = 0;
      for (int64_t n = 0; n < s.n; ++n)
        for (int64_t j = 0; j < ovol; ++j) acc += dy[(n * s.c_out + c) * ovol + j];
      pb.index.push_back(c);
      pb.value.push_back(acc);
      pb.max_abs = std::max(pb.max_abs, std::abs(acc));
    }
    e.parts.push_back(std::move(pb));
  }
  return e;
}

std::string check_label(const Expected& e) {
  if (e.kind == "none") return "skipped";
  return e.kind == "reference" ? "ok" : "ok(" + e.kind + ")";
}

double check_tolerance(DType t) {
  // float32's, plus a unit in the last place of a 16-bit result (relative): its rounding, and
  // room for a path that rounds once more (oneDNN's bfloat16 forward differs from the float32
  // sums of the same values by up to 0.8 of a unit).
  return 1e-4 + (t == kBFloat16 ? 0x1p-8 : t == kFloat16 ? 0x1p-10 : 0.0);
}

std::string check_outputs(const std::vector<Tensor>& got, const Expected& e, double rel_tol) {
  if (e.kind == "none") return "";
  if (got.size() != e.parts.size()) return str_cat(got.size(), " results, expected ", e.parts.size());
  static const char* const kPartNames[] = {"", " (bias gradient)"};
  for (std::size_t k = 0; k < got.size(); ++k) {
    const Expected::Part& p = e.parts[k];
    if (!got[k].defined()) return str_cat("result ", k, " is undefined");
    const Tensor y = got[k].to(kFloat32).contiguous();
    const float* q = y.const_data<float>();
    const double tol = rel_tol * (1 + p.max_abs);
    double worst = 0;
    int64_t at = -1;
    auto consider = [&](int64_t i, double want) {
      const double diff = std::abs(static_cast<double>(q[i]) - want);
      if (std::isnan(worst)) return;  // the first NaN is the one to report
      if (std::isnan(diff) || diff > worst) worst = diff, at = i;
    };
    if (y.sizes() != p.shape)
      return str_cat("result shape ", shape_str(y.sizes()), " != expected ", shape_str(p.shape));
    if (p.full.defined()) {
      const float* r = p.full.const_data<float>();
      for (int64_t i = 0; i < y.numel(); ++i) consider(i, r[i]);
    } else {
      for (std::size_t j = 0; j < p.index.size(); ++j) consider(p.index[j], p.value[j]);
    }
    if (worst <= tol) continue;
    std::ostringstream os;
    os.precision(3);
    os << "max |diff| " << worst << " at flat index " << at << kPartNames[std::min<std::size_t>(k, 1)]
       << " > tolerance " << tol << " (vs " << e.kind << ")";
    return os.str();
  }
  return "";
}

}  // namespace convkit::tool
