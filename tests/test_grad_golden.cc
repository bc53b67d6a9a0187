// Every gradient and transposed-convolution case recorded from PyTorch's autograd
// (tests/golden/gen_grad_golden.py) through the public API, and the float32 tolerance model of
// docs/guarantees.md: |computed - exact| <= n * 2^-24 * sum|terms| + one rounding of the result,
// n being the reduction length.
#include <numeric>
#include <set>

#include "test_util.h"

namespace convkit::test {
namespace {

using nlohmann::json;

const json& grad_golden() {
  static const json j = load_golden("grad_golden.json");
  return j;
}

template <std::size_t D>
F::ConvGradients conv_grads(const json& c, const Tensor& gy, const Tensor& x, const Tensor& w, Algorithm a) {
  nn::functional::ConvFuncOptions<D> o;
  o.stride(c.at("stride").get<std::vector<int64_t>>()).dilation(c.at("dilation").get<std::vector<int64_t>>());
  o.groups(c.at("groups").get<int64_t>()).padding_mode(c.at("padding_mode").get<std::string>());
  o.conv_mode(c.at("conv_mode").get<std::string>()).algorithm(a);
  apply_padding(o, c.at("padding"));
  return F::conv_backward(gy, x, w, o);
}
F::ConvGradients conv_grads(const json& c, const Tensor& gy, const Tensor& x, const Tensor& w,
                            Algorithm a = Algorithm::Auto) {
  switch (c.at("dim").get<int>()) {
    case 1: return conv_grads<1>(c, gy, x, w, a);
    case 2: return conv_grads<2>(c, gy, x, w, a);
    default: return conv_grads<3>(c, gy, x, w, a);
  }
}

Tensor abs64(const Tensor& t) {
  auto v = t.to_complex_vector();
  std::vector<double> a;
  for (const auto& z : v) a.push_back(std::abs(z));
  return Tensor::from_values(a, t.sizes(), kFloat64);
}

// |got - exact| <= n * 2^-24 * bound + 2^-24 * |exact| elementwise, where bound is the sum of
// |terms| (the same reduction on absolute values, in float64).
::testing::AssertionResult within_model(const Tensor& got, const Tensor& exact, const Tensor& bound, double n) {
  const auto g = got.to_complex_vector(), e = exact.to_complex_vector();
  const auto b = bound.to_vector();
  for (std::size_t i = 0; i < g.size(); ++i) {
    const double tol = n * 0x1p-24 * b[i] + 0x1p-24 * std::abs(e[i]);
    if (!(std::abs(g[i] - e[i]) <= tol))
      return ::testing::AssertionFailure() << "[" << i << "] " << g[i] << " vs " << e[i] << " beyond " << tol;
  }
  return ::testing::AssertionSuccess();
}

class GoldenGrad : public ::testing::TestWithParam<std::size_t> {};

TEST_P(GoldenGrad, MatchesPyTorch) {
  const json& c = grad_golden().at("backward_cases")[GetParam()];
  SCOPED_TRACE(c.at("name").get<std::string>());
  const DType dt = dtype_from_name(c.at("dtype"));
  const Tensor x = tensor_from_json(c.at("input"), dt), w = tensor_from_json(c.at("weight"), dt);
  const Tensor gy = tensor_from_json(c.at("grad_output"), dt);
  const auto g = conv_grads(c, gy, x, w);
  const double tol = dtype_tolerance(dt);
  EXPECT_TRUE(all_close(g.grad_input, tensor_from_json(c.at("grad_input"), dt), tol));
  EXPECT_TRUE(all_close(g.grad_weight, tensor_from_json(c.at("grad_weight"), dt), tol));
  EXPECT_TRUE(all_close(g.grad_bias, tensor_from_json(c.at("grad_bias"), dt), tol));
  EXPECT_EQ(g.grad_input.dtype(), dt);

  // float32: within the tolerance model of the float64 gradients of the same values.
  if (dt != kFloat32) return;
  const auto g64 = conv_grads(c, gy.to(kFloat64), x.to(kFloat64), w.to(kFloat64));
  const auto bound = conv_grads(c, abs64(gy), abs64(x), abs64(w));
  const int64_t dim = c.at("dim").get<int64_t>();
  const Shape& ws = w.sizes();
  const double taps = std::accumulate(ws.end() - dim, ws.end(), 1.0, std::multiplies<>());
  const double per_input = static_cast<double>(ws[0]) / static_cast<double>(c.at("groups").get<int64_t>()) * taps;
  const double per_weight = static_cast<double>(gy.numel()) / static_cast<double>(gy.size(gy.dim() - dim - 1));
  // Reflect/replicate/circular fold several taps onto one input: at most taps times more terms.
  EXPECT_TRUE(within_model(g.grad_input, g64.grad_input, bound.grad_input, per_input * taps));
  EXPECT_TRUE(within_model(g.grad_weight, g64.grad_weight, bound.grad_weight, per_weight));
  EXPECT_TRUE(within_model(g.grad_bias, g64.grad_bias, bound.grad_bias, per_weight));
}

std::vector<std::size_t> indices(const char* key) {
  std::vector<std::size_t> v(grad_golden().at(key).size());
  std::iota(v.begin(), v.end(), 0);
  return v;
}

INSTANTIATE_TEST_SUITE_P(Golden, GoldenGrad, ::testing::ValuesIn(indices("backward_cases")),
                         [](const ::testing::TestParamInfo<std::size_t>& info) {
                           return grad_golden().at("backward_cases")[info.param].at("name").get<std::string>();
                         });

template <std::size_t D>
nn::functional::ConvTransposeFuncOptions<D> transpose_options(const json& c) {
  nn::functional::ConvTransposeFuncOptions<D> o;
  o.stride(c.at("stride").get<std::vector<int64_t>>()).dilation(c.at("dilation").get<std::vector<int64_t>>());
  o.groups(c.at("groups").get<int64_t>()).output_padding(c.at("output_padding").get<std::vector<int64_t>>());
  apply_padding(o, c.at("padding"));
  return o;
}

struct TransposeRun {
  Tensor y;
  F::ConvGradients g;
};

template <std::size_t D>
TransposeRun run_transpose(const json& c, const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& gy) {
  const auto o = transpose_options<D>(c);
  TransposeRun r;
  if constexpr (D == 1) r.y = F::conv_transpose1d(x, w, b, o);
  else if constexpr (D == 2) r.y = F::conv_transpose2d(x, w, b, o);
  else r.y = F::conv_transpose3d(x, w, b, o);
  r.g = F::conv_transpose_backward(gy, x, w, o);
  return r;
}

// The module path: output_size when the case had one, and backward's accumulation.
template <std::size_t D>
void check_module(const json& c, const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& gy,
                  const TransposeRun& r) {
  const int64_t g = c.at("groups").get<int64_t>();
  nn::ConvTransposeOptions<D> o(w.size(0), w.size(1) * g, std::vector<int64_t>(w.sizes().begin() + 2, w.sizes().end()));
  o.stride(c.at("stride").get<std::vector<int64_t>>()).dilation(c.at("dilation").get<std::vector<int64_t>>());
  o.groups(g).bias(b.defined()).dtype(x.dtype());
  apply_padding(o, c.at("padding"));
  const bool sized = !c.at("output_size").is_null();
  if (!sized) o.output_padding(c.at("output_padding").get<std::vector<int64_t>>());
  nn::ConvTransposeNdImpl<D> m(o);
  m.set_weight(w);
  if (b.defined()) m.set_bias(b);
  const Tensor y = sized ? m(x, c.at("output_size").get<Shape>()) : m(x);
  EXPECT_TRUE(bitwise_equal(y, r.y));
  EXPECT_TRUE(bitwise_equal(m.backward(x, gy), r.g.grad_input));
  EXPECT_TRUE(bitwise_equal(m.weight.grad(), r.g.grad_weight));
  if (b.defined()) {
    EXPECT_TRUE(bitwise_equal(m.bias.grad(), r.g.grad_bias));
  }
}

class GoldenTranspose : public ::testing::TestWithParam<std::size_t> {};

TEST_P(GoldenTranspose, MatchesPyTorch) {
  const json& c = grad_golden().at("transpose_cases")[GetParam()];
  SCOPED_TRACE(c.at("name").get<std::string>());
  const DType dt = dtype_from_name(c.at("dtype"));
  const Tensor x = tensor_from_json(c.at("input"), dt), w = tensor_from_json(c.at("weight"), dt);
  const Tensor b = c.at("bias").is_null() ? Tensor() : tensor_from_json(c.at("bias"), dt);
  const Tensor gy = tensor_from_json(c.at("grad_output"), dt);
  TransposeRun r;
  switch (c.at("dim").get<int>()) {
    case 1: r = run_transpose<1>(c, x, w, b, gy); check_module<1>(c, x, w, b, gy, r); break;
    case 2: r = run_transpose<2>(c, x, w, b, gy); check_module<2>(c, x, w, b, gy, r); break;
    default: r = run_transpose<3>(c, x, w, b, gy); check_module<3>(c, x, w, b, gy, r); break;
  }
  const double tol = dtype_tolerance(dt);
  EXPECT_TRUE(all_close(r.y, tensor_from_json(c.at("output"), dt), tol));
  EXPECT_TRUE(all_close(r.g.grad_input, tensor_from_json(c.at("grad_input"), dt), tol));
  EXPECT_TRUE(all_close(r.g.grad_weight, tensor_from_json(c.at("grad_weight"), dt), tol));
  if (!c.at("grad_bias").is_null()) {
    EXPECT_TRUE(all_close(r.g.grad_bias, tensor_from_json(c.at("grad_bias"), dt), tol));
  }
}

INSTANTIATE_TEST_SUITE_P(Golden, GoldenTranspose, ::testing::ValuesIn(indices("transpose_cases")),
                         [](const ::testing::TestParamInfo<std::size_t>& info) {
                           return grad_golden().at("transpose_cases")[info.param].at("name").get<std::string>();
                         });

TEST(GoldenGrad, CoversEveryDtypeRankAndPaddingMode) {
  std::set<std::string> seen;
  for (const char* key : {"backward_cases", "transpose_cases"})
    for (const auto& c : grad_golden().at(key))
      seen.insert(std::string(key) + c.at("dtype").get<std::string>() + std::to_string(c.at("dim").get<int>()));
  for (const char* key : {"backward_cases", "transpose_cases"})
    for (const char* t : {"float32", "float64", "float16", "bfloat16", "complex64", "complex128"})
      for (int d = 1; d <= 3; ++d) EXPECT_TRUE(seen.count(key + std::string(t) + std::to_string(d))) << key << t << d;
  std::set<std::string> modes, sized;
  for (const auto& c : grad_golden().at("backward_cases")) modes.insert(c.at("padding_mode").get<std::string>() + std::to_string(c.at("dim").get<int>()));
  for (const char* m : {"zeros", "reflect", "replicate", "circular"})
    for (int d = 1; d <= 3; ++d) EXPECT_TRUE(modes.count(m + std::to_string(d))) << m << d;
  int with_output_size = 0;
  for (const auto& c : grad_golden().at("transpose_cases")) with_output_size += !c.at("output_size").is_null();
  EXPECT_GE(with_output_size, 3);
}

}  // namespace
}  // namespace convkit::test
