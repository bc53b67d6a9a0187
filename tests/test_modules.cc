// The libtorch-style API: modules, options, layouts, shapes and the seed examples' values.
#include "test_util.h"

namespace convkit::test {
namespace {

using namespace convkit::nn;

const char* kTutorialOutput =
    "tensor([[[-0.1682,  0.7688, -0.9502],\n"
    "         [-0.0725,  0.0577, -0.0527]],\n\n"
    "        [[-0.0756,  0.3155, -0.9533],\n"
    "         [-0.1843,  0.3324, -0.1548]]])";

// The seed document's own code: manual_seed(666); randn(2, 2, 5); Conv1d(2, 2, 3, bias=False).
TEST(Modules, TutorialFromTheSeedPrintsThePublishedTensors) {
  manual_seed(666);
  const Tensor x = randn({2, 2, 5});
  Conv1d m(Conv1dOptions(2, 2, 3).bias(false));
  EXPECT_EQ(x.to_string(),
            "tensor([[[-0.7747,  0.7926, -0.0062, -0.4377,  0.7148],\n"
            "         [ 0.3590, -0.1242,  2.0345, -0.3479, -0.4007]],\n\n"
            "        [[ 0.8059, -0.1021,  0.3168, -0.8889,  1.1768],\n"
            "         [ 0.8074,  0.9144,  1.6259, -0.6535, -0.0865]]])");
  EXPECT_EQ(m->weight.to_string(),
            "tensor([[[-0.0783, -0.0347, -0.0791],\n"
            "         [-0.3860,  0.3662, -0.0087]],\n\n"
            "        [[-0.2497, -0.3820, -0.3683],\n"
            "         [ 0.0319,  0.0496,  0.0144]]])");
  EXPECT_EQ(m(x).to_string(), kTutorialOutput);
}

// The tutorial printed its input and weight rounded to 4 decimals but computed its output
// from the unrounded values (seed 666). From the rounded values every output differs from the
// published one by at most sum(|dx||w| + |x||dw|) over the 6 taps < 2e-4; PyTorch itself
// gives the same deviation (the golden case tutorial_conv1d holds its bits).
TEST(Modules, TutorialConv1dMatchesThePublishedOutput) {
  Conv1d m(Conv1dOptions(2, 2, 3).bias(false));
  m->set_weight(tensor({{{-0.0783, -0.0347, -0.0791}, {-0.3860, 0.3662, -0.0087}},
                        {{-0.2497, -0.3820, -0.3683}, {0.0319, 0.0496, 0.0144}}}));
  const Tensor x = tensor({{{-0.7747, 0.7926, -0.0062, -0.4377, 0.7148}, {0.3590, -0.1242, 2.0345, -0.3479, -0.4007}},
                           {{0.8059, -0.1021, 0.3168, -0.8889, 1.1768}, {0.8074, 0.9144, 1.6259, -0.6535, -0.0865}}});
  const Tensor published = tensor({{{-0.1682, 0.7688, -0.9502}, {-0.0725, 0.0577, -0.0527}},
                                   {{-0.0756, 0.3155, -0.9533}, {-0.1843, 0.3324, -0.1548}}});
  const Tensor y = m(x);
  ASSERT_EQ(y.sizes(), published.sizes());
  const auto vy = y.to_vector(), vp = published.to_vector();
  for (std::size_t i = 0; i < vy.size(); ++i) EXPECT_NEAR(vy[i], vp[i], 2e-4) << i;
  // Printed like PyTorch prints it: same layout, 4 decimals.
  const auto& golden_case = [] {
    for (const auto& c : golden().at("conv_cases"))
      if (c.at("name") == "tutorial_conv1d") return c;
    throw std::runtime_error("tutorial_conv1d missing from the golden file");
  }();
  EXPECT_EQ(y.to_string(), tensor_from_json(golden_case.at("output"), kFloat32).to_string());
  EXPECT_EQ(y.to_string().substr(0, 35), "tensor([[[-0.1681,  0.7688, -0.9501");
  EXPECT_FALSE(m->bias.defined());
}

TEST(Modules, SeedShapes) {
  Conv1d c1(Conv1dOptions(16, 33, 3).stride(2));
  EXPECT_EQ(c1(Tensor::zeros({20, 16, 50})).sizes(), (Shape{20, 33, 24}));
  Conv1d me1(Conv1dOptions(3, 1, 3));
  EXPECT_EQ(me1(Tensor::arange(24).reshape({2, 3, 4})).sizes(), (Shape{2, 1, 2}));
  Conv2d me2(Conv2dOptions(3, 1, 3));
  EXPECT_EQ(me2(Tensor::arange(96).reshape({2, 3, 4, 4})).sizes(), (Shape{2, 1, 2, 2}));
}

TEST(Modules, ParametersHaveTorchShapesAndInitBounds) {
  Conv2d m(Conv2dOptions(6, 9, {2, 3}).groups(3));
  EXPECT_EQ(m.weight.sizes(), (Shape{9, 2, 2, 3}));
  EXPECT_EQ(m.bias.sizes(), (Shape{9}));
  const double bound = 1.0 / std::sqrt(2.0 * 2 * 3);
  for (double v : m.weight.to_vector()) EXPECT_LE(std::fabs(v), bound);
  for (double v : m.bias.to_vector()) EXPECT_LE(std::fabs(v), bound);
  const auto before = m.weight.to_vector();
  m.reset_parameters();
  EXPECT_NE(m.weight.to_vector(), before);
  EXPECT_EQ(m.weight_as(WeightLayout::MegEngine).sizes(), (Shape{3, 3, 2, 2, 3}));
  EXPECT_EQ(m.weight_as(WeightLayout::MegEngine).data_ptr(), m.weight.data_ptr());
  for (DType t : {kFloat64, kFloat16, kBFloat16, kComplex64, kComplex128}) {
    Conv1d c(Conv1dOptions(2, 2, 3).dtype(t));
    EXPECT_EQ(c.weight.dtype(), t);
    EXPECT_EQ(c(Tensor::zeros({1, 2, 5}, t)).dtype(), t);
  }
}

TEST(Modules, MegEngineWeightAndBiasLayoutsAreAccepted) {
  Conv2d a(Conv2dOptions(4, 6, 3).groups(2)), b(Conv2dOptions(4, 6, 3).groups(2));
  const Tensor w = Tensor::arange(6 * 2 * 9).to(kFloat32).reshape({2, 3, 2, 3, 3});
  a.set_weight(w);
  b.set_weight(w.reshape({6, 2, 3, 3}));
  a.set_bias(Tensor::arange(6).reshape({1, 6, 1, 1}));
  b.set_bias(Tensor::arange(6));
  const Tensor x = Tensor::arange(2 * 4 * 25).reshape({2, 4, 5, 5});
  EXPECT_TRUE(bitwise_equal(a(x), b(x)));
}

TEST(Modules, UnbatchedAndEmptyBatch) {
  Conv2d m(Conv2dOptions(3, 4, 3).padding(1).padding_mode("circular"));
  const Tensor x = Tensor::arange(3 * 5 * 6).reshape({3, 5, 6});
  const Tensor y = m(x);
  EXPECT_EQ(y.sizes(), (Shape{4, 5, 6}));
  EXPECT_TRUE(bitwise_equal(y, m(x.unsqueeze(0)).squeeze(0)));
  EXPECT_EQ(m(Tensor::zeros({0, 3, 5, 6})).sizes(), (Shape{0, 4, 5, 6}));
  Conv3d m3(Conv3dOptions(2, 3, {1, 2, 3}));
  EXPECT_EQ(m3(Tensor::zeros({2, 4, 5, 6})).sizes(), (Shape{3, 4, 4, 4}));
}

// Module backward runs the gradient plans kept with the forward's, and notices weights
// written in place between calls as forward does.
TEST(Modules, BackwardKeepsItsPlansAndSeesNewWeights) {
  manual_seed(3);
  namespace F = nn::functional;
  Conv2d m(Conv2dOptions(3, 4, 3).padding(1).stride(2));
  const Tensor x = randn({2, 3, 7, 7}), gy = randn({2, 4, 4, 4});
  const auto o = F::Conv2dFuncOptions().padding(1).stride(2);
  const F::ConvGradients want1 = F::conv_backward(gy, x, m.weight, o);
  EXPECT_TRUE(bitwise_equal(m.backward(x, gy), want1.grad_input));
  m.weight.copy_(randn(m.weight.sizes()));  // in place: the kept plan is stale
  const F::ConvGradients want2 = F::conv_backward(gy, x, m.weight, o);
  EXPECT_TRUE(bitwise_equal(m.backward(x, gy), want2.grad_input));
  // Accumulated over both calls.
  auto sum = [](const Tensor& a, const Tensor& b) {
    Tensor s = a.contiguous().clone();
    for (int64_t i = 0; i < s.numel(); ++i) s.data<float>()[i] += b.contiguous().const_data<float>()[i];
    return s;
  };
  EXPECT_TRUE(all_close(m.weight.grad(), sum(want1.grad_weight, want2.grad_weight), 1e-6));
  EXPECT_TRUE(all_close(m.bias.grad(), sum(want1.grad_bias, want2.grad_bias), 1e-6));

  // A transposed layer run with an output_size: grad_output's size says which.
  ConvTranspose1d t(ConvTranspose1dOptions(4, 2, 3).stride(2));
  const Tensor xt = randn({2, 4, 5}), gyt = randn({2, 2, 12});  // output_size 12, not 11
  (void)t(xt, {12});
  const auto ot = F::ConvTranspose1dFuncOptions().stride(2).output_padding(1);
  EXPECT_TRUE(bitwise_equal(t.backward(xt, gyt), F::conv_transpose_backward(gyt, xt, t.weight, ot).grad_input));
  t.weight.copy_(randn(t.weight.sizes()));
  EXPECT_TRUE(bitwise_equal(t.backward(xt, gyt), F::conv_transpose_backward(gyt, xt, t.weight, ot).grad_input));
}

TEST(Modules, SameValidCausalShapes) {
  const Tensor x = Tensor::arange(2 * 10).reshape({1, 2, 10});
  EXPECT_EQ(Conv1d(Conv1dOptions(2, 3, 4).padding("same"))(x).sizes(), (Shape{1, 3, 10}));
  EXPECT_EQ(Conv1d(Conv1dOptions(2, 3, 3).padding("same").dilation(3))(x).sizes(), (Shape{1, 3, 10}));
  EXPECT_EQ(Conv1d(Conv1dOptions(2, 3, 3).padding("same").stride(3))(x).sizes(), (Shape{1, 3, 4}));  // ceil(10/3)
  EXPECT_EQ(Conv1d(Conv1dOptions(2, 3, 3).padding("valid"))(x).sizes(), (Shape{1, 3, 8}));
  EXPECT_EQ(Conv1d(Conv1dOptions(2, 3, 3).padding("causal"))(x).sizes(), (Shape{1, 3, 10}));
  EXPECT_EQ(Conv1d(Conv1dOptions(2, 3, 3).padding("causal").stride(2))(x).sizes(), (Shape{1, 3, 5}));
  EXPECT_EQ(Conv1d(Conv1dOptions(2, 3, 3).padding({{3, 0}}))(x).sizes(), (Shape{1, 3, 11}));
  EXPECT_EQ(Conv2d(Conv2dOptions(1, 1, {2, 3}).padding({{0, 2}, {1, 0}}))(Tensor::zeros({1, 1, 4, 4})).sizes(),
            (Shape{1, 1, 5, 3}));
}

TEST(Modules, CausalOutputSeesOnlyThePast) {
  Conv1d m(Conv1dOptions(1, 1, 4).padding("causal").dilation(2));
  Tensor x = Tensor::arange(12).reshape({1, 1, 12});
  const auto y0 = m(x).to_vector();
  x.data<float>()[7] = 100;  // changes outputs at t >= 7 only
  const auto y1 = m(x).to_vector();
  for (int t = 0; t < 12; ++t) {
    if (t < 7) {
      EXPECT_EQ(y0[t], y1[t]) << t;
    } else if (t == 7) {
      EXPECT_NE(y0[t], y1[t]);
    }
  }
}

TEST(Modules, DepthwiseMultiplierEqualsPerChannelConvolutions) {
  // groups == C_in = 3, multiplier 2: output channel 2c + j sees only input channel c.
  Conv1d dw(Conv1dOptions(3, 6, 3).groups(3).padding(1));
  const Tensor x = Tensor::arange(3 * 7).reshape({1, 3, 7});
  const Tensor y = dw(x);
  for (int64_t co = 0; co < 6; ++co) {
    const Tensor xc = x.slice(1, co / 2, co / 2 + 1);
    const Tensor wc = dw.weight.slice(0, co, co + 1);
    const Tensor bc = dw.bias.slice(0, co, co + 1);
    const Tensor yc = F::conv1d(xc, wc, bc, F::Conv1dFuncOptions().padding(1));
    EXPECT_TRUE(bitwise_equal(yc, y.slice(1, co, co + 1))) << co;
  }
}

TEST(Modules, HalfComputeModesAccumulateInFloat32) {
  for (DType t : {kFloat16, kBFloat16}) {
    Conv2d m(Conv2dOptions(4, 3, 3).dtype(t).compute_mode("float32"));
    const Tensor x = Tensor::arange(4 * 36).reshape({1, 4, 6, 6}).to(kFloat32);
    Tensor xs = Tensor::from_values(x.to_vector(), x.sizes(), t);
    // A float32 computation on the same (exactly representable) values, rounded once.
    Conv2d m32(Conv2dOptions(4, 3, 3));
    m32.set_weight(m.weight.to(kFloat32));
    m32.set_bias(m.bias.to(kFloat32));
    const Tensor expect = m32(xs.to(kFloat32)).to(t);
    EXPECT_TRUE(all_close(m(xs), expect, t == kFloat16 ? 1e-3 : 8e-3));
    Conv2d d(Conv2dOptions(4, 3, 3).dtype(t));
    d.set_weight(m.weight);
    d.set_bias(m.bias);
    EXPECT_TRUE(all_close(d(xs), expect, t == kFloat16 ? 1e-3 : 8e-3));
  }
}

TEST(Modules, ConvolutionModeFlipsTheKernel) {
  Conv2d cc(Conv2dOptions(2, 3, {2, 3})), cv(Conv2dOptions(2, 3, {2, 3}).conv_mode("convolution"));
  cv.set_weight(cc.weight.flip({2, 3}));
  cv.set_bias(cc.bias);
  const Tensor x = Tensor::arange(2 * 30).reshape({1, 2, 5, 6});
  EXPECT_TRUE(bitwise_equal(cc(x), cv(x)));
}

TEST(Modules, FunctionalTwinMatchesModule) {
  Conv2d m(Conv2dOptions(4, 6, 3).stride({2, 1}).padding({1, 2}).dilation({1, 2}).groups(2).padding_mode("reflect"));
  const Tensor x = Tensor::arange(2 * 4 * 49).reshape({2, 4, 7, 7});
  const Tensor y = F::conv2d(x, m.weight, m.bias,
                             F::Conv2dFuncOptions().stride({2, 1}).padding({1, 2}).dilation({1, 2}).groups(2).padding_mode(
                                 PaddingMode::Reflect));
  EXPECT_TRUE(bitwise_equal(m(x), y));
}

TEST(Version, TheLibraryReportsTheHeadersVersion) {
  const std::string want = std::to_string(CONVKIT_VERSION_MAJOR) + "." + std::to_string(CONVKIT_VERSION_MINOR) + "." +
                           std::to_string(CONVKIT_VERSION_PATCH);
  EXPECT_EQ(std::string(convkit::version()), want);
  EXPECT_EQ(CONVKIT_VERSION, CONVKIT_VERSION_MAJOR * 10000 + CONVKIT_VERSION_MINOR * 100 + CONVKIT_VERSION_PATCH);
}

}  // namespace
}  // namespace convkit::test
