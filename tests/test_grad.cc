// Gradients and transposed convolutions against independent oracles: the adjoint identities
// in float64 (<gy, conv(x, w)> = <grad_input, x> = <grad_weight, w>, exact up to rounding, for
// every configuration the forward accepts), the equality of a convolution's grad_input with
// the transposed convolution of the same weight, determinism over thread counts, every ISA
// cap against the reference, the modules' gradient accumulation, and PyTorch's messages.
#include <limits>
#include <numeric>

#include "conv/backward.h"
#include "conv/params.h"
#include "gemm/driver.h"
#include "core/storage.h"
#include "grad_sweep.h"
#include "test_util.h"

namespace convkit::test {
namespace {

using nn::PaddingKind;
using namespace grad;

// sum(conj(a) * b) and sum(|a| * |b|) (the scale its rounding error is measured against).
struct Dot {
  std::complex<double> value;
  double scale;
};
Dot dot(const Tensor& a, const Tensor& b) {
  const auto va = a.to_complex_vector(), vb = b.to_complex_vector();
  Dot d{0, 0};
  for (std::size_t i = 0; i < va.size(); ++i) {
    d.value += std::conj(va[i]) * vb[i];
    d.scale += std::abs(va[i]) * std::abs(vb[i]);
  }
  return d;
}

::testing::AssertionResult same_dot(const Dot& a, const Dot& b, double eps = 1e-12) {
  const double err = std::abs(a.value - b.value), scale = std::max({a.scale, b.scale, 1e-300});
  if (err <= eps * scale) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << a.value << " vs " << b.value << " (error " << err / scale << " of the scale)";
}


TEST(Grad, AdjointIdentitiesHoldForEveryConfiguration) {
  const auto configs = sweep();
  ASSERT_GE(configs.size(), 150u);
  int with_modes = 0, empty = 0;
  Generator gen(7);
  for (const Config& c : configs) {
    SCOPED_TRACE(describe(c));
    const Tensor x = randn(input_shape(c), kFloat64, &gen), w = randn(weight_shape(c), kFloat64, &gen);
    const Tensor y = forward(c, x, w);
    const Tensor gy = randn(y.sizes(), kFloat64, &gen);
    const auto g = backward(c, gy, x, w);
    ASSERT_EQ(g.grad_input.sizes(), x.sizes());
    ASSERT_EQ(g.grad_weight.sizes(), w.sizes());
    ASSERT_EQ(g.grad_bias.sizes(), (Shape{c.Cout}));
    // Linear in x and in w: <gy, conv(x, w)> = <grad_input, x> = <grad_weight, w>.
    EXPECT_TRUE(same_dot(dot(gy, y), dot(g.grad_input, x)));
    EXPECT_TRUE(same_dot(dot(gy, y), dot(g.grad_weight, w)));
    // grad_bias: the bias enters every output of its channel once.
    const Tensor b = randn({c.Cout}, kFloat64, &gen);
    const Tensor yb = forward(c, x, w, b);
    EXPECT_TRUE(same_dot(dot(gy, yb), Dot{dot(gy, y).value + dot(g.grad_bias, b).value, dot(gy, yb).scale}));
    with_modes += c.mode != PaddingMode::Zeros;
    empty += c.N == 0;
  }
  EXPECT_GT(with_modes, 40);
  EXPECT_GT(empty, 3);
}

TEST(Grad, ComplexGradientsAreConjugateWirtinger) {
  // For y = W x: grad_input = W^H gy, so <gy, y> = <grad_input, x> with the conjugating inner
  // product; grad_weight = gy x^H likewise. Both complex dtypes, three ranks.
  Generator gen(11);
  for (DType t : {kComplex128, kComplex64})
    for (int dim = 1; dim <= 3; ++dim) {
      Config c;
      c.dim = dim;
      c.dtype = t;
      c.groups = 2;
      c.S.assign(static_cast<std::size_t>(dim), 5);
      c.K.assign(static_cast<std::size_t>(dim), 3);
      c.stride.assign(static_cast<std::size_t>(dim), 2);
      c.dil.assign(static_cast<std::size_t>(dim), 1);
      c.lo.assign(static_cast<std::size_t>(dim), 1);
      c.mode = PaddingMode::Reflect;
      const Tensor x = randn(input_shape(c), t, &gen), w = randn(weight_shape(c), t, &gen);
      const Tensor y = forward(c, x, w);
      const Tensor gy = randn(y.sizes(), t, &gen);
      const auto g = backward(c, gy, x, w);
      const double eps = t == kComplex64 ? 1e-5 : 1e-12;
      EXPECT_TRUE(same_dot(dot(gy, y), dot(g.grad_input, x), eps)) << dtype_name(t) << " " << dim;
      EXPECT_TRUE(same_dot(dot(gy, y), dot(g.grad_weight, w), eps)) << dtype_name(t) << " " << dim;
    }
}


TEST(Grad, TransposedAdjointIdentitiesHold) {
  // conv_transpose(x, w) is linear in x and w; its gradients satisfy the same identities. The
  // transposed input has C_out channels of the matching convolution: weight (C_in_t, C_out_t/g, *K).
  const auto configs = transpose_sweep();
  ASSERT_GE(configs.size(), 100u);
  Generator gen(5);
  int extended = 0;
  for (const TConfig& t : configs) {
    SCOPED_TRACE(describe(t.c) + " output_padding " + shape_str(t.output_padding));
    const Tensor x = randn(input_shape(t.c), kFloat64, &gen), w = randn(transpose_weight_shape(t.c), kFloat64, &gen);
    const Tensor y = transpose(t, x, w);
    const Tensor gy = randn(y.sizes(), kFloat64, &gen);
    const auto g = transpose_backward(t, gy, x, w);
    ASSERT_EQ(g.grad_input.sizes(), x.sizes());
    ASSERT_EQ(g.grad_weight.sizes(), w.sizes());
    EXPECT_TRUE(same_dot(dot(gy, y), dot(g.grad_input, x)));
    EXPECT_TRUE(same_dot(dot(gy, y), dot(g.grad_weight, w)));
    const int64_t cout = y.size(t.c.batched ? 1 : 0);
    const Tensor b = randn({cout}, kFloat64, &gen);
    EXPECT_TRUE(same_dot(dot(gy, transpose(t, x, w, b)), Dot{dot(gy, y).value + dot(g.grad_bias, b).value, 1}));
    for (int64_t op : t.output_padding) extended += op > 0;
  }
  EXPECT_GT(extended, 5);
}

TEST(Grad, ConvGradInputIsTheTransposedConvolution) {
  // PyTorch's definition: conv_transpose2d(gy, w, stride, padding, output_padding) is the
  // input gradient of conv2d(x, w, stride, padding), output_padding making up the rows the
  // stride dropped.
  Generator gen(3);
  const Tensor x = randn({2, 4, 9, 8}, kFloat64, &gen), w = randn({6, 2, 3, 3}, kFloat64, &gen);
  const auto o = F::Conv2dFuncOptions().stride(2).padding(1).groups(2).dilation({1, 2});
  const Tensor y = F::conv2d(x, w, {}, o);
  const Tensor gy = randn(y.sizes(), kFloat64, &gen);
  const auto g = F::conv_backward(gy, x, w, o, {true, false, false});
  EXPECT_FALSE(g.grad_weight.defined());
  EXPECT_FALSE(g.grad_bias.defined());
  const Tensor t = F::conv_transpose2d(
      gy, w, {}, F::ConvTranspose2dFuncOptions().stride(2).padding(1).groups(2).dilation({1, 2}).output_padding({0, 1}));
  EXPECT_TRUE(bitwise_equal(t, g.grad_input));
}

TEST(Grad, MegEngineWeightGradientKeepsItsLayout) {
  Generator gen(9);
  const Tensor x = randn({2, 4, 6, 6}, kFloat64, &gen), w = randn({2, 3, 2, 3, 3}, kFloat64, &gen);
  const auto o = F::Conv2dFuncOptions().groups(2).padding(1);
  const Tensor y = F::conv2d(x, w, {}, o);
  const Tensor gy = randn(y.sizes(), kFloat64, &gen);
  const auto g = F::conv_backward(gy, x, w, o);
  EXPECT_EQ(g.grad_weight.sizes(), w.sizes());
  EXPECT_TRUE(bitwise_equal(g.grad_weight.reshape({6, 2, 3, 3}), F::conv_backward(gy, x, w.reshape({6, 2, 3, 3}), o).grad_weight));
}

TEST(Grad, SameBitsForAnyThreadCount) {
  Generator gen(1);
  const Tensor x = randn({3, 8, 17, 15}), w = randn({12, 4, 3, 3}), tw = randn({8, 6, 4, 4});
  const auto o = F::Conv2dFuncOptions().stride(2).padding(1).groups(2).padding_mode("reflect");
  const Tensor gy = randn(F::conv2d(x, w, {}, o).sizes(), kFloat32, &gen);
  const auto to = F::ConvTranspose2dFuncOptions().stride(2).padding(1);
  const Tensor ty = F::conv_transpose2d(x, tw, {}, to);
  const Tensor tgy = randn(ty.sizes(), kFloat32, &gen);
  // One input channel, stride 5 (wav2vec2's first layer): the product goes to the whole col
  // with its columns over the threads, then col2im.
  const Tensor x1 = randn({1, 1, 16000}, kFloat32, &gen), w1 = randn({128, 1, 10}, kFloat32, &gen);
  const auto o1 = F::Conv1dFuncOptions().stride(5);
  const Tensor gy1 = randn(F::conv1d(x1, w1, {}, o1).sizes(), kFloat32, &gen);
  const int before = get_num_threads();
  std::vector<F::ConvGradients> runs, truns, runs1;
  std::vector<Tensor> tys;
  for (int n : {1, 2, 3}) {
    set_num_threads(n);
    runs1.push_back(F::conv_backward(gy1, x1, w1, o1));
    runs.push_back(F::conv_backward(gy, x, w, o));
    truns.push_back(F::conv_transpose_backward(tgy, x, tw, to));
    tys.push_back(F::conv_transpose2d(x, tw, {}, to));
  }
  set_num_threads(before);
  for (std::size_t i = 1; i < runs.size(); ++i) {
    EXPECT_TRUE(bitwise_equal(runs1[i].grad_input, runs1[0].grad_input));
    EXPECT_TRUE(bitwise_equal(runs1[i].grad_weight, runs1[0].grad_weight));
    EXPECT_TRUE(bitwise_equal(runs1[i].grad_bias, runs1[0].grad_bias));
    EXPECT_TRUE(bitwise_equal(runs[i].grad_input, runs[0].grad_input));
    EXPECT_TRUE(bitwise_equal(runs[i].grad_weight, runs[0].grad_weight));
    EXPECT_TRUE(bitwise_equal(runs[i].grad_bias, runs[0].grad_bias));
    EXPECT_TRUE(bitwise_equal(truns[i].grad_input, truns[0].grad_input));
    EXPECT_TRUE(bitwise_equal(truns[i].grad_weight, truns[0].grad_weight));
    EXPECT_TRUE(bitwise_equal(truns[i].grad_bias, truns[0].grad_bias));
    EXPECT_TRUE(bitwise_equal(tys[i], tys[0]));
  }
}

TEST(Grad, EveryPathAndIsaMatchesTheReference) {
  // The transposed layer's grad_input is its matching convolution's forward: it runs on the
  // forward's fast paths, which must agree with the reference under every ISA cap.
  Generator gen(4);
  for (const TConfig& t : transpose_sweep()) {
    SCOPED_TRACE(describe(t.c));
    const Tensor x = randn(input_shape(t.c), kFloat32, &gen), w = randn(transpose_weight_shape(t.c), kFloat32, &gen);
    const Tensor gy = randn(transpose(t, x, w).sizes(), kFloat32, &gen);
    TConfig r = t;
    const auto ref = [&] {
      switch (t.c.dim) {
        case 1: return F::conv_transpose_backward(gy, x, w, transpose_options<1>(r).algorithm("reference"));
        case 2: return F::conv_transpose_backward(gy, x, w, transpose_options<2>(r).algorithm("reference"));
        default: return F::conv_transpose_backward(gy, x, w, transpose_options<3>(r).algorithm("reference"));
      }
    }();
    for (internal::Isa isa : isas()) {
      IsaCap cap(isa);
      const auto g = transpose_backward(t, gy, x, w);
      EXPECT_TRUE(all_close(g.grad_input, ref.grad_input, dtype_tolerance(kFloat32))) << internal::name_of(isa);
      EXPECT_TRUE(all_close(g.grad_weight, ref.grad_weight, dtype_tolerance(kFloat32))) << internal::name_of(isa);
      EXPECT_TRUE(all_close(g.grad_bias, ref.grad_bias, dtype_tolerance(kFloat32))) << internal::name_of(isa);
    }
  }
  // A convolution's gradients: backward_data and backward_weights on the gemm path (forced and
  // auto) against the reference, every configuration of the sweep that is float32-able.
  for (const Config& c0 : sweep()) {
    Config c = c0;
    c.dtype = kFloat32;
    SCOPED_TRACE(describe(c));
    const Tensor x = randn(input_shape(c), kFloat32, &gen), w = randn(weight_shape(c), kFloat32, &gen);
    const Tensor gy = randn(forward(c, x, w).sizes(), kFloat32, &gen);
    const auto with = [&](Algorithm a, F::OutputMask mask = {true, true, true}) {
      switch (c.dim) {
        case 1: { auto o = F::Conv1dFuncOptions(); apply<1>(o, c); return F::conv_backward(gy, x, w, o.algorithm(a), mask); }
        case 2: { auto o = F::Conv2dFuncOptions(); apply<2>(o, c); return F::conv_backward(gy, x, w, o.algorithm(a), mask); }
        default: { auto o = F::Conv3dFuncOptions(); apply<3>(o, c); return F::conv_backward(gy, x, w, o.algorithm(a), mask); }
      }
    };
    const auto ref = with(Algorithm::Reference);
    for (internal::Isa isa : isas()) {
      IsaCap cap(isa);
      for (Algorithm a : {Algorithm::Auto, Algorithm::Gemm, Algorithm::Depthwise}) {
        if (a == Algorithm::Depthwise && c.Cin / c.groups * 27 > 1024) continue;
        const auto g = with(a);
        EXPECT_TRUE(all_close(g.grad_input, ref.grad_input, dtype_tolerance(kFloat32))) << internal::name_of(isa);
        EXPECT_TRUE(all_close(g.grad_weight, ref.grad_weight, dtype_tolerance(kFloat32))) << internal::name_of(isa);
        EXPECT_TRUE(all_close(g.grad_bias, ref.grad_bias, dtype_tolerance(kFloat32))) << internal::name_of(isa);
      }
      // The weight gradient's two gemm forms, whatever the channel count: per tap on a
      // channels-last copy of x, and on im2col.
      for (int64_t min_channels : {int64_t{0}, std::numeric_limits<int64_t>::max()}) {
        const ChannelsLastKnobs knobs(min_channels);
        EXPECT_TRUE(all_close(with(Algorithm::Gemm, {false, true, false}).grad_weight, ref.grad_weight,
                              dtype_tolerance(kFloat32)))
            << internal::name_of(isa) << " channels-last from " << min_channels << " channels";
      }
    }
  }
}



TEST(Grad, DirectWeightGradientSharesInputCopiesAndSumsTheBias) {
  // The direct weight gradient (few channels per group, or at most 12 weight columns per
  // output): an input channel read by several outputs is copied once per thread and image, and
  // dY's channel sums (the bias gradient) come from the dot products' loads. Against the
  // reference under every ISA cap, auto and forced, and the same bits for 1, 2 and 3 threads.
  struct Case {
    Shape x, w;
    int64_t stride, pad, groups;
    const char* mode;
  };
  const Case cases[] = {
      {{3, 1, 300}, {40, 1, 10}, 5, 0, 1, "zeros"},        // wav2vec2's first layer, three images
      {{2, 3, 41}, {24, 3, 4}, 2, 3, 1, "circular"},       // 12 columns: 3 channels x 4 taps
      {{2, 4, 13, 11}, {10, 2, 3, 3}, 2, 1, 2, "zeros"},   // two groups of 2 inputs, 5 outputs
      {{2, 1, 9, 10}, {24, 1, 3, 3}, 1, 1, 1, "reflect"},  // 9 columns, 24 outputs
  };
  Generator gen(17);
  for (const Case& c : cases) {
    SCOPED_TRACE(shape_str(c.w));
    const Tensor x = randn(c.x, kFloat32, &gen), w = randn(c.w, kFloat32, &gen);
    const bool one_d = c.x.size() == 3;
    const auto o1 = F::Conv1dFuncOptions().stride(c.stride).padding(c.pad).groups(c.groups).padding_mode(c.mode);
    const auto o2 = F::Conv2dFuncOptions().stride(c.stride).padding(c.pad).groups(c.groups).padding_mode(c.mode);
    const Tensor gy = randn(one_d ? F::conv1d(x, w, Tensor(), o1).sizes() : F::conv2d(x, w, Tensor(), o2).sizes(),
                            kFloat32, &gen);
    auto grads = [&](Algorithm a) {
      return one_d ? F::conv_backward(gy, x, w, F::Conv1dFuncOptions(o1).algorithm(a), {false, true, true})
                   : F::conv_backward(gy, x, w, F::Conv2dFuncOptions(o2).algorithm(a), {false, true, true});
    };
    const auto want = grads(Algorithm::Reference);
    for (internal::Isa isa : isas()) {
      IsaCap cap(isa);
      for (Algorithm a : {Algorithm::Auto, Algorithm::Depthwise}) {
        const int before = get_num_threads();
        std::vector<F::ConvGradients> runs;
        for (int n : {1, 2, 3}) {
          set_num_threads(n);
          runs.push_back(grads(a));
        }
        set_num_threads(before);
        EXPECT_TRUE(all_close(runs[0].grad_weight, want.grad_weight, dtype_tolerance(kFloat32))) << internal::name_of(isa);
        EXPECT_TRUE(all_close(runs[0].grad_bias, want.grad_bias, dtype_tolerance(kFloat32))) << internal::name_of(isa);
        for (std::size_t i = 1; i < runs.size(); ++i) {
          EXPECT_TRUE(bitwise_equal(runs[i].grad_weight, runs[0].grad_weight)) << internal::name_of(isa) << " run " << i;
          EXPECT_TRUE(bitwise_equal(runs[i].grad_bias, runs[0].grad_bias)) << internal::name_of(isa) << " run " << i;
        }
      }
    }
  }
}

TEST(Grad, StrideOneInputGradientRunsEachForwardPathOnTheSwappedWeight) {
  // backward_data with stride 1 is a forward of dY with W's channel dims swapped; with one
  // group that forward packs W through a strided view. Layers chosen so that the forward is
  // the transposed pointwise path (1x1, few positions), the gemm path in tap mode (<= 128
  // outputs) and packed (> 128), Winograd 2-d and 1-d (fast Winograd allowed), and a grouped
  // layer (a swapped copy): each against the reference, under every ISA cap.
  struct Case {
    Shape x, w;
    int64_t groups, pad;
    bool winograd;
  };
  const Case cases[] = {
      {{2, 64, 3, 3}, {40, 64, 1, 1}, 1, 0, false},   // pointwise, transposed: 9 positions, 64 outputs
      {{1, 24, 9, 9}, {16, 24, 1, 1}, 1, 0, false},   // pointwise, plain
      {{1, 20, 8, 7}, {36, 20, 3, 3}, 1, 1, false},   // tap mode (the forward has 20 outputs)
      {{1, 136, 6, 5}, {8, 136, 3, 2}, 1, 1, false},  // packed im2col (the forward has 136 outputs)
      {{1, 33, 10, 9}, {40, 33, 3, 3}, 1, 1, true},   // Winograd F(4x4, 3x3)
      {{2, 32, 30}, {34, 32, 3}, 1, 2, true},          // Winograd F(4, 3), dilation 1
      {{1, 12, 7, 6}, {18, 4, 3, 3}, 3, 1, false},    // three groups: a swapped copy
  };
  Generator gen(11);
  for (const Case& c : cases) {
    SCOPED_TRACE(shape_str(c.w));
    const Tensor x = randn(c.x, kFloat32, &gen), w = randn(c.w, kFloat32, &gen);
    const bool one_d = c.x.size() == 3;
    const auto o1 = F::Conv1dFuncOptions().padding(c.pad).groups(c.groups);
    const auto o2 = F::Conv2dFuncOptions().padding(c.pad).groups(c.groups);
    const Tensor gy = randn(one_d ? F::conv1d(x, w, Tensor(), o1).sizes() : F::conv2d(x, w, Tensor(), o2).sizes(),
                            kFloat32, &gen);
    auto grad_input = [&](Algorithm a) {
      return one_d ? F::conv_backward(gy, x, w, F::Conv1dFuncOptions(o1).algorithm(a), {true, false, false}).grad_input
                   : F::conv_backward(gy, x, w, F::Conv2dFuncOptions(o2).algorithm(a), {true, false, false}).grad_input;
    };
    const Tensor want = grad_input(Algorithm::Reference);
    set_allow_fast_winograd(c.winograd);
    for (internal::Isa isa : isas()) {
      IsaCap cap(isa);
      // Winograd rounds differently from direct sums (docs/winograd.md): a looser bound there.
      EXPECT_TRUE(all_close(grad_input(Algorithm::Auto), want, c.winograd ? 1e-3 : dtype_tolerance(kFloat32)))
          << internal::name_of(isa);
    }
    set_allow_fast_winograd(false);
  }
}

TEST(Grad, BiasGradientIsTheChannelSumUnderEveryIsa) {
  // grad_bias sums grad_output over images and positions: against a float64 sum here, for
  // planes shorter and longer than the fast sum's 4096-column pieces, and the same bits for
  // 1 and 2 threads.
  Generator gen(12);
  for (const Shape& shape : {Shape{3, 5, 7}, Shape{2, 3, 70, 90}, Shape{1, 2, 4097}, Shape{4, 1, 1}}) {
    SCOPED_TRACE(shape_str(shape));
    const Tensor gy = randn(shape, kFloat32, &gen);
    const int64_t N = shape[0], C = shape[1], plane = gy.numel() / (N * C);
    const auto v = gy.to_complex_vector();
    std::vector<double> want(static_cast<std::size_t>(C), 0.0);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < plane; ++i) want[static_cast<std::size_t>(c)] += v[static_cast<std::size_t>((n * C + c) * plane + i)].real();
    const Tensor x = Tensor::zeros(shape);
    Shape ws{C, C};
    for (std::size_t d = 2; d < shape.size(); ++d) ws.push_back(1);
    const Tensor w = Tensor::zeros(ws);
    auto grad_bias = [&](int threads) {
      const int before = get_num_threads();
      set_num_threads(threads);
      const Tensor gb = shape.size() == 3
                            ? F::conv_backward(gy, x, w, F::Conv1dFuncOptions(), {false, false, true}).grad_bias
                            : F::conv_backward(gy, x, w, F::Conv2dFuncOptions(), {false, false, true}).grad_bias;
      set_num_threads(before);
      return gb;
    };
    for (internal::Isa isa : isas()) {
      IsaCap cap(isa);
      const Tensor gb = grad_bias(1);
      EXPECT_TRUE(all_close(gb, Tensor::from_values(want, {C}), dtype_tolerance(kFloat32))) << internal::name_of(isa);
      EXPECT_TRUE(bitwise_equal(gb, grad_bias(2))) << internal::name_of(isa);
    }
  }
}

TEST(Grad, GemmBlockEdgesMatchTheReference) {
  // Past every block edge of the driver: reductions longer than one K block (C_out = 200 for
  // backward_data, 2 x 20 x 21 positions for backward_weights), several row blocks (C_in/g x
  // taps = 30 x 9), column blocks of 192 with a remainder, channel counts off the tile sizes.
  Generator gen(12);
  const Tensor x = randn({2, 60, 20, 21}, kFloat32, &gen), w = randn({200, 30, 3, 3}, kFloat32, &gen);
  const auto o = F::Conv2dFuncOptions().padding({1, 0}).groups(2).padding_mode("replicate");
  const Tensor gy = randn(F::conv2d(x, w, {}, o).sizes(), kFloat32, &gen);
  const auto ref = F::conv_backward(gy, x, w, F::Conv2dFuncOptions(o).algorithm("reference"));
  const int before = get_num_threads();
  // The weight gradient both ways: channels-last per tap (30 channels per group) and im2col.
  for (int64_t min_channels : {int64_t{0}, std::numeric_limits<int64_t>::max()}) {
    SCOPED_TRACE(min_channels);
    const ChannelsLastKnobs knobs(min_channels);
    std::vector<F::ConvGradients> runs;
    for (int n : {1, 2, 3}) {
      set_num_threads(n);
      runs.push_back(F::conv_backward(gy, x, w, F::Conv2dFuncOptions(o).algorithm("gemm")));
    }
    set_num_threads(before);
    EXPECT_TRUE(all_close(runs[0].grad_input, ref.grad_input, 1e-4));
    EXPECT_TRUE(all_close(runs[0].grad_weight, ref.grad_weight, 1e-4));
    for (std::size_t i = 1; i < runs.size(); ++i) {
      EXPECT_TRUE(bitwise_equal(runs[i].grad_input, runs[0].grad_input));
      EXPECT_TRUE(bitwise_equal(runs[i].grad_weight, runs[0].grad_weight));
    }
  }
}

TEST(Grad, WeightGradientPlansAreKeptPerShapeAndKnob) {
  // A weight-gradient plan depends on the layer's shape: conv_backward calls of one shape share
  // it (a training step), a different shape, ISA cap or channels-last knob gets its own, and
  // results stay the reference's whichever plan ran.
  Generator gen(19);
  const Tensor x = randn({2, 40, 9, 8}, kFloat32, &gen), w = randn({24, 40, 3, 3}, kFloat32, &gen);
  const auto o = F::Conv2dFuncOptions().padding(1);
  internal::ConvParams q = internal::make_conv_params(x, w, Tensor(), internal::conv_args(ConvSpec::from(o)));
  q.direction = internal::Direction::BackwardWeights;
  const auto a = internal::shared_weights_plan(q, Algorithm::Auto);
  EXPECT_EQ(internal::shared_weights_plan(q, Algorithm::Auto).get(), a.get());
  EXPECT_NE(internal::shared_weights_plan(q, Algorithm::Gemm).get(), a.get());
  {
    const ChannelsLastKnobs knobs(std::numeric_limits<int64_t>::max());
    EXPECT_NE(internal::shared_weights_plan(q, Algorithm::Auto).get(), a.get());
  }
  internal::ConvParams q2 = q;
  q2.N = 3;
  EXPECT_NE(internal::shared_weights_plan(q2, Algorithm::Auto).get(), a.get());
  // 23 other shapes (a ResNet-50's worth) keep it; release_cached_memory() drops it.
  for (int64_t n = 4; n < 27; ++n) {
    q2.N = n;
    internal::shared_weights_plan(q2, Algorithm::Auto);
  }
  EXPECT_EQ(internal::shared_weights_plan(q, Algorithm::Auto).get(), a.get());
  release_cached_memory();
  EXPECT_NE(internal::shared_weights_plan(q, Algorithm::Auto).get(), a.get());
  const Tensor gy = randn(F::conv2d(x, w, {}, o).sizes(), kFloat32, &gen);
  const Tensor want = F::conv_backward(gy, x, w, F::Conv2dFuncOptions(o).algorithm("reference"), {false, true, false}).grad_weight;
  for (internal::Isa isa : isas()) {
    IsaCap cap(isa);
    for (int rep = 0; rep < 2; ++rep)
      EXPECT_TRUE(all_close(F::conv_backward(gy, x, w, o, {false, true, false}).grad_weight, want, dtype_tolerance(kFloat32)))
          << internal::name_of(isa);
  }
}

TEST(Grad, FewRowInputGradientCopiesDyBlocksFirst) {
  // One input channel, kernel 10, stride 5 (wav2vec2's first layer): W^T * dY has 10 rows, one
  // row tile, and its dY blocks are copied before the kernel reads them. Against the reference
  // under every ISA cap (whichever tile each picks), the same bits for 1 and 3 threads.
  Generator gen(13);
  const Tensor x = randn({2, 1, 707}, kFloat32, &gen), w = randn({40, 1, 10}, kFloat32, &gen);
  const auto o = F::Conv1dFuncOptions().stride(5).padding(2);
  const Tensor gy = randn(F::conv1d(x, w, {}, o).sizes(), kFloat32, &gen);
  const Tensor want = F::conv_backward(gy, x, w, F::Conv1dFuncOptions(o).algorithm("reference"), {true, false, false}).grad_input;
  const int before = get_num_threads();
  for (internal::Isa isa : isas()) {
    IsaCap cap(isa);
    set_num_threads(1);
    const Tensor one = F::conv_backward(gy, x, w, o, {true, false, false}).grad_input;
    set_num_threads(3);
    const Tensor three = F::conv_backward(gy, x, w, o, {true, false, false}).grad_input;
    set_num_threads(before);
    EXPECT_TRUE(all_close(one, want, dtype_tolerance(kFloat32))) << internal::name_of(isa);
    EXPECT_TRUE(bitwise_equal(one, three)) << internal::name_of(isa);
  }
}

TEST(Grad, ChannelsLastWeightGradientAddsItsPiecesInOrder) {
  // The channels-last weight gradient copies as much of the input at a time as fits its piece
  // budget (pinned here to 1 MB, half of a 2 MB L2, so the layouts below do not depend on the
  // machine), each piece adding onto the sums of those before; with enough pieces and small
  // products, up to 8 chunks of pieces run in parallel into partial sums added in order.
  // Against the reference under every ISA cap, with the same bits for 1, 2 and 3 threads:
  //   - 64 channels on 64 x 64, three images: 9 pieces of row ranges in 8 chunks;
  //   - five images of 32 x 32: 10 pieces of half an image, taps read back to front;
  //   - 17 small images: pieces of 2 images, the last one short;
  //   - stride 2: row ranges starting at every other input row;
  //   - 3-d: ranges of output depth planes;
  //   - two groups of 64 channels, and a 1x1 layer (its chunks summed straight into dW);
  //   - a long 1-d signal: 8 ranges of outputs, the taps dilated;
  //   - 2048 channels on 300 positions: 3 ranges too short to chunk, one after the other;
  //   - products of 1.4 MB over 12 small images: groups of 11 images, one after the other;
  //   - one piece of 1.2 MB of products (one image of 8 x 8, 256 x 128 channels, and two groups
  //     of 128 x 128, taps read back to front): dW in two blocks of rows, each spread as made.
  auto config = [](int dim, int64_t N, int64_t Cin, int64_t Cout, Shape S, int64_t k, int64_t stride, int64_t pad,
                   int64_t dil, PaddingMode mode) {
    grad::Config c;
    c.dim = dim, c.N = N, c.Cin = Cin, c.Cout = Cout, c.S = std::move(S), c.mode = mode, c.dtype = kFloat32;
    c.K = Shape(static_cast<std::size_t>(dim), k), c.stride = Shape(static_cast<std::size_t>(dim), stride);
    c.lo = c.hi = Shape(static_cast<std::size_t>(dim), pad), c.dil = Shape(static_cast<std::size_t>(dim), dil);
    return c;
  };
  std::vector<grad::Config> cases = {
      config(2, 3, 64, 8, {64, 64}, 3, 1, 1, 1, PaddingMode::Circular),
      config(2, 5, 64, 8, {32, 32}, 3, 1, 1, 1, PaddingMode::Zeros),
      config(2, 17, 40, 8, {10, 10}, 3, 1, 1, 1, PaddingMode::Zeros),
      config(2, 3, 64, 8, {40, 40}, 3, 2, 1, 1, PaddingMode::Reflect),
      config(3, 2, 32, 8, {8, 12, 12}, 3, 1, 1, 1, PaddingMode::Replicate),
      config(2, 2, 128, 16, {20, 20}, 3, 1, 1, 1, PaddingMode::Zeros),
      config(2, 4, 64, 8, {24, 24}, 1, 1, 0, 1, PaddingMode::Zeros),
      config(1, 2, 64, 8, {3000}, 3, 1, 2, 2, PaddingMode::Reflect),
      config(1, 1, 2048, 8, {300}, 3, 1, 1, 1, PaddingMode::Replicate),
      config(2, 12, 256, 160, {6, 6}, 3, 1, 1, 1, PaddingMode::Zeros),
      config(2, 1, 128, 256, {8, 8}, 3, 1, 1, 1, PaddingMode::Zeros),
      config(2, 1, 256, 256, {8, 8}, 3, 1, 1, 1, PaddingMode::Zeros)};
  cases[1].conv_mode = ConvMode::Convolution;
  cases[5].groups = 2;
  cases[11].groups = 2;
  cases[11].conv_mode = ConvMode::Convolution;
  Generator gen(14);
  const int before = get_num_threads();
  const ChannelsLastKnobs knobs(0, int64_t{1} << 20);
  for (const grad::Config& c : cases) {
    SCOPED_TRACE(grad::describe(c));
    const Tensor x = randn(grad::input_shape(c), kFloat32, &gen), w = randn(grad::weight_shape(c), kFloat32, &gen);
    const Tensor gy = randn(grad::forward(c, x, w).sizes(), kFloat32, &gen);
    auto grad_weight_of = [&](const Tensor& xi, Algorithm a) {
      switch (c.dim) {
        case 1: { auto o = F::Conv1dFuncOptions(); grad::apply<1>(o, c); return F::conv_backward(gy, xi, w, o.algorithm(a), {false, true, false}).grad_weight; }
        case 2: { auto o = F::Conv2dFuncOptions(); grad::apply<2>(o, c); return F::conv_backward(gy, xi, w, o.algorithm(a), {false, true, false}).grad_weight; }
        default: { auto o = F::Conv3dFuncOptions(); grad::apply<3>(o, c); return F::conv_backward(gy, xi, w, o.algorithm(a), {false, true, false}).grad_weight; }
      }
    };
    auto grad_weight = [&](Algorithm a) { return grad_weight_of(x, a); };
    const Tensor ref = grad_weight(Algorithm::Reference);
    for (internal::Isa isa : isas()) {
      IsaCap cap(isa);
      std::vector<Tensor> runs;
      for (int n : {1, 2, 3}) {
        set_num_threads(n);
        runs.push_back(grad_weight(Algorithm::Gemm));
      }
      set_num_threads(before);
      EXPECT_TRUE(all_close(runs[0], ref, 1e-4)) << internal::name_of(isa);
      for (std::size_t i = 1; i < runs.size(); ++i) EXPECT_TRUE(bitwise_equal(runs[i], runs[0])) << internal::name_of(isa);
      // An input with its channels innermost (NLC, NHWC, NDHWC) is read as it is, the same bits;
      // a channels-last 2-d one (zero padding) gets a channels-last dW, which the plan writes
      // directly in every form above (pieces, chunks, row blocks, taps read back to front).
      std::vector<int64_t> to_last{0}, back(static_cast<std::size_t>(c.dim + 2));
      for (int d = 2; d < c.dim + 2; ++d) to_last.push_back(d);
      to_last.push_back(1);
      for (std::size_t d = 0; d < to_last.size(); ++d) back[static_cast<std::size_t>(to_last[d])] = static_cast<int64_t>(d);
      const Tensor g_cl = grad_weight_of(x.permute(to_last).contiguous().permute(back), Algorithm::Gemm);
      EXPECT_TRUE(bitwise_equal(g_cl, runs[0])) << internal::name_of(isa);
      EXPECT_EQ(g_cl.is_contiguous(), c.dim != 2 || c.mode != PaddingMode::Zeros || c.K[0] == 1) << internal::name_of(isa);
    }
  }
}

TEST(Grad, SplitReductionsMatchTheReferenceWithTheSameBitsForAnyThreadCount) {
  // A small weight gradient (8 x 3 x 5 x 5) over a long reduction (3 images of 45 x 44
  // positions): the driver splits the reduction into chunks (a function of the shape) and adds
  // their partial sums in order.
  Generator gen(13);
  const Tensor x = randn({3, 3, 91, 88}, kFloat32, &gen), w = randn({8, 3, 5, 5}, kFloat32, &gen);
  const auto o = F::Conv2dFuncOptions().stride(2).padding(2);
  const Tensor gy = randn(F::conv2d(x, w, {}, o).sizes(), kFloat32, &gen);
  internal::gemm::Problem pr;
  pr.M = 8, pr.N = 75, pr.outer = 3, pr.K = 46 * 44, pr.split_reduction = true;
  ASSERT_GT(internal::gemm::reduction_chunks(pr, 1, internal::gemm::Driver::kc_for(pr.K)), 1);
  const auto ref = F::conv_backward(gy, x, w, F::Conv2dFuncOptions(o).algorithm("reference"), {false, true, false});
  const int before = get_num_threads();
  std::vector<Tensor> runs;
  for (int n : {1, 2, 3}) {
    set_num_threads(n);
    runs.push_back(F::conv_backward(gy, x, w, F::Conv2dFuncOptions(o).algorithm("gemm"), {false, true, false}).grad_weight);
  }
  set_num_threads(before);
  EXPECT_TRUE(all_close(runs[0], ref.grad_weight, 1e-4));
  for (std::size_t i = 1; i < runs.size(); ++i) EXPECT_TRUE(bitwise_equal(runs[i], runs[0]));
}

// A gradient given with any strides — the stride-0 expansion of y.sum(), a transposed view —
// gives the bits of its contiguous copy, for a convolution and a transposed one.
TEST(Grad, StridedGradOutputGivesTheContiguousBits) {
  manual_seed(12);
  const Tensor x = randn({2, 8, 9, 9}), w = randn({8, 1, 3, 3});
  const auto o = F::Conv2dFuncOptions().padding(1).groups(8);
  const float one = 1.0f;
  const Tensor ones = Tensor::from_blob(const_cast<float*>(&one), {2, 8, 9, 9}, kFloat32, {0, 0, 0, 0});
  const Tensor swapped = randn({2, 8, 9, 9}).transpose(2, 3);
  for (const Tensor& gy : {ones, swapped}) {
    const auto a = F::conv_backward(gy, x, w, o), b = F::conv_backward(gy.contiguous(), x, w, o);
    EXPECT_TRUE(bitwise_equal(a.grad_input, b.grad_input));
    EXPECT_TRUE(bitwise_equal(a.grad_weight, b.grad_weight));
    EXPECT_TRUE(bitwise_equal(a.grad_bias, b.grad_bias));
    const Tensor wt = randn({8, 2, 3, 3});
    const auto t = F::ConvTranspose2dFuncOptions().padding(1);
    const Tensor xt = randn({2, 8, 9, 9});
    const auto c = F::conv_transpose_backward(gy.slice(1, 0, 2).contiguous().transpose(2, 3), xt, wt, t);
    const auto d = F::conv_transpose_backward(gy.slice(1, 0, 2).contiguous().transpose(2, 3).contiguous(), xt, wt, t);
    EXPECT_TRUE(bitwise_equal(c.grad_input, d.grad_input));
    EXPECT_TRUE(bitwise_equal(c.grad_weight, d.grad_weight));
  }
}

TEST(Grad, HugeDilationOverPaddingNeedsNoHugeCopy) {
  // One output whose taps are 30000 apart over 30000 zeros of padding: a padded copy of x would
  // hold 20000 x 60001 floats (4.8 GB). The gemm paths refuse it (a clear error when forced),
  // auto takes the reference, and nothing that size is allocated.
  Generator gen(17);
  const Tensor x = randn({1, 20000, 1}, kFloat32, &gen), w = randn({1, 20000, 3}, kFloat32, &gen);
  const auto o = F::Conv1dFuncOptions().dilation(30000).padding(30000);
  const Tensor gy = randn({1, 1, 1}, kFloat32, &gen);  // (L + 2 * 30000 - 60001) + 1 = 1 output
  expect_error_of<ArgumentError>([&] { F::conv_backward(gy, x, w, F::Conv1dFuncOptions(o).algorithm("gemm")); },
                                 {"algorithm 'gemm' cannot compute this conv1d backward_data"});
  const auto g = F::conv_backward(gy, x, w, o, {false, true, false});
  const auto ref = F::conv_backward(gy, x, w, F::Conv1dFuncOptions(o).algorithm("reference"), {false, true, false});
  EXPECT_TRUE(all_close(g.grad_weight, ref.grad_weight, 1e-6));
}

TEST(Grad, NonFiniteGradientsLandWhereTheReferencePutsThem) {
  // grad_output with inf and NaN at border outputs (whose windows read zero padding), then a
  // weight with inf too: every gradient's class per element equals the reference's, on the
  // forward route (stride 1) and col2im (stride 2) of backward_data.
  auto put = [](Tensor& t, int64_t flat, float v) { internal::mutable_data<float>(t)[flat] = v; };
  auto classes = [](const Tensor& t) {
    std::vector<int> c;
    for (double v : t.to_vector()) c.push_back(std::isnan(v) ? 0 : std::isinf(v) ? (v > 0 ? 1 : 2) : 3);
    return c;
  };
  // (Groups of 3 input and 4 output channels, and a depthwise layer: the direct weight
  // gradient's fallback for an image whose dY holds them, with and without shared copies.)
  for (int64_t sw : {1, 2, 0}) {
    Generator gen(21);
    const bool dw = sw == 0;
    const Tensor x = randn({2, 6, 9, 8}, kFloat32, &gen);
    Tensor w = randn({dw ? 6 : 8, dw ? 1 : 3, 3, 3}, kFloat32, &gen);
    const auto o = F::Conv2dFuncOptions().padding(1).groups(dw ? 6 : 2).stride({1, dw ? 1 : sw});
    Tensor gy = randn(F::conv2d(x, w, {}, o).sizes(), kFloat32, &gen);
    put(gy, 0, INFINITY);
    put(gy, gy.numel() - 1, NAN);
    put(gy, 37, -INFINITY);
    for (int round = 0; round < 2; ++round) {
      if (round == 1) put(w, 5, INFINITY);
      const auto ref = F::conv_backward(gy, x, w, F::Conv2dFuncOptions(o).algorithm("reference"));
      for (internal::Isa isa : isas()) {
        IsaCap cap(isa);
        const auto g = F::conv_backward(gy, x, w, o);
        const std::string at = internal::str_cat(internal::name_of(isa), " stride ", sw, " round ", round);
        EXPECT_EQ(classes(g.grad_input), classes(ref.grad_input)) << at;
        EXPECT_EQ(classes(g.grad_weight), classes(ref.grad_weight)) << at;
        EXPECT_EQ(classes(g.grad_bias), classes(ref.grad_bias)) << at;
        const ChannelsLastKnobs knobs(0);  // the weight gradient's other form
        EXPECT_EQ(classes(F::conv_backward(gy, x, w, o, {false, true, false}).grad_weight), classes(ref.grad_weight))
            << at << " channels-last";
      }
    }
  }
}

TEST(Grad, ModulesAccumulateIntoGradAndZeroGradClears) {
  manual_seed(3);
  nn::Conv2d m(nn::Conv2dOptions(4, 6, 3).padding(1).groups(2));
  const Tensor x = randn({2, 4, 5, 5}), gy = randn({2, 6, 5, 5});
  EXPECT_FALSE(m.weight.grad().defined());
  const Tensor gx = m.backward(x, gy);
  const auto g = F::conv_backward(gy, x, m.weight, F::Conv2dFuncOptions().padding(1).groups(2));
  EXPECT_TRUE(bitwise_equal(gx, g.grad_input));
  EXPECT_TRUE(bitwise_equal(m.weight.grad(), g.grad_weight));
  EXPECT_TRUE(bitwise_equal(m.bias.grad(), g.grad_bias));
  m.backward(x, gy);
  const auto twice = m.weight.grad().to_vector(), once = g.grad_weight.to_vector();
  for (std::size_t i = 0; i < once.size(); ++i) EXPECT_EQ(twice[i], static_cast<float>(once[i] + once[i]));
  m.zero_grad();
  EXPECT_FALSE(m.weight.grad().defined());
  EXPECT_FALSE(m.bias.grad().defined());
  EXPECT_FALSE(m.weight.view(m.weight.sizes()).grad().defined());  // views have their own slot

  nn::ConvTranspose2d t(nn::ConvTranspose2dOptions(4, 6, 3).stride(2).padding(1).groups(2));
  EXPECT_EQ(t.weight.sizes(), (Shape{4, 3, 3, 3}));
  const Tensor y = t(x, {10, 10});  // output_size: output_padding (1, 1)
  EXPECT_EQ(y.sizes(), (Shape{2, 6, 10, 10}));
  const Tensor tgy = randn(y.sizes());
  t.backward(x, tgy);  // grad_output's size says which output_size forward had
  const auto tg = F::conv_transpose_backward(
      tgy, x, t.weight, F::ConvTranspose2dFuncOptions().stride(2).padding(1).groups(2).output_padding(1));
  EXPECT_TRUE(bitwise_equal(t.weight.grad(), tg.grad_weight));
  EXPECT_TRUE(bitwise_equal(t.bias.grad(), tg.grad_bias));
}

TEST(Grad, ConvTransposeModuleKeepsItsPlanAndSeesEveryChange) {
  // The cached plan is reused while nothing changed, and rebuilt for a new input shape, a new
  // output_size, a write through a data pointer, a new weight and a removed bias.
  manual_seed(23);
  nn::ConvTranspose2d m(nn::ConvTranspose2dOptions(4, 6, 3).stride(2).padding(1));
  const Tensor x = randn({2, 4, 5, 5}), x2 = randn({1, 4, 7, 6});
  auto functional = [&](const Tensor& in, int64_t op) {
    return F::conv_transpose2d(in, m.weight, m.bias, F::ConvTranspose2dFuncOptions().stride(2).padding(1).output_padding(op));
  };
  const Tensor y = m(x);
  EXPECT_TRUE(bitwise_equal(m(x), y));
  EXPECT_TRUE(bitwise_equal(y, functional(x, 0)));
  EXPECT_TRUE(bitwise_equal(m(x2), functional(x2, 0)));
  EXPECT_TRUE(bitwise_equal(m(x, {10, 10}), functional(x, 1)));
  m.weight.data<float>()[7] += 1.0f;  // written outside convkit: seen by its fingerprint
  const Tensor changed = m(x);
  EXPECT_FALSE(bitwise_equal(changed, y));
  EXPECT_TRUE(bitwise_equal(changed, functional(x, 0)));
  m.set_weight(randn({4, 6, 3, 3}));
  EXPECT_TRUE(bitwise_equal(m(x), functional(x, 0)));
  m.set_bias(Tensor());
  EXPECT_TRUE(bitwise_equal(m(x), functional(x, 0)));
}

TEST(Grad, ConvTransposeInitDrawsLikeAConvWithTheSameWeightShape) {
  // PyTorch reads fan_in from weight.size(1) * prod(K) for both module kinds, so a
  // ConvTranspose2d(4, 6, 3, groups=2) (weight (4, 3, 3, 3)) draws its weight exactly as a
  // Conv2d(3, 4, 3) (weight (4, 3, 3, 3)) from the same seed.
  manual_seed(42);
  nn::ConvTranspose2d t(nn::ConvTranspose2dOptions(4, 6, 3).groups(2).bias(false));
  manual_seed(42);
  nn::Conv2d c(nn::Conv2dOptions(3, 4, 3).bias(false));
  EXPECT_TRUE(bitwise_equal(t.weight, c.weight));
  const double bound = 1 / std::sqrt(27.0);
  for (double v : t.weight.to_vector()) EXPECT_LE(std::fabs(v), bound);
}

TEST(Grad, MessagesNameTheArgument) {
  const Tensor x = Tensor::zeros({1, 4, 5, 5}), w = Tensor::zeros({4, 3, 3, 3});
  expect_error_of<ArgumentError>([&] { F::conv_transpose2d(x, w, {}, F::ConvTranspose2dFuncOptions().output_padding(1)); },
                                 {"output padding must be smaller than either stride or dilation",
                                  "output_padding_height: 1 output_padding_width: 1 stride_height: 1"});
  expect_error_of<ArgumentError>([&] { F::conv_transpose2d(x, w, {}, F::ConvTranspose2dFuncOptions().padding(5)); },
                                 {"Given input size per channel: (5 x 5). Calculated output size per channel: (-3 x -3). "
                                  "Output size is too small"});
  expect_error_of<ArgumentError>([&] { F::conv_transpose2d(x, Tensor::zeros({3, 3, 3, 3})); },
                                 {"Given transposed=1, weight of size [3, 3, 3, 3], expected input[1, 4, 5, 5] to have "
                                  "3 channels, but got 4 channels instead"});
  expect_error_of<ArgumentError>([&] { F::conv_transpose2d(x, w, Tensor::zeros({4})); },
                                 {"expected bias to be 1-dimensional with 3 elements, but got bias of size [4]"});
  expect_error_of<ArgumentError>([&] { F::conv_transpose2d(x, w, {}, F::ConvTranspose2dFuncOptions().padding("same")); },
                                 {"conv_transpose2d: padding must be an int, a tuple or (lo, hi) pairs"});
  nn::ConvTranspose2d m(nn::ConvTranspose2dOptions(4, 6, 3).stride(2));
  expect_error_of<ArgumentError>([&] { m(x, {13, 12}); },
                                 {"requested an output size of [13, 12], but valid sizes range from [11, 11] to [12, 12] "
                                  "(for an input of [5, 5])"});
  expect_error_of<ArgumentError>([&] { m(x, {6, 12, 12}); },
                                 {"ConvTranspose2D: for 4D input, output_size must have 2 or 4 elements (got 3)"});
  expect_error_of<ArgumentError>([] { nn::ConvTranspose2d(nn::ConvTranspose2dOptions(4, 6, 3).padding_mode("reflect")); },
                                 {"Only \"zeros\" padding mode is supported for ConvTranspose2d"});
  expect_error_of<ArgumentError>([] { nn::ConvTranspose2d(nn::ConvTranspose2dOptions(4, 6, 3).groups(4)); },
                                 {"out_channels must be divisible by groups"});
  // The matching convolution's uncropped extent must fit in 64 bits, not only the output.
  expect_error_of<ArgumentError>(
      [] {
        F::conv_transpose1d(Tensor::zeros({1, 1, 3}), Tensor::zeros({1, 1, 1}), {},
                            F::ConvTranspose1dFuncOptions().stride(int64_t{1} << 62).padding(int64_t{1} << 62));
      },
      {"conv_transpose1d", "before the padding crop, beyond 64 bits"});
  expect_error_of<ArgumentError>(
      [] {
        F::conv_transpose1d(Tensor::zeros({1, 1, 1}), Tensor::zeros({1, 1, 3}), {},
                            F::ConvTranspose1dFuncOptions().dilation((int64_t{1} << 62) + 1).padding(int64_t{1} << 62));
      },
      {"before the padding crop, beyond 64 bits"});
  const Tensor cw = Tensor::zeros({4, 4, 3, 3});
  expect_error_of<ArgumentError>([&] { F::conv_backward(Tensor::zeros({1, 4, 5, 5}), x, cw, F::Conv2dFuncOptions()); },
                                 {"conv2d backward: expected grad_output of size [1, 4, 3, 3]", "got grad_output of size [1, 4, 5, 5]"});
  expect_error_of<ArgumentError>([&] { F::conv_backward(Tensor::zeros({1, 4, 3, 3}, kFloat64), x, cw, F::Conv2dFuncOptions()); },
                                 {"grad_output dtype float64 should be the input's dtype float32"});
  expect_error_of<ArgumentError>(
      [&] { F::conv_backward(Tensor::zeros({1, 4, 3, 3}), x, cw, F::Conv2dFuncOptions().algorithm("winograd")); },
      {"algorithm 'winograd' cannot compute this conv2d backward_data",
       "gradients and transposed convolutions run on gemm, depthwise or the reference"});
}

// col2im onto a layer of one input and one output row: the taps of a taller kernel that read
// padding rows add nothing (a conv2d's input gradient with H = 1, and a ConvTranspose2d's
// forward on one row), and a stride near 2^63 keeps each tap's single term.
TEST(Grad, Col2imOfOneRowSkipsPaddingRowsAndHugeStrides) {
  Generator gen(41);
  for (const internal::Isa isa : isas()) {
    IsaCap cap(isa);
    const Tensor x = randn({1, 8, 1, 20}, kFloat32, &gen), w = randn({32, 8, 3, 3}, kFloat32, &gen);
    const auto o = F::Conv2dFuncOptions().stride({1, 2}).padding(1);
    const Tensor gy = randn(F::conv2d(x, w, {}, o).sizes(), kFloat32, &gen);
    EXPECT_TRUE(all_close(F::conv_backward(gy, x, w, o, {true, false, false}).grad_input,
                          F::conv_backward(gy, x, w, F::Conv2dFuncOptions(o).algorithm("reference"), {true, false, false}).grad_input,
                          1e-4)) << internal::name_of(isa);
    const Tensor xt = randn({2, 16, 1, 9}, kFloat32, &gen), wt = randn({16, 12, 3, 3}, kFloat32, &gen);
    const auto ot = F::ConvTranspose2dFuncOptions().stride(2).padding(1);
    EXPECT_TRUE(all_close(F::conv_transpose2d(xt, wt, {}, ot),
                          F::conv_transpose2d(xt, wt, {}, F::ConvTranspose2dFuncOptions(ot).algorithm("reference")), 1e-4))
        << internal::name_of(isa);
    const Tensor x1 = randn({1, 32, 7}, kFloat32, &gen), w1 = randn({20, 32, 3}, kFloat32, &gen);
    const auto o1 = F::Conv1dFuncOptions().stride(INT64_MAX).padding(1);
    const Tensor gy1 = randn(F::conv1d(x1, w1, {}, o1).sizes(), kFloat32, &gen);
    EXPECT_TRUE(all_close(F::conv_backward(gy1, x1, w1, o1, {true, false, false}).grad_input,
                          F::conv_backward(gy1, x1, w1, F::Conv1dFuncOptions(o1).algorithm("reference"), {true, false, false}).grad_input,
                          1e-5)) << internal::name_of(isa);
  }
}

}  // namespace
}  // namespace convkit::test
