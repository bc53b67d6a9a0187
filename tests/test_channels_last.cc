// Channels-last input (PyTorch's channels_last, NHWC memory): the output and the gradients take
// the memory format PyTorch 1.13 gives them, the values are the reference's, and F::conv, a
// prepared ConvPlan and a module agree bit for bit whatever the thread count.
#include <gtest/gtest.h>

#include <limits>

#include "conv/params.h"
#include "conv/plan.h"
#include "convkit/convkit.h"
#include "test_util.h"

namespace convkit::test {
namespace {

// x of shape (N, C, H, W) with channels-last memory: an NHWC tensor viewed as NCHW.
Tensor channels_last(const Tensor& x) { return x.permute({0, 2, 3, 1}).contiguous().permute({0, 3, 1, 2}); }

bool strided_channels_last(const Tensor& y) {
  return y.stride(1) == 1 && y.stride(3) == y.size(1) && y.stride(2) == y.size(3) * y.size(1) &&
         y.stride(0) == y.size(2) * y.size(3) * y.size(1);
}

// The output of a channels-last input: channels-last when read through zero padding; other
// padding modes read a padded contiguous copy (torch.nn's modules pad first), so contiguous.
bool in_the_format_of_a_channels_last_input(const Tensor& y, PaddingMode mode) {
  return mode == PaddingMode::Zeros ? strided_channels_last(y) : y.is_contiguous();
}

struct Layer {
  int64_t N, C_in, C_out, H, W;
  Shape kernel, stride, pad, dilation;
  int64_t groups;
  bool bias;
  PaddingMode mode;
  ConvMode conv_mode;
};

ConvSpec spec_of(const Layer& l) {
  ConvSpec s;
  s.rank = 2;
  s.stride = l.stride;
  s.pad_lo = s.pad_hi = l.pad;
  s.dilation = l.dilation;
  s.groups = l.groups;
  s.padding_mode = l.mode;
  s.conv_mode = l.conv_mode;
  return s;
}

const std::vector<Layer>& layers() {
  using enum PaddingMode;
  static const std::vector<Layer> v = {
      {2, 32, 48, 9, 11, {3, 3}, {1, 1}, {1, 1}, {1, 1}, 1, true, Zeros, ConvMode::CrossCorrelation},
      {1, 32, 40, 10, 7, {3, 3}, {2, 2}, {1, 1}, {1, 1}, 1, false, Zeros, ConvMode::CrossCorrelation},
      {2, 64, 36, 8, 8, {1, 1}, {1, 1}, {0, 0}, {1, 1}, 1, true, Zeros, ConvMode::CrossCorrelation},
      {1, 32, 33, 12, 13, {3, 3}, {1, 1}, {2, 2}, {2, 2}, 1, true, Zeros, ConvMode::CrossCorrelation},
      {1, 64, 64, 9, 9, {3, 3}, {1, 1}, {1, 1}, {1, 1}, 2, true, Zeros, ConvMode::CrossCorrelation},
      {1, 32, 16, 7, 9, {3, 3}, {1, 1}, {1, 1}, {1, 1}, 1, true, Reflect, ConvMode::CrossCorrelation},
      {1, 32, 16, 7, 9, {3, 3}, {1, 1}, {2, 1}, {1, 1}, 1, false, Circular, ConvMode::CrossCorrelation},
      {1, 16, 20, 6, 11, {3, 2}, {2, 1}, {1, 0}, {1, 1}, 1, true, Replicate, ConvMode::Convolution},
      {3, 48, 24, 5, 5, {5, 5}, {1, 1}, {0, 0}, {1, 1}, 1, true, Zeros, ConvMode::CrossCorrelation},
      // Fewer channels than the channels-last path takes: the planar paths, their output
      // converted.
      {2, 3, 16, 9, 9, {3, 3}, {2, 2}, {1, 1}, {1, 1}, 1, true, Zeros, ConvMode::CrossCorrelation},
      // Depthwise on channels-last rows: channel counts off the vector widths (tails), strides,
      // dilation, conv_mode, rows long enough for whole column blocks, padding wider than the
      // kernel's reach (outputs of padding alone), non-square kernels.
      {2, 32, 32, 9, 9, {3, 3}, {1, 1}, {1, 1}, {1, 1}, 32, true, Zeros, ConvMode::CrossCorrelation},
      {2, 37, 37, 10, 13, {3, 3}, {2, 2}, {1, 1}, {1, 1}, 37, true, Zeros, ConvMode::CrossCorrelation},
      {1, 24, 24, 11, 12, {3, 3}, {1, 1}, {2, 2}, {2, 2}, 24, false, Zeros, ConvMode::Convolution},
      {1, 16, 16, 6, 41, {3, 3}, {1, 1}, {1, 1}, {1, 1}, 16, true, Zeros, ConvMode::CrossCorrelation},
      {1, 5, 5, 5, 6, {3, 3}, {1, 1}, {3, 3}, {1, 1}, 5, true, Zeros, ConvMode::CrossCorrelation},
      {2, 20, 20, 9, 30, {5, 3}, {1, 2}, {2, 0}, {1, 1}, 20, true, Zeros, ConvMode::Convolution},
      // Depthwise the channels-last rows do not take (reflect padding, a multiplier of 2): the
      // planar path, its output converted.
      {1, 16, 16, 7, 9, {3, 3}, {1, 1}, {1, 1}, {1, 1}, 16, true, Reflect, ConvMode::CrossCorrelation},
      {1, 16, 32, 7, 9, {3, 3}, {1, 1}, {1, 1}, {1, 1}, 16, true, Zeros, ConvMode::CrossCorrelation},
  };
  return v;
}

TEST(ChannelsLast, OutputKeepsTheInputsMemoryFormatWithTheReferencesValues) {
  Generator gen(71);
  for (const internal::Isa isa : isas()) {
    IsaCap cap(isa);
    for (const Layer& l : layers()) {
      const Tensor x = randn({l.N, l.C_in, l.H, l.W}, kFloat32, &gen);
      const Tensor w = randn({l.C_out, l.C_in / l.groups, l.kernel[0], l.kernel[1]}, kFloat32, &gen);
      const Tensor b = l.bias ? randn({l.C_out}, kFloat32, &gen) : Tensor();
      ConvSpec ref = spec_of(l);
      ref.algorithm = Algorithm::Reference;
      const Tensor want = nn::functional::conv(x, w, b, ref);
      const Tensor y = nn::functional::conv(channels_last(x), w, b, spec_of(l));
      SCOPED_TRACE(testing::Message() << internal::name_of(isa) << " C_in " << l.C_in << " C_out " << l.C_out << " groups "
                                      << l.groups << " kernel " << shape_str(l.kernel) << " stride " << shape_str(l.stride));
      EXPECT_TRUE(in_the_format_of_a_channels_last_input(y, l.mode));
      EXPECT_TRUE(all_close(y, want, 3e-5 * l.C_in / l.groups * l.kernel[0] * l.kernel[1]));
      // The planar input still gives a contiguous output.
      EXPECT_TRUE(nn::functional::conv(x, w, b, spec_of(l)).is_contiguous());
    }
  }
}

TEST(ChannelsLast, FunctionalPlanAndModuleAgreeBitForBitOnEveryThreadCount) {
  Generator gen(72);
  const int before = get_num_threads();
  // Dense, grouped and reflect-padded layers on the GEMM's channels-last plan; depthwise ones on
  // the channels-last rows kernel.
  for (const Layer& l : {layers()[0], layers()[4], layers()[5], layers()[10], layers()[11]}) {
    const Tensor x = channels_last(randn({l.N, l.C_in, l.H, l.W}, kFloat32, &gen));
    const Tensor w = randn({l.C_out, l.C_in / l.groups, l.kernel[0], l.kernel[1]}, kFloat32, &gen);
    const Tensor b = randn({l.C_out}, kFloat32, &gen);
    set_num_threads(1);
    const Tensor one = nn::functional::conv(x, w, b, spec_of(l));
    set_num_threads(3);
    EXPECT_TRUE(bitwise_equal(nn::functional::conv(x, w, b, spec_of(l)), one));
    // A plan prepared from the shape alone (planar) makes the channels-last path on the first
    // channels-last input, and keeps serving planar input as before.
    const ConvPlan plan = prepare(spec_of(l), w, b, x.sizes());
    const Tensor planar = x.contiguous();
    EXPECT_TRUE(bitwise_equal(plan.run(planar), nn::functional::conv(planar, w, b, spec_of(l))));
    const int64_t planar_bytes = plan.memory_bytes();
    const Tensor from_plan = plan.run(x);
    EXPECT_TRUE(in_the_format_of_a_channels_last_input(from_plan, l.mode));
    EXPECT_GT(plan.memory_bytes(), planar_bytes) << "the channels-last plan's packed weight is not counted";
    EXPECT_TRUE(bitwise_equal(from_plan, one));
    EXPECT_TRUE(plan.run(planar).is_contiguous());
    nn::Conv2d m(nn::Conv2dOptions(l.C_in, l.C_out, {l.kernel[0], l.kernel[1]})
                     .stride({l.stride[0], l.stride[1]})
                     .padding({l.pad[0], l.pad[1]})
                     .groups(l.groups)
                     .padding_mode(l.mode));
    m->set_weight(w);
    m->set_bias(b);
    const Tensor from_module = m->forward(x);
    EXPECT_TRUE(in_the_format_of_a_channels_last_input(from_module, l.mode));
    EXPECT_TRUE(bitwise_equal(from_module, one));
  }
  set_num_threads(before);
}

TEST(ChannelsLast, DepthwiseLayersOfMultiplierOneRunOnChannelsLastRows) {
  // The plan a channels-last input gets writes channels-last for zero-padded depthwise layers
  // of one output per channel, and not for the others (their output is converted).
  Generator gen(74);
  for (const Layer& l : layers()) {
    if (l.groups != l.C_in) continue;
    const Tensor x = channels_last(randn({l.N, l.C_in, l.H, l.W}, kFloat32, &gen));
    const Tensor w = randn({l.C_out, 1, l.kernel[0], l.kernel[1]}, kFloat32, &gen);
    const internal::ConvParams p = internal::make_conv_params(x, w, Tensor(), internal::conv_args(spec_of(l)));
    const auto plan = internal::make_plan(p, w, Tensor(), Algorithm::Auto, false, true);
    EXPECT_EQ(plan->writes_channels_last(), l.C_out == l.C_in && l.mode == PaddingMode::Zeros)
        << "C_in " << l.C_in << " C_out " << l.C_out;
  }
}

TEST(ChannelsLast, AChannelsLastWeightMakesTheOutputChannelsLast) {
  // As PyTorch 1.13's: a channels-last weight makes the output channels-last whatever the
  // input's format and padding mode; an unbatched output is then the squeezed batch of one
  // (strides C_out W, 1... as torch's (1, W C, C)). The values are the contiguous weight's.
  Generator gen(75);
  const Tensor w = randn({8, 16, 3, 3}, kFloat32, &gen), x = randn({2, 16, 7, 6}, kFloat32, &gen);
  for (const PaddingMode mode : {PaddingMode::Zeros, PaddingMode::Reflect}) {
    ConvSpec s;
    s.rank = 2;
    s.pad_lo = s.pad_hi = {1, 1};
    s.padding_mode = mode;
    const Tensor want = nn::functional::conv(x, w, Tensor(), s);
    const Tensor y = nn::functional::conv(x, channels_last(w), Tensor(), s);
    EXPECT_TRUE(strided_channels_last(y));
    EXPECT_TRUE(bitwise_equal(y, want));
    const ConvPlan plan = prepare(s, channels_last(w), Tensor(), x.sizes());
    EXPECT_TRUE(strided_channels_last(plan.run(x)));
    EXPECT_TRUE(bitwise_equal(plan.run(x), want));
    // The prepared plan's gradients follow the weight it was given too (its own copy is planar).
    const auto g = plan.backward(x, randn(want.sizes(), kFloat32, &gen), {true, true, false});
    EXPECT_EQ(strided_channels_last(g.grad_input), mode == PaddingMode::Zeros);
    EXPECT_TRUE(strided_channels_last(g.grad_weight));
    const Tensor x3 = x.select(0, 1).contiguous();
    const Tensor y3 = nn::functional::conv(x3, channels_last(w), Tensor(), s);
    EXPECT_EQ(y3.strides(), (Shape{1, y3.size(2) * 8, 8}));
    EXPECT_TRUE(bitwise_equal(y3, want.select(0, 1).contiguous()));
  }
}

TEST(ChannelsLast, GradientsTakeTheForwardsMemoryFormat) {
  // F::conv_backward as aten::convolution_backward: grad_input and grad_weight channels-last
  // when the forward's output is (a channels-last input through zero padding, or a channels-last
  // weight); with another padding mode grad_input is contiguous (torch.nn's modules pad a copy
  // first, whose gradient comes back contiguous) and grad_weight follows the weight. The values
  // are the planar computation's: bit for bit where it converts, close where a channels-last
  // input gradient is computed on channels-last data (stride-1 zero-padded layers: a forward of
  // dY), whose bits do not depend on gy's format or the thread count.
  Generator gen(76);
  const Tensor x = randn({2, 16, 7, 6}, kFloat32, &gen), w = randn({24, 16, 3, 3}, kFloat32, &gen);
  for (const PaddingMode mode : {PaddingMode::Zeros, PaddingMode::Reflect})
    for (const bool x_cl : {false, true})
      for (const bool w_cl : {false, true}) {
        SCOPED_TRACE(testing::Message() << "reflect " << (mode == PaddingMode::Reflect) << " x_cl " << x_cl << " w_cl " << w_cl);
        const auto o = nn::functional::Conv2dFuncOptions().padding(1).padding_mode(mode == PaddingMode::Zeros ? "zeros" : "reflect");
        const Tensor xi = x_cl ? channels_last(x) : x, wi = w_cl ? channels_last(w) : w;
        const Tensor y = nn::functional::conv2d(xi, wi, Tensor(), o);
        const bool y_cl = w_cl || (x_cl && mode == PaddingMode::Zeros);
        EXPECT_EQ(strided_channels_last(y), y_cl);
        const Tensor gy = randn(y.sizes(), kFloat32, &gen);
        const auto want = nn::functional::conv_backward(gy, x, w, o);
        const auto g = nn::functional::conv_backward(gy, xi, wi, o);
        const bool gx_cl = mode == PaddingMode::Zeros && y_cl;
        EXPECT_EQ(strided_channels_last(g.grad_input), gx_cl);
        EXPECT_EQ(g.grad_input.is_contiguous(), !gx_cl);
        EXPECT_EQ(strided_channels_last(g.grad_weight), y_cl);
        EXPECT_EQ(g.grad_weight.is_contiguous(), !y_cl);
        EXPECT_TRUE(gx_cl ? all_close(g.grad_input, want.grad_input, 1e-4) : bitwise_equal(g.grad_input, want.grad_input));
        EXPECT_TRUE(bitwise_equal(g.grad_weight, want.grad_weight));
        EXPECT_TRUE(bitwise_equal(g.grad_bias, want.grad_bias));
        const int before = get_num_threads();
        set_num_threads(3);
        const auto g3 = nn::functional::conv_backward(channels_last(gy), xi, wi, o);
        set_num_threads(before);
        EXPECT_TRUE(bitwise_equal(g3.grad_input, g.grad_input));
        EXPECT_EQ(strided_channels_last(g3.grad_input), gx_cl);
      }
  // A module's weight stays contiguous and so does its grad (as autograd accumulates .grad in
  // the parameter's layout); the returned grad_input takes the forward's format.
  nn::Conv2d m(nn::Conv2dOptions(16, 24, 3).padding(1));
  const Tensor xc = channels_last(x);
  const Tensor gx = m->backward(xc, randn(m->forward(xc).sizes(), kFloat32, &gen));
  EXPECT_TRUE(strided_channels_last(gx));
  EXPECT_TRUE(m->weight.grad().is_contiguous());
}

TEST(ChannelsLast, WeightGradientsWithNonFiniteGradOutputKeepTheirFormat) {
  // An inf in dY next to the zero padding sends the weight gradient to the reference (inf * 0
  // is NaN there); a channels-last dW still comes back channels-last, with the bits of the
  // contiguous computation.
  Generator gen(79);
  const Tensor x = randn({2, 40, 6, 7}, kFloat32, &gen), w = randn({8, 40, 3, 3}, kFloat32, &gen);
  const auto o = nn::functional::Conv2dFuncOptions().padding(1);
  Tensor gy = randn({2, 8, 6, 7}, kFloat32, &gen);
  static_cast<float*>(gy.data_ptr())[0] = std::numeric_limits<float>::infinity();
  const auto want = nn::functional::conv_backward(gy, x, w, o, {false, true, false});
  const auto g = nn::functional::conv_backward(gy, channels_last(x), w, o, {false, true, false});
  EXPECT_TRUE(strided_channels_last(g.grad_weight));
  EXPECT_TRUE(bitwise_equal(g.grad_weight, want.grad_weight));
}

TEST(ChannelsLast, StrideOneInputGradientsRunOnChannelsLastData) {
  // The input gradient of a stride-1 zero-padded layer is a forward of dY: on channels-last dY
  // it runs the channels-last forward (no conversion of dY or dX). Strided layers and other
  // padding modes compute planar.
  Generator gen(78);
  const Tensor x = channels_last(randn({2, 32, 9, 8}, kFloat32, &gen)), w = randn({24, 32, 3, 3}, kFloat32, &gen);
  for (const int64_t stride : {1, 2})
    for (const PaddingMode mode : {PaddingMode::Zeros, PaddingMode::Reflect}) {
      Layer l{2, 32, 24, 9, 8, {3, 3}, {stride, stride}, {1, 1}, {1, 1}, 1, false, mode, ConvMode::CrossCorrelation};
      internal::ConvParams q = internal::make_conv_params(x, w, Tensor(), internal::conv_args(spec_of(l)));
      q.direction = internal::Direction::BackwardData;
      const auto plan = internal::make_backward_data_plan(q, w, Tensor(), Algorithm::Auto, false);
      EXPECT_EQ(plan->serves_channels_last(), stride == 1 && mode == PaddingMode::Zeros) << "stride " << stride;
    }
  // Layers that take it (groups, dilation, conv_mode=convolution, 1x1, bias-free), under every
  // ISA cap: the input gradient of channels-last data against the reference, channels-last.
  using enum PaddingMode;
  const std::vector<Layer> taken = {
      {2, 32, 48, 9, 11, {3, 3}, {1, 1}, {1, 1}, {1, 1}, 2, false, Zeros, ConvMode::Convolution},
      {1, 40, 32, 12, 13, {3, 3}, {1, 1}, {2, 2}, {2, 2}, 1, false, Zeros, ConvMode::CrossCorrelation},
      {2, 24, 64, 8, 8, {1, 1}, {1, 1}, {0, 0}, {1, 1}, 1, false, Zeros, ConvMode::CrossCorrelation},
      {1, 16, 20, 6, 11, {3, 2}, {1, 1}, {1, 0}, {1, 1}, 1, false, Zeros, ConvMode::CrossCorrelation}};
  for (const Layer& l : taken) {
    SCOPED_TRACE(testing::Message() << "C_in " << l.C_in << " C_out " << l.C_out << " kernel " << shape_str(l.kernel));
    const Tensor xl = channels_last(randn({l.N, l.C_in, l.H, l.W}, kFloat32, &gen));
    const Tensor wl = randn({l.C_out, l.C_in / l.groups, l.kernel[0], l.kernel[1]}, kFloat32, &gen);
    internal::ConvParams q = internal::make_conv_params(xl, wl, Tensor(), internal::conv_args(spec_of(l)));
    q.direction = internal::Direction::BackwardData;
    ASSERT_TRUE(internal::make_backward_data_plan(q, wl, Tensor(), Algorithm::Auto, false)->serves_channels_last());
    const Tensor gy = channels_last(randn(nn::functional::conv(xl, wl, Tensor(), spec_of(l)).sizes(), kFloat32, &gen));
    ConvSpec ref = spec_of(l);
    ref.algorithm = Algorithm::Reference;
    const Tensor want = nn::functional::conv_backward(gy, xl, wl, ref, {true, false, false}).grad_input;
    for (const internal::Isa isa : isas()) {
      IsaCap cap(isa);
      const Tensor got = nn::functional::conv_backward(gy, xl, wl, spec_of(l), {true, false, false}).grad_input;
      EXPECT_TRUE(strided_channels_last(got)) << internal::name_of(isa);
      EXPECT_TRUE(all_close(got, want, 3e-5 * l.C_out / l.groups * l.kernel[0] * l.kernel[1])) << internal::name_of(isa);
    }
  }
}

TEST(ChannelsLast, DepthwiseRowsReadChannelsThroughTheirStrides) {
  // Channels-last views that are not dense: channels of a wider tensor (pixels 2C apart), and
  // every other channel (channel stride 2: copied channels-contiguous first). The reference's
  // values, channels-last outputs.
  Generator gen(77);
  const int64_t C = 20;
  const Tensor wide = channels_last(randn({2, 2 * C, 9, 11}, kFloat32, &gen));
  const Tensor w = randn({C, 1, 3, 3}, kFloat32, &gen), b = randn({C}, kFloat32, &gen);
  ConvSpec s;
  s.rank = 2;
  s.pad_lo = s.pad_hi = {1, 1};
  s.stride = {1, 2};
  s.groups = C;
  ConvSpec ref = s;
  ref.algorithm = Algorithm::Reference;
  const Tensor first = wide.slice(1, 0, C, 1), every_other = wide.slice(1, 0, 2 * C, 2);
  ASSERT_EQ(first.stride(1), 1);
  ASSERT_EQ(first.stride(3), 2 * C);
  ASSERT_EQ(every_other.stride(1), 2);
  for (const Tensor& x : {first, every_other}) {
    const Tensor y = nn::functional::conv(x, w, b, s);
    EXPECT_TRUE(strided_channels_last(y)) << "channel stride " << x.stride(1);
    EXPECT_TRUE(all_close(y, nn::functional::conv(x.contiguous(), w, b, ref), 1e-5)) << "channel stride " << x.stride(1);
  }
}

TEST(ChannelsLast, AnExpandedWeightIsReadAsItsValues) {
  // A weight whose kernel dims have stride 0 (a 1x1 weight expanded to 3x3): the same bits as
  // its contiguous copy, on planar and channels-last input.
  Generator gen(80);
  const Tensor w1 = randn({24, 32, 1, 1}, kFloat32, &gen), x = randn({2, 32, 9, 8}, kFloat32, &gen);
  const Tensor w = Tensor::from_blob(w1.data_ptr(), {24, 32, 3, 3}, kFloat32, {32, 1, 0, 0});
  ASSERT_EQ(w.stride(2), 0);
  ConvSpec s;
  s.rank = 2;
  s.pad_lo = s.pad_hi = {1, 1};
  for (const Tensor& xi : {x, channels_last(x)}) {
    SCOPED_TRACE(xi.is_contiguous() ? "planar" : "channels-last");
    EXPECT_TRUE(bitwise_equal(nn::functional::conv(xi, w, Tensor(), s), nn::functional::conv(xi, w.contiguous(), Tensor(), s)));
  }
}

TEST(ChannelsLast, OtherInputsKeepAContiguousOutput) {
  // Unbatched input and transposed layers (as PyTorch 1.13's) keep contiguous outputs; 16-bit
  // channels-last input gives channels-last output (converted).
  Generator gen(73);
  const Tensor w = randn({8, 16, 3, 3}, kFloat32, &gen);
  ConvSpec s;
  s.rank = 2;
  s.pad_lo = s.pad_hi = {1, 1};
  // One channel: the strides decide, as PyTorch's suggest_memory_format (channels_last's give a
  // channels-last output, contiguous ones a contiguous output).
  const Tensor w1 = randn({4, 1, 3, 3}, kFloat32, &gen), x1 = randn({2, 1, 5, 5}, kFloat32, &gen);
  const Tensor x1_cl = Tensor::from_blob(x1.data_ptr(), x1.sizes(), kFloat32, {25, 1, 5, 1});  // channels_last's strides
  EXPECT_TRUE(strided_channels_last(nn::functional::conv(x1_cl, w1, Tensor(), s)));
  EXPECT_TRUE(nn::functional::conv(x1, w1, Tensor(), s).is_contiguous());
  const Tensor x3 = randn({16, 7, 7}, kFloat32, &gen);
  EXPECT_TRUE(nn::functional::conv(x3.permute({1, 2, 0}).contiguous().permute({2, 0, 1}), w, Tensor(), s).is_contiguous());
  const Tensor xh = channels_last(randn({2, 16, 7, 7}, kFloat32, &gen).to(kFloat16));
  const Tensor yh = nn::functional::conv(xh, w.to(kFloat16), Tensor(), s);
  EXPECT_TRUE(strided_channels_last(yh));
  EXPECT_TRUE(all_close(yh, nn::functional::conv(xh.contiguous(), w.to(kFloat16), Tensor(), s), 0));
  ConvSpec t;
  t.rank = 2;
  t.transposed = true;
  const Tensor xt = channels_last(randn({2, 8, 5, 5}, kFloat32, &gen));
  EXPECT_TRUE(nn::functional::conv(xt, w, Tensor(), t).is_contiguous());
}

}  // namespace
}  // namespace convkit::test
