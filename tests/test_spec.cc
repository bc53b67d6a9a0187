// The rank-free public entry: ConvSpec with F::conv / F::conv_backward / output_shape, and
// prepare() -> ConvPlan. Each is checked against the rank-specific API (whose results the
// golden tests hold to PyTorch's) and against the reference loops in float64.
#include <gtest/gtest.h>

#include <thread>

#include "convkit/convkit.h"
#include "test_util.h"

namespace convkit::test {
namespace {

// One layer of the sweep: shapes and the spec, plus how the same call reads with typed options.
struct SpecCase {
  const char* name;
  Shape x, w;
  ConvSpec spec;
  bool bias = true;
};

ConvSpec make_spec(int64_t rank, bool transposed = false) {
  ConvSpec s;
  s.rank = rank;
  s.transposed = transposed;
  return s;
}

std::vector<SpecCase> cases() {
  std::vector<SpecCase> v;
  {
    ConvSpec s = make_spec(1);
    s.padding = nn::PaddingKind::Causal;
    s.dilation = {2};
    v.push_back({"conv1d_causal", {2, 4, 17}, {6, 4, 3}, s});
  }
  {
    ConvSpec s = make_spec(2);
    s.stride = {2};
    s.padding = nn::PaddingKind::Same;
    s.groups = 2;
    v.push_back({"conv2d_same_s2_g2", {2, 4, 9, 8}, {6, 2, 3, 3}, s});
  }
  {
    ConvSpec s = make_spec(2);
    s.padding = nn::PaddingKind::Pairs;
    s.pad_lo = {1, 0};
    s.pad_hi = {2, 1};
    s.padding_mode = PaddingMode::Reflect;
    s.conv_mode = ConvMode::Convolution;
    v.push_back({"conv2d_pairs_reflect_flip", {4, 7, 6}, {5, 4, 3, 2}, s, false});  // unbatched
  }
  {
    ConvSpec s = make_spec(3);
    s.stride = {1, 2, 1};
    s.pad_lo = {1};
    v.push_back({"conv3d_explicit", {1, 3, 5, 6, 4}, {4, 3, 3, 3, 2}, s});
  }
  {
    ConvSpec s = make_spec(2);
    s.groups = 4;
    s.pad_lo = {1};
    v.push_back({"conv2d_depthwise_megengine", {2, 4, 8, 8}, {4, 2, 1, 3, 3}, s});  // (g, C_out/g, C_in/g, K)
  }
  {
    ConvSpec s = make_spec(2, true);
    s.stride = {2};
    s.pad_lo = {1};
    s.output_padding = {1, 0};
    v.push_back({"conv_transpose2d", {2, 4, 5, 6}, {4, 3, 3, 3}, s});
  }
  {
    ConvSpec s = make_spec(1, true);
    s.stride = {3};
    s.padding = nn::PaddingKind::Pairs;
    s.pad_lo = {2};
    s.pad_hi = {0};
    s.groups = 2;
    s.output_size = {22};
    v.push_back({"conv_transpose1d_output_size", {4, 7}, {4, 3, 5}, s});  // unbatched
  }
  return v;
}

Tensor output_of(const SpecCase& c) { return Tensor::zeros(output_shape(c.spec, c.x, c.w)); }

struct Data {
  Tensor x, w, b;
};
Data data_for(const SpecCase& c, DType dtype = kFloat32) {
  manual_seed(7);
  Data d{randn(c.x), randn(c.w), Tensor()};
  const int64_t c_out = output_shape(c.spec, c.x, c.w)[c.x.size() == static_cast<std::size_t>(c.spec.rank) + 2 ? 1 : 0];
  if (c.bias) d.b = randn({c_out});
  if (dtype != kFloat32) d = {d.x.to(dtype), d.w.to(dtype), d.b.defined() ? d.b.to(dtype) : d.b};
  return d;
}

// F::conv on a ConvSpec equals the reference loops in float64, and for every case its typed
// twin bit for bit.
TEST(Spec, ConvMatchesReferenceInFloat64) {
  for (const SpecCase& c : cases()) {
    SCOPED_TRACE(c.name);
    const Data d = data_for(c), d64 = data_for(c, kFloat64);
    ConvSpec ref = c.spec;
    ref.algorithm = Algorithm::Reference;
    const Tensor y = F::conv(d.x, d.w, d.b, c.spec);
    EXPECT_EQ(y.sizes(), output_of(c).sizes());
    EXPECT_TRUE(all_close(y, F::conv(d64.x, d64.w, d64.b, ref), 1e-4));
  }
}

TEST(Spec, SameBitsAsTypedOptions) {
  manual_seed(3);
  const Tensor x = randn({2, 4, 9, 8}), w = randn({6, 2, 3, 3}), b = randn({6});
  ConvSpec s = make_spec(2);
  s.stride = {2, 1};
  s.padding = nn::PaddingKind::Same;
  s.groups = 2;
  s.padding_mode = PaddingMode::Circular;
  const auto o = F::Conv2dFuncOptions().stride({2, 1}).padding("same").groups(2).padding_mode("circular");
  EXPECT_TRUE(bitwise_equal(F::conv(x, w, b, s), F::conv2d(x, w, b, o)));
  EXPECT_TRUE(bitwise_equal(F::conv(x, w, b, ConvSpec::from(o)), F::conv2d(x, w, b, o)));
  const Tensor gy = randn(output_shape(s, x.sizes(), w.sizes()));
  const auto g1 = F::conv_backward(gy, x, w, s), g2 = F::conv_backward(gy, x, w, o);
  EXPECT_TRUE(bitwise_equal(g1.grad_input, g2.grad_input));
  EXPECT_TRUE(bitwise_equal(g1.grad_weight, g2.grad_weight));
  EXPECT_TRUE(bitwise_equal(g1.grad_bias, g2.grad_bias));

  // Transposed: a spec with output_size is the module's forward(x, output_size).
  nn::ConvTranspose1d up(nn::ConvTranspose1dOptions(4, 6, 5).stride(3).padding(2).groups(2));
  const Tensor xt = randn({2, 4, 7});
  ConvSpec t = ConvSpec::from(up.options);
  t.output_size = {20};
  EXPECT_TRUE(bitwise_equal(F::conv(xt, up.weight, up.bias, t), up(xt, {20})));
  const Tensor gyt = randn({2, 6, 20});
  const auto gt = F::conv_backward(gyt, xt, up.weight, t);
  nn::ConvTranspose1d up2 = up;
  EXPECT_TRUE(bitwise_equal(gt.grad_input, up2.backward(xt, gyt)));
  EXPECT_TRUE(bitwise_equal(gt.grad_weight, up2.weight.grad()));
}

TEST(Spec, BackwardMatchesReferenceInFloat64) {
  for (const SpecCase& c : cases()) {
    SCOPED_TRACE(c.name);
    const Data d = data_for(c), d64 = data_for(c, kFloat64);
    manual_seed(11);
    const Tensor gy = randn(output_of(c).sizes());
    ConvSpec ref = c.spec;
    ref.algorithm = Algorithm::Reference;
    const auto g = F::conv_backward(gy, d.x, d.w, c.spec);
    const auto r = F::conv_backward(gy.to(kFloat64), d64.x, d64.w, ref);
    EXPECT_TRUE(all_close(g.grad_input, r.grad_input, 1e-4));
    EXPECT_TRUE(all_close(g.grad_weight, r.grad_weight, 1e-4));
    EXPECT_TRUE(all_close(g.grad_bias, r.grad_bias, 1e-4));
  }
}

TEST(Spec, BadSpecsNameTheField) {
  const Tensor x = Tensor::zeros({1, 2, 8, 8}), w = Tensor::zeros({2, 2, 3, 3});
  auto conv_with = [&](const std::function<void(ConvSpec&)>& edit) {
    return [=] {
      ConvSpec s;
      edit(s);
      (void)F::conv(x, w, {}, s);
    };
  };
  expect_error_of<ArgumentError>(conv_with([](ConvSpec& s) { s.stride = {1, 2, 3}; }),
                                 {"expected stride to be a single integer value or a list of 2 values", "stride=[1, 2, 3]"});
  expect_error_of<ArgumentError>(conv_with([](ConvSpec& s) { s.dilation = {1, 1, 1}; }), {"dilation=[1, 1, 1]"});
  expect_error_of<ArgumentError>(conv_with([](ConvSpec& s) { s.rank = 4; }), {"rank", "1, 2 or 3, got 4"});
  expect_error_of<ArgumentError>(conv_with([](ConvSpec& s) { s.pad_lo = {1}, s.pad_hi = {2}; }),
                                 {"explicit padding", "Pairs"});
  expect_error_of<ArgumentError>(conv_with([](ConvSpec& s) { s.padding = nn::PaddingKind::Same, s.pad_lo = {1}; }),
                                 {"padding 'same' takes no amounts"});
  expect_error_of<ArgumentError>(conv_with([](ConvSpec& s) { s.output_padding = {1}; }),
                                 {"conv2d", "output_padding and output_size are for transposed"});
  expect_error_of<ArgumentError>(conv_with([](ConvSpec& s) { s.transposed = true, s.conv_mode = ConvMode::Convolution; }),
                                 {"conv_transpose2d", "conv_mode='convolution'"});
  expect_error_of<ArgumentError>(conv_with([](ConvSpec& s) { s.transposed = true, s.padding = nn::PaddingKind::Same; }),
                                 {"conv_transpose2d", "'same'"});
  expect_error_of<ArgumentError>(conv_with([](ConvSpec& s) { s.transposed = true, s.stride = {2}, s.output_size = {40, 40}; }),
                                 {"requested an output size of [40, 40]", "[17, 17] to [18, 18]"});
  // The shape checks are F::convNd's, in output_shape as in F::conv.
  ConvSpec s;
  expect_error_of<ArgumentError>([&] { (void)output_shape(s, {1, 3, 8, 8}, {2, 2, 3, 3}); },
                                 {"expected input[1, 3, 8, 8] to have 2 channels, but got 3 channels instead"});
  expect_error_of<ArgumentError>([&] { (void)F::conv(Tensor::zeros({1, 3, 8, 8}), w, {}, s); },
                                 {"expected input[1, 3, 8, 8] to have 2 channels, but got 3 channels instead"});
}

// output_size replaces the spec's output_padding, which is then not checked (PyTorch ignores it).
TEST(Spec, OutputSizeReplacesOutputPadding) {
  manual_seed(4);
  const Tensor x = randn({2, 4, 7}), w = randn({4, 3, 3});
  ConvSpec s = make_spec(1, true);
  s.stride = {2};
  s.output_padding = {3};  // too big for stride 2 on its own
  expect_error_of<ArgumentError>([&] { (void)F::conv(x, w, {}, s); }, {"output padding must be smaller"});
  s.output_size = {16};    // min 15, max 16
  ConvSpec p = s;
  p.output_size.clear();
  p.output_padding = {1};
  EXPECT_TRUE(bitwise_equal(F::conv(x, w, {}, s), F::conv(x, w, {}, p)));
  EXPECT_EQ(output_shape(s, x.sizes(), w.sizes()), (Shape{2, 3, 16}));
}

// Only shapes are used: a MegEngine weight of 2^41 elements is not copied to find the shape.
TEST(Spec, OutputShapeReadsNoTensor) {
  ConvSpec s = make_spec(1);
  const int64_t c = int64_t{1} << 20;
  EXPECT_EQ(output_shape(s, {1, c, 8}, {1, c, c, 3}), (Shape{1, c, 6}));
  EXPECT_EQ(output_shape(s, {1, c, 8}, {c, c, 3}), (Shape{1, c, 6}));
}

TEST(Spec, OutputShapeOfEveryCase) {
  for (const SpecCase& c : cases()) {
    SCOPED_TRACE(c.name);
    const Data d = data_for(c);
    EXPECT_EQ(output_shape(c.spec, c.x, c.w), F::conv(d.x, d.w, d.b, c.spec).sizes());
  }
}

// A plan gives F::conv's bits, keeps its own copy of the weight, refuses other shapes, and
// runs from several threads at once.
TEST(Plan, RunsLikeConvAndOwnsItsWeights) {
  for (const SpecCase& c : cases()) {
    SCOPED_TRACE(c.name);
    Data d = data_for(c);
    const Tensor want = F::conv(d.x, d.w, d.b, c.spec);
    const ConvPlan plan = prepare(c.spec, d.w, d.b, c.x);
    EXPECT_TRUE(bitwise_equal(plan.run(d.x), want));
    EXPECT_EQ(plan.output_shape(), want.sizes());
    EXPECT_EQ(plan.input_shape(), c.x);
    EXPECT_EQ(plan.spec().groups, c.spec.groups);
    d.w.copy_(Tensor::zeros(c.w));  // the plan must not see this
    if (d.b.defined()) d.b.copy_(Tensor::zeros(d.b.sizes()));
    EXPECT_TRUE(bitwise_equal(plan.run(d.x), want));
    const ConvPlan copy = plan;  // shares the prepared state
    EXPECT_TRUE(bitwise_equal(copy.run(d.x.contiguous()), want));
  }
}

TEST(Plan, ConcurrentRunsGiveTheSameBits) {
  manual_seed(5);
  const Tensor w = randn({32, 16, 3, 3}), b = randn({32});
  ConvSpec s;
  s.pad_lo = {1};
  const ConvPlan plan = prepare(s, w, b, {2, 16, 20, 20});
  nn::Conv2d m(nn::Conv2dOptions(16, 32, 3).padding(1));
  (void)m(randn({2, 16, 20, 20}));
  EXPECT_STREQ(plan.algorithm(), m.plan_algorithm());
  EXPECT_GT(plan.memory_bytes(), 0);
  std::vector<Tensor> xs, ys(4);
  for (int i = 0; i < 4; ++i) xs.push_back(randn({2, 16, 20, 20}));
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back([&, i] { ys[i] = plan.run(xs[i]); });
  for (auto& t : threads) t.join();
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(bitwise_equal(ys[i], F::conv(xs[i], w, b, s)));
}

// The bits of every gradient F::conv_backward gives, for each output mask; undefined where
// not asked.
void expect_same_gradients(const F::ConvGradients& got, const F::ConvGradients& want, F::OutputMask mask) {
  const Tensor* g[3] = {&got.grad_input, &got.grad_weight, &got.grad_bias};
  const Tensor* w[3] = {&want.grad_input, &want.grad_weight, &want.grad_bias};
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    ASSERT_EQ(g[i]->defined(), mask[static_cast<std::size_t>(i)]);
    if (mask[static_cast<std::size_t>(i)]) {
      EXPECT_TRUE(bitwise_equal(*g[i], *w[i]));
    }
  }
}

TEST(Plan, BackwardGivesConvBackwardsBitsAndKeepsItsPlans) {
  for (const SpecCase& c : cases()) {
    SCOPED_TRACE(c.name);
    Data d = data_for(c);
    manual_seed(9);
    const Tensor gy = randn(output_shape(c.spec, c.x, c.w));
    const ConvPlan plan = prepare(c.spec, d.w, d.b, c.x);
    const Tensor w0 = d.w.clone();
    d.w.copy_(Tensor::zeros(c.w));  // the plan's gradients read its own copy of the weight
    for (const F::OutputMask mask : {F::OutputMask{true, true, true}, F::OutputMask{true, false, false},
                                     F::OutputMask{false, true, false}, F::OutputMask{false, false, true}}) {
      const F::ConvGradients want = F::conv_backward(gy, d.x, w0, c.spec, mask);
      expect_same_gradients(plan.backward(d.x, gy, mask), want, mask);
      expect_same_gradients(plan.backward(d.x, gy, mask), want, mask);  // with the kept plans
    }
    EXPECT_EQ(plan.backward(d.x, gy).grad_weight.sizes(), c.w);  // the layout it was given
  }
}

TEST(Plan, BackwardFollowsTheWinogradSettingItWasPreparedWith) {
  // The input gradient of a stride-1 3x3 layer is a forward that Winograd may serve: the
  // plan's backward, made after the setting changed, still follows the one it was prepared
  // with, as its forward does.
  manual_seed(8);
  const Tensor w = randn({32, 32, 3, 3}), x = randn({1, 32, 12, 12});
  ConvSpec s;
  s.pad_lo = {1};
  const bool before = allow_fast_winograd();
  set_allow_fast_winograd(false);
  const ConvPlan plan = prepare(s, w, {}, x.sizes());
  const Tensor gy = randn(plan.output_shape());
  const Tensor want = F::conv_backward(gy, x, w, s, {true, false, false}).grad_input;
  set_allow_fast_winograd(true);
  const Tensor winograd = F::conv_backward(gy, x, w, s, {true, false, false}).grad_input;
  const Tensor got = plan.backward(x, gy, {true, false, false}).grad_input;
  set_allow_fast_winograd(before);
  EXPECT_FALSE(bitwise_equal(winograd, want));  // (else this test could not tell them apart)
  EXPECT_TRUE(bitwise_equal(got, want));
}

TEST(Plan, ConcurrentBackwardsGiveTheSameBits) {
  manual_seed(6);
  const Tensor w = randn({32, 16, 3, 3}), b = randn({32});
  ConvSpec s;
  s.pad_lo = {1};
  s.stride = {2};
  const ConvPlan plan = prepare(s, w, b, {2, 16, 20, 20});
  std::vector<Tensor> xs, gys;
  std::vector<F::ConvGradients> gs(4);
  for (int i = 0; i < 4; ++i) xs.push_back(randn({2, 16, 20, 20})), gys.push_back(randn(plan.output_shape()));
  // Four threads at once on a fresh plan: the first of them makes each gradient plan.
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back([&, i] { gs[i] = plan.backward(xs[i], gys[i]); });
  for (auto& t : threads) t.join();
  for (int i = 0; i < 4; ++i) expect_same_gradients(gs[i], F::conv_backward(gys[i], xs[i], w, s), {true, true, true});
}

TEST(Plan, RefusesWhatItWasNotPreparedFor) {
  ConvSpec s;
  const ConvPlan plan = prepare(s, Tensor::zeros({4, 2, 3, 3}), {}, {1, 2, 8, 8});
  expect_error_of<ArgumentError>([&] { (void)plan.run(Tensor::zeros({1, 2, 9, 8})); },
                                 {"prepared for float32 input of size [1, 2, 8, 8]", "got float32 input of size [1, 2, 9, 8]"});
  expect_error_of<ArgumentError>([&] { (void)plan.run(Tensor::zeros({1, 2, 8, 8}, kFloat64)); }, {"got float64 input"});
  expect_error_of<ArgumentError>([&] { (void)ConvPlan().run(Tensor::zeros({1})); }, {"the plan is empty"});
  expect_error_of<ArgumentError>([&] { (void)plan.backward(Tensor::zeros({1, 2, 9, 8}), Tensor::zeros({1, 4, 7, 6})); },
                                 {"ConvPlan::backward: the plan was prepared for float32 input of size [1, 2, 8, 8]"});
  expect_error_of<ArgumentError>([&] { (void)plan.backward(Tensor::zeros({1, 2, 8, 8}), Tensor::zeros({1, 4, 7, 6})); },
                                 {"expected grad_output of size [1, 4, 6, 6]", "but got grad_output of size [1, 4, 7, 6]"});
  EXPECT_FALSE(ConvPlan().defined());
  // prepare makes F::conv's checks.
  expect_error_of<ArgumentError>([&] { (void)prepare(s, Tensor::zeros({4, 2, 3, 3}), {}, {1, 3, 8, 8}); },
                                 {"to have 2 channels, but got 3 channels instead"});
  expect_error_of<ArgumentError>([&] { (void)prepare(s, Tensor(), {}, {1, 2, 8, 8}); }, {"weight is undefined"});
}

}  // namespace
}  // namespace convkit::test
