// Every golden case recorded from PyTorch (tests/golden/gen_golden.py) through the public
// API: functional, module, non-contiguous inputs, and the float64 oracle.
#include <numeric>
#include <set>

#include "test_util.h"

namespace convkit::test {
namespace {

using nlohmann::json;

template <std::size_t D, typename Opt>
void apply_common(Opt& o, const json& c) {
  o.stride(c.at("stride").get<std::vector<int64_t>>());
  o.dilation(c.at("dilation").get<std::vector<int64_t>>());
  o.groups(c.at("groups").get<int64_t>());
  apply_padding(o, c.at("padding"));
  o.padding_mode(c.at("padding_mode").get<std::string>());
  o.conv_mode(c.at("conv_mode").get<std::string>());
  o.compute_mode(c.at("compute_mode").get<std::string>());
}

template <std::size_t D>
Tensor run_functional(const json& c, const Tensor& x, const Tensor& w, const Tensor& b,
                      Algorithm algo = Algorithm::Auto) {
  nn::functional::ConvFuncOptions<D> o;
  apply_common<D>(o, c);
  o.algorithm(algo);
  if constexpr (D == 1) return F::conv1d(x, w, b, o);
  else if constexpr (D == 2) return F::conv2d(x, w, b, o);
  else return F::conv3d(x, w, b, o);
}

template <std::size_t D>
Tensor run_module(const json& c, const Tensor& x, const Tensor& w, const Tensor& b) {
  const int64_t groups = c.at("groups").get<int64_t>();
  const Tensor wc = w.dim() == static_cast<int64_t>(D) + 3 ? w.reshape([&] {
    Shape s{w.size(0) * w.size(1)};
    for (int64_t i = 2; i < w.dim(); ++i) s.push_back(w.size(i));
    return s;
  }()) : w;
  std::vector<int64_t> k(wc.sizes().begin() + 2, wc.sizes().end());
  nn::ConvOptions<D> o(wc.size(1) * groups, wc.size(0), k);
  apply_common<D>(o, c);
  o.bias(b.defined()).dtype(x.dtype());
  nn::ConvNdImpl<D> m(o);
  m.set_weight(w);  // either layout
  if (b.defined()) m.set_bias(b);
  return m(x);
}

Tensor run(const json& c, const Tensor& x, const Tensor& w, const Tensor& b, bool module) {
  switch (c.at("dim").get<int>()) {
    case 1: return module ? run_module<1>(c, x, w, b) : run_functional<1>(c, x, w, b);
    case 2: return module ? run_module<2>(c, x, w, b) : run_functional<2>(c, x, w, b);
    default: return module ? run_module<3>(c, x, w, b) : run_functional<3>(c, x, w, b);
  }
}

Tensor every_other(const Tensor& x) {
  // The same values at stride 2 in the last dim of a bigger buffer.
  Shape big = x.sizes();
  big.back() *= 2;
  Tensor buf = Tensor::zeros(big, x.dtype());
  Tensor view = buf.slice(-1, 0, big.back(), 2);
  view.copy_(x);
  return view;
}

Tensor permuted_layout(const Tensor& x, int64_t cdim) {
  // Store channel dim `cdim` innermost (channels-last), return a view in the logical order.
  std::vector<int64_t> perm;
  for (int64_t i = 0; i < x.dim(); ++i)
    if (i != cdim) perm.push_back(i);
  perm.push_back(cdim);
  Tensor stored = x.permute(perm).contiguous();
  std::vector<int64_t> inv(perm.size());
  for (std::size_t i = 0; i < perm.size(); ++i) inv[static_cast<std::size_t>(perm[i])] = static_cast<int64_t>(i);
  return stored.permute(inv);
}

DType wide(DType t) { return is_complex(t) ? kComplex128 : kFloat64; }

class GoldenConv : public ::testing::TestWithParam<std::size_t> {};

TEST_P(GoldenConv, MatchesPyTorch) {
  const json& c = golden().at("conv_cases")[GetParam()];
  SCOPED_TRACE(c.at("name").get<std::string>());
  const DType dt = dtype_from_name(c.at("dtype"));
  const Tensor x = tensor_from_json(c.at("input"), dt);
  const Tensor w = tensor_from_json(c.at("weight"), dt);
  const Tensor b = c.at("bias").is_null() ? Tensor() : tensor_from_json(c.at("bias"), dt);
  const Tensor expected = tensor_from_json(c.at("output"), dt);

  const Tensor y = run(c, x, w, b, /*module=*/false);
  EXPECT_EQ(y.dtype(), dt);
  EXPECT_TRUE(all_close(y, expected, dtype_tolerance(dt)));

  // The module, given the same weight, computes the same bits.
  EXPECT_TRUE(bitwise_equal(run(c, x, w, b, /*module=*/true), y));

  // Non-contiguous inputs give the same bits as contiguous ones.
  EXPECT_TRUE(bitwise_equal(run(c, every_other(x), w, b, false), y));
  const bool batched = x.dim() == c.at("dim").get<int64_t>() + 2;
  EXPECT_TRUE(bitwise_equal(run(c, permuted_layout(x, batched ? 1 : 0), w, b, false), y));

  // Every float32 algorithm that can compute this case stays within the golden tolerance
  // (Winograd included: its different rounding must not cost accuracy beyond it).
  if (dt == kFloat32) {
    for (Algorithm a : {Algorithm::Reference, Algorithm::Gemm, Algorithm::Depthwise, Algorithm::Winograd}) {
      Tensor ya;
      try {
        switch (c.at("dim").get<int>()) {
          case 1: ya = run_functional<1>(c, x, w, b, a); break;
          case 2: ya = run_functional<2>(c, x, w, b, a); break;
          default: ya = run_functional<3>(c, x, w, b, a); break;
        }
      } catch (const Error&) {
        continue;  // this algorithm does not take this case
      }
      EXPECT_TRUE(all_close(ya, expected, dtype_tolerance(dt))) << name_of(a);
    }
  }

  // The float64 oracle: the same convolution on widened inputs, rounded back.
  const Tensor y64 = run(c, x.to(wide(dt)), w.to(wide(dt)), b.defined() ? b.to(wide(dt)) : b, false);
  EXPECT_TRUE(all_close(y, y64.to(dt), dtype_tolerance(dt)));

  // The default (auto) is as accurate as direct summation: within 2x of the gemm path's max
  // error against float64 (with a floor of one float32 rounding of the largest output, where
  // both are exact but for the last bit).
  if (dt == kFloat32 && y.numel() > 0) {
    Tensor yg;
    try {
      switch (c.at("dim").get<int>()) {
        case 1: yg = run_functional<1>(c, x, w, b, Algorithm::Gemm); break;
        case 2: yg = run_functional<2>(c, x, w, b, Algorithm::Gemm); break;
        default: yg = run_functional<3>(c, x, w, b, Algorithm::Gemm); break;
      }
    } catch (const Error&) {
      return;  // no gemm path for this case (e.g. only the reference takes it)
    }
    const auto v64 = y64.to_vector(), va = y.to_vector(), vg = yg.to_vector();
    double err_a = 0, err_g = 0, top = 0;
    for (std::size_t i = 0; i < v64.size(); ++i) {
      if (!std::isfinite(v64[i])) continue;  // non-finite placement is checked elsewhere
      err_a = std::max(err_a, std::abs(va[i] - v64[i]));
      err_g = std::max(err_g, std::abs(vg[i] - v64[i]));
      top = std::max(top, std::abs(v64[i]));
    }
    EXPECT_LE(err_a, 2 * std::max(err_g, top * 0x1p-24)) << "auto error " << err_a << ", gemm error " << err_g;
  }
}

std::vector<std::size_t> all_cases() {
  std::vector<std::size_t> v(golden().at("conv_cases").size());
  std::iota(v.begin(), v.end(), 0);
  return v;
}

INSTANTIATE_TEST_SUITE_P(Golden, GoldenConv, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<std::size_t>& info) {
                           return golden().at("conv_cases")[info.param].at("name").get<std::string>();
                         });

TEST(GoldenConv, CoversEveryDtypeAndRank) {
  std::set<std::string> seen;
  for (const auto& c : golden().at("conv_cases"))
    seen.insert(c.at("dtype").get<std::string>() + std::to_string(c.at("dim").get<int>()));
  for (const char* t : {"float32", "float64", "float16", "bfloat16", "complex64", "complex128"})
    for (int d = 1; d <= 3; ++d) EXPECT_TRUE(seen.count(t + std::to_string(d))) << t << " " << d << "-d";
}

}  // namespace
}  // namespace convkit::test
