// convkit inside a process that also runs PyTorch's ATen, as it will under the Python module:
// both use OpenMP, each keeps its own thread count, convkit still picks its vector kernels,
// and the two give the same results whether they run in turns or at the same time. ATen is
// also the oracle here: its conv2d and conv_transpose2d are the values to match.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <thread>
#include <vector>

#include "convkit/convkit.h"

namespace {

namespace F = convkit::F;
namespace nn = convkit::nn;

// The same float32 memory seen by ATen (no copy).
at::Tensor aten_view(const convkit::Tensor& t) {
  return at::from_blob(const_cast<float*>(t.const_data<float>()), t.sizes(), at::kFloat);
}

// max |a - b| <= 1e-4 * (1 + max |b|), b ATen's result.
::testing::AssertionResult close_to_aten(const convkit::Tensor& a, const at::Tensor& b) {
  if (a.sizes() != std::vector<int64_t>(b.sizes().begin(), b.sizes().end()))
    return ::testing::AssertionFailure() << "shapes differ: " << convkit::shape_str(a.sizes()) << " vs " << b.sizes();
  const at::Tensor bc = b.contiguous();
  const float* q = bc.data_ptr<float>();
  const std::vector<double> v = a.to_vector();
  double worst = 0, scale = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    worst = std::max(worst, std::abs(v[i] - q[i]));
    scale = std::max(scale, std::abs(static_cast<double>(q[i])));
  }
  if (worst <= 1e-4 * (1 + scale)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "max |diff| " << worst << " (max |value| " << scale << ")";
}

TEST(TorchCoexistence, ThreadCountsStayApart) {
  at::set_num_threads(2);
  convkit::set_num_threads(1);
  const convkit::Tensor x = convkit::randn({2, 16, 20, 20}), w = convkit::randn({32, 16, 3, 3});
  (void)F::conv2d(x, w);
  EXPECT_EQ(at::get_num_threads(), 2);
  (void)at::conv2d(aten_view(x), aten_view(w));
  EXPECT_EQ(convkit::get_num_threads(), 1);
  at::set_num_threads(1);
  convkit::set_num_threads(2);
  (void)at::conv2d(aten_view(x), aten_view(w));
  EXPECT_EQ(convkit::get_num_threads(), 2);
  (void)F::conv2d(x, w);
  EXPECT_EQ(at::get_num_threads(), 1);
}

TEST(TorchCoexistence, SameResultsAsATenInTurns) {
  convkit::manual_seed(1);
  const convkit::Tensor x = convkit::randn({2, 32, 17, 19}), w = convkit::randn({48, 32, 3, 3}),
                        b = convkit::randn({48});
  nn::Conv2d m(nn::Conv2dOptions(32, 48, 3).stride(2).padding(1));
  m.set_weight(w);
  m.set_bias(b);
  const at::Tensor want = at::conv2d(aten_view(x), aten_view(w), aten_view(b), {2, 2}, {1, 1});
  for (int threads : {1, 2}) {
    convkit::set_num_threads(threads);
    at::set_num_threads(3 - threads);
    EXPECT_TRUE(close_to_aten(m(x), want)) << threads << " threads";
    EXPECT_TRUE(close_to_aten(m(x), at::conv2d(aten_view(x), aten_view(w), aten_view(b), {2, 2}, {1, 1})));
  }
  EXPECT_STRNE(m.plan_algorithm(), "reference");  // the vector kernels were chosen, not the loops

  const convkit::Tensor wt = convkit::randn({32, 24, 4, 4});  // ConvTranspose2d(32, 24, 4, stride 2, padding 1)
  const auto o = F::ConvTranspose2dFuncOptions().stride(2).padding(1);
  EXPECT_TRUE(close_to_aten(F::conv_transpose2d(x, wt, {}, o),
                            at::conv_transpose2d(aten_view(x), aten_view(wt), {}, {2, 2}, {1, 1})));
}

TEST(TorchCoexistence, SameResultsWhileBothRunAtOnce) {
  convkit::manual_seed(2);
  const convkit::Tensor x = convkit::randn({4, 64, 28, 28}), w = convkit::randn({64, 64, 3, 3});
  const at::Tensor want = at::conv2d(aten_view(x), aten_view(w), {}, {1, 1}, {1, 1});
  convkit::set_num_threads(2);
  at::set_num_threads(2);
  const auto o = F::Conv2dFuncOptions().padding(1);
  const convkit::ConvPlan plan = convkit::prepare(convkit::ConvSpec::from(o), w, {}, x.sizes());
  std::vector<at::Tensor> theirs(6);
  std::thread other([&] {
    for (auto& t : theirs) t = at::conv2d(aten_view(x), aten_view(w), {}, {1, 1}, {1, 1});
  });
  std::vector<convkit::Tensor> ours;
  for (int i = 0; i < 6; ++i) ours.push_back(i % 2 ? plan.run(x) : F::conv2d(x, w, {}, o));
  other.join();
  for (const auto& y : ours) EXPECT_TRUE(close_to_aten(y, want));
  for (const auto& t : theirs) EXPECT_TRUE(at::equal(t, want));
}

}  // namespace
