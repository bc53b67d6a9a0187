// Strided input gradients and transposed convolutions whose kernels are no larger than their
// strides, or whose phases are large, run as stride-1 forwards, one per input phase (when
// their layers have 16 input channels per group or several groups); the others col2im. The strided configurations of the
// gradient sweep, widened to such channels and kernels, against the reference under every ISA
// cap, and the same bits for any thread count.
#include <cmath>

#include "conv/params.h"
#include "conv/plan.h"
#include "core/storage.h"
#include "grad_sweep.h"
#include "test_util.h"

namespace convkit::test {
namespace {

using namespace grad;

// The sweep's zero-padded configurations with a stride, channels widened so that the phase
// form may serve them: groups of 1 get 16 or 17 input channels (so that some tile edges are
// partial); grouped ones keep theirs. Every other one also gets kernels no larger than its
// strides (undilated), the layers the phase form takes; the rest run col2im.
std::vector<Config> strided_configs() {
  std::vector<Config> v;
  int i = 0;
  for (Config c : sweep()) {
    bool strided = false;
    for (int64_t s : c.stride) strided = strided || s > 1;
    if (!strided || c.mode != PaddingMode::Zeros) continue;
    if (c.groups == 1) c.Cin = 16 + (i % 2);
    if (i++ % 2 == 0)
      for (std::size_t d = 0; d < c.K.size(); ++d) c.K[d] = std::min(c.K[d], c.stride[d]), c.dil[d] = 1;
    c.dtype = kFloat32;
    try {  // (the smaller kernel may leave 'same' or the padding invalid)
      forward(c, Tensor::zeros(input_shape(c)), Tensor::zeros(weight_shape(c)));
      v.push_back(c);
    } catch (const ArgumentError&) {
    }
  }
  return v;
}

TEST(GradPhases, StridedInputGradientMatchesTheReference) {
  Generator gen(41);
  const auto configs = strided_configs();
  ASSERT_GE(configs.size(), 30u);
  for (const Config& c : configs) {
    SCOPED_TRACE(describe(c));
    const Tensor x = randn(input_shape(c), kFloat32, &gen), w = randn(weight_shape(c), kFloat32, &gen);
    const Tensor gy = randn(forward(c, x, w).sizes(), kFloat32, &gen);
    Config r = c;
    const auto with = [&](Algorithm a) {
      switch (c.dim) {
        case 1: { auto o = F::Conv1dFuncOptions(); apply<1>(o, c); return F::conv_backward(gy, x, w, o.algorithm(a), {true, false, false}); }
        case 2: { auto o = F::Conv2dFuncOptions(); apply<2>(o, c); return F::conv_backward(gy, x, w, o.algorithm(a), {true, false, false}); }
        default: { auto o = F::Conv3dFuncOptions(); apply<3>(o, c); return F::conv_backward(gy, x, w, o.algorithm(a), {true, false, false}); }
      }
    };
    const Tensor want = with(Algorithm::Reference).grad_input;
    for (internal::Isa isa : isas()) {
      IsaCap cap(isa);
      EXPECT_TRUE(all_close(with(Algorithm::Auto).grad_input, want, dtype_tolerance(kFloat32))) << internal::name_of(isa);
    }
  }
}

TEST(GradPhases, TransposedConvolutionWithBiasMatchesTheReference) {
  // A transposed layer's forward is the input gradient of its matching convolution plus the
  // bias: the same phases, each adding the bias, and positions no weight reaches (a kernel
  // smaller than the stride) holding the bias alone.
  Generator gen(42);
  int i = 0;
  for (const TConfig& t0 : transpose_sweep()) {
    bool strided = false;
    for (int64_t s : t0.c.stride) strided = strided || s > 1;
    if (!strided) continue;
    TConfig t = t0;
    if (t.c.groups == 1) t.c.Cout = 16 + (i % 2);  // the matching convolution's input channels
    if (i++ % 2 == 0) {  // a kernel no larger than the stride (output_padding stays below it)
      for (std::size_t d = 0; d < t.c.K.size(); ++d) {
        t.c.K[d] = std::min(t.c.K[d], t.c.stride[d]), t.c.dil[d] = 1;
        t.output_padding[d] = std::min(t.output_padding[d], t.c.stride[d] - 1);
      }
    }
    SCOPED_TRACE(describe(t.c));
    const Tensor x = randn(input_shape(t.c), kFloat32, &gen), w = randn(transpose_weight_shape(t.c), kFloat32, &gen);
    const Tensor b = randn({t.c.Cout}, kFloat32, &gen);
    Tensor want;
    try {  // (the smaller kernel may crop the output to nothing)
      switch (t.c.dim) {
        case 1: want = F::conv_transpose1d(x, w, b, transpose_options<1>(t).algorithm("reference")); break;
        case 2: want = F::conv_transpose2d(x, w, b, transpose_options<2>(t).algorithm("reference")); break;
        default: want = F::conv_transpose3d(x, w, b, transpose_options<3>(t).algorithm("reference")); break;
      }
    } catch (const ArgumentError&) {
      continue;
    }
    for (internal::Isa isa : isas()) {
      IsaCap cap(isa);
      EXPECT_TRUE(all_close(transpose(t, x, w, b), want, dtype_tolerance(kFloat32))) << internal::name_of(isa);
    }
  }
}

TEST(GradPhases, KernelsSmallerThanTheStrideAndTheSameBitsForAnyThreadCount) {
  // A 1x1 stride-2 layer (ResNet's projection shortcut) reaches one phase of four; a 2x1 kernel
  // with stride (3, 2) and dilation 2 leaves phases without taps; U-Net's 2x2 stride-2
  // transposed layer splits into four 1x1 forwards.
  struct Case {
    Shape x, w, stride, dilation, pad;
  };
  const Case cases[] = {
      {{2, 32, 9, 9}, {24, 32, 1, 1}, {2, 2}, {1, 1}, {0, 0}},
      {{1, 20, 11, 10}, {18, 20, 2, 1}, {3, 2}, {2, 2}, {1, 0}},
      {{1, 64, 12, 12}, {32, 64, 2, 2}, {2, 2}, {1, 1}, {0, 0}},
  };
  Generator gen(43);
  for (const Case& c : cases) {
    SCOPED_TRACE(shape_str(c.w));
    const Tensor x = randn(c.x, kFloat32, &gen), w = randn(c.w, kFloat32, &gen);
    const auto o = F::Conv2dFuncOptions().stride(c.stride).dilation(c.dilation).padding(c.pad);
    const Tensor gy = randn(F::conv2d(x, w, {}, o).sizes(), kFloat32, &gen);
    const Tensor want = F::conv_backward(gy, x, w, F::Conv2dFuncOptions(o).algorithm("reference"), {true, false, false}).grad_input;
    const int before = get_num_threads();
    std::vector<Tensor> got;
    for (int n : {1, 2, 3}) {
      set_num_threads(n);
      got.push_back(F::conv_backward(gy, x, w, o, {true, false, false}).grad_input);
    }
    set_num_threads(before);
    EXPECT_TRUE(all_close(got[0], want, dtype_tolerance(kFloat32)));
    EXPECT_TRUE(bitwise_equal(got[1], got[0]));
    EXPECT_TRUE(bitwise_equal(got[2], got[0]));
  }
}

TEST(GradPhases, KernelsLargerThanTheStrideOverManyPositions) {
  // Phases of at least 512 positions take the phase form with several taps each: ResNet's 3x3
  // stride 2 (odd sizes: phases of unequal lengths, and a flipped kernel), a dilated one whose
  // phases each get all taps, a long 1-d one (wav2vec2's 3-tap stride 2) and a depthwise one
  // (MobileNetV2's, its phases on the depthwise forward).
  struct Case {
    Shape x, w, stride, dilation, pad;
    bool flip;
    int64_t groups = 1;
  };
  const Case cases[] = {
      {{1, 17, 47, 50}, {20, 17, 3, 3}, {2, 2}, {1, 1}, {1, 1}, false},
      {{1, 16, 46, 48}, {12, 16, 3, 3}, {2, 2}, {1, 1}, {1, 0}, true},
      {{1, 16, 48, 48}, {8, 16, 3, 3}, {2, 2}, {2, 2}, {2, 2}, false},
      {{2, 16, 1101}, {24, 16, 3}, {2}, {1}, {0}, false},
      {{1, 24, 47, 50}, {48, 1, 3, 3}, {2, 2}, {1, 1}, {1, 1}, false, 24},  // depthwise, multiplier 2
  };
  Generator gen(45);
  for (const Case& c : cases) {
    SCOPED_TRACE(shape_str(c.x) + " " + shape_str(c.w));
    const Tensor x = randn(c.x, kFloat32, &gen), w = randn(c.w, kFloat32, &gen);
    const ConvMode mode = c.flip ? ConvMode::Convolution : ConvMode::CrossCorrelation;
    const auto grad = [&](const char* algorithm, const Tensor* gy_in) {
      if (c.x.size() == 3) {
        const auto o = F::Conv1dFuncOptions().stride(c.stride).dilation(c.dilation).padding(c.pad).conv_mode(mode).groups(c.groups).algorithm(algorithm);
        const Tensor gy = gy_in ? *gy_in : randn(F::conv1d(x, w, {}, o).sizes(), kFloat32, &gen);
        return std::make_pair(gy, F::conv_backward(gy, x, w, o, {true, false, false}).grad_input);
      }
      const auto o = F::Conv2dFuncOptions().stride(c.stride).dilation(c.dilation).padding(c.pad).conv_mode(mode).groups(c.groups).algorithm(algorithm);
      const Tensor gy = gy_in ? *gy_in : randn(F::conv2d(x, w, {}, o).sizes(), kFloat32, &gen);
      return std::make_pair(gy, F::conv_backward(gy, x, w, o, {true, false, false}).grad_input);
    };
    const auto [gy, want] = grad("reference", nullptr);
    const int before = get_num_threads();
    std::vector<Tensor> got;
    for (int n : {1, 2, 3}) {
      set_num_threads(n);
      got.push_back(grad("auto", &gy).second);
    }
    set_num_threads(before);
    EXPECT_TRUE(all_close(got[0], want, dtype_tolerance(kFloat32)));
    EXPECT_TRUE(bitwise_equal(got[1], got[0]));
    EXPECT_TRUE(bitwise_equal(got[2], got[0]));
    for (internal::Isa isa : isas()) {
      IsaCap cap(isa);
      EXPECT_TRUE(all_close(grad("auto", &gy).second, want, dtype_tolerance(kFloat32))) << internal::name_of(isa);
    }
  }
}

TEST(GradPhases, HugeStridesStayOnCol2im) {
  // A stride of 10^9 over a 4-element input (one output) would be 10^9 phases: such layers run
  // col2im, and quickly.
  Generator gen(44);
  const Tensor x = randn({1, 16, 4}, kFloat32, &gen), w = randn({16, 16, 1}, kFloat32, &gen);
  const auto o = F::Conv1dFuncOptions().stride(1000000000);
  const Tensor gy = randn(F::conv1d(x, w, {}, o).sizes(), kFloat32, &gen);
  ASSERT_EQ(gy.sizes(), (Shape{1, 16, 1}));
  const Tensor got = F::conv_backward(gy, x, w, o, {true, false, false}).grad_input;
  const Tensor want = F::conv_backward(gy, x, w, F::Conv1dFuncOptions(o).algorithm("reference"), {true, false, false}).grad_input;
  EXPECT_TRUE(all_close(got, want, dtype_tolerance(kFloat32)));
}

}  // namespace
}  // namespace convkit::test

namespace convkit::test {
namespace {

TEST(GradPhases, DepthwiseColumnStrideTwoWritesEachInputRowOnce) {
  // Depthwise input gradients with column stride 2 (zeros padding): each input row from the
  // dY rows its taps read, even and odd columns interleaved. Kernels, paddings, dilations and
  // row strides around MobileNet's 3x3/2 (odd and even widths, taps reading past either edge,
  // rows no tap reaches), 1-d and 3-d, conv_mode convolution, a transposed layer with bias and
  // output padding, and a weight with an inf (whose classes of results must match the
  // reference's whatever path takes it). Against the reference under every ISA cap, the same
  // bits for 1 and 3 threads.
  struct Case {
    Shape x, k, stride, pad, dil;
    const char* mode;
  };
  const Case cases[] = {
      {{2, 3, 13, 14}, {3, 3}, {2, 2}, {1, 1}, {1, 1}, "cross_correlation"},  // MobileNet's
      {{1, 3, 10, 40}, {3, 3}, {2, 2}, {0, 0}, {1, 1}, "convolution"},        // 3x3/2 without padding
      {{2, 2, 11, 33}, {3, 3}, {1, 2}, {2, 1}, {1, 1}, "cross_correlation"},  // 3x3, rows stride 1
      {{1, 2, 12, 11}, {5, 5}, {2, 2}, {2, 2}, {1, 1}, "cross_correlation"},  // EfficientNet's 5x5/2
      {{1, 2, 9, 10}, {3, 4}, {3, 2}, {0, 3}, {1, 2}, "convolution"},         // rows no tap reaches
      {{2, 4, 7, 9}, {2, 3}, {1, 2}, {1, 0}, {2, 1}, "cross_correlation"},    // row stride 1
      {{3, 2, 31}, {4}, {2}, {3}, {1}, "cross_correlation"},                  // 1-d
      {{1, 2, 3, 6, 7}, {1, 3, 3}, {1, 1, 2}, {0, 1, 1}, {1, 1, 1}, "cross_correlation"},  // 3-d
  };
  Generator gen(44);
  const int before = get_num_threads();
  for (const Case& c : cases) {
    SCOPED_TRACE(shape_str(c.x) + " kernel " + shape_str(c.k));
    const int64_t C = c.x[1], dim = static_cast<int64_t>(c.k.size());
    Shape ws{C, 1};
    ws.insert(ws.end(), c.k.begin(), c.k.end());
    const Tensor x = randn(c.x, kFloat32, &gen);
    for (bool inf : {false, true}) {
      Tensor w = randn(ws, kFloat32, &gen);
      if (inf) internal::mutable_data<float>(w)[1] = INFINITY;
      auto grad_input = [&](const Tensor& gy, Algorithm a) {
        switch (dim) {
          case 1: return F::conv_backward(gy, x, w, F::Conv1dFuncOptions().stride(c.stride).padding(c.pad).dilation(c.dil).groups(C).conv_mode(c.mode).algorithm(a), {true, false, false}).grad_input;
          case 2: return F::conv_backward(gy, x, w, F::Conv2dFuncOptions().stride(c.stride).padding(c.pad).dilation(c.dil).groups(C).conv_mode(c.mode).algorithm(a), {true, false, false}).grad_input;
          default: return F::conv_backward(gy, x, w, F::Conv3dFuncOptions().stride(c.stride).padding(c.pad).dilation(c.dil).groups(C).conv_mode(c.mode).algorithm(a), {true, false, false}).grad_input;
        }
      };
      const Tensor y = dim == 1 ? F::conv1d(x, Tensor::zeros(ws), {}, F::Conv1dFuncOptions().stride(c.stride).padding(c.pad).dilation(c.dil).groups(C))
                       : dim == 2 ? F::conv2d(x, Tensor::zeros(ws), {}, F::Conv2dFuncOptions().stride(c.stride).padding(c.pad).dilation(c.dil).groups(C))
                                  : F::conv3d(x, Tensor::zeros(ws), {}, F::Conv3dFuncOptions().stride(c.stride).padding(c.pad).dilation(c.dil).groups(C));
      const Tensor gy = randn(y.sizes(), kFloat32, &gen);
      const Tensor want = grad_input(gy, Algorithm::Reference);
      for (internal::Isa isa : isas()) {
        IsaCap cap(isa);
        set_num_threads(1);
        const Tensor one = grad_input(gy, Algorithm::Auto);
        set_num_threads(3);
        const Tensor three = grad_input(gy, Algorithm::Auto);
        set_num_threads(before);
        if (inf) {  // the classes of every element (inf, NaN or finite) as the reference's
          const auto a = one.to_vector(), b = want.to_vector();
          for (std::size_t i = 0; i < a.size(); ++i)
            ASSERT_EQ(std::isnan(a[i]) ? 0 : std::isinf(a[i]) ? 1 : 2, std::isnan(b[i]) ? 0 : std::isinf(b[i]) ? 1 : 2) << i;
        } else {
          EXPECT_TRUE(all_close(one, want, dtype_tolerance(kFloat32))) << internal::name_of(isa);
        }
        EXPECT_TRUE(bitwise_equal(one, three)) << internal::name_of(isa);
      }
    }
  }
  // A dilation and padding of 10^8 (taps that read no dY at all), forced onto this path: the
  // copy's margins stay a row's length, not the dilation's.
  {
    const Tensor xh = randn({1, 2, 8}, kFloat32, &gen), wh = randn({2, 1, 3}, kFloat32, &gen);
    const auto oh = F::Conv1dFuncOptions().stride(2).padding(100000000).dilation(100000000).groups(2);
    const Tensor gyh = randn(F::conv1d(xh, wh, {}, oh).sizes(), kFloat32, &gen);
    const Tensor want_h = F::conv_backward(gyh, xh, wh, F::Conv1dFuncOptions(oh).algorithm("reference"), {true, false, false}).grad_input;
    internal::ConvParams q = internal::make_conv_params(xh, wh, Tensor(), internal::conv_args(ConvSpec::from(oh)));
    q.direction = internal::Direction::BackwardData;
    const auto plan = internal::make_backward_data_plan(q, wh, Tensor(), Algorithm::Depthwise, false);
    Tensor gx = Tensor::empty(xh.sizes());
    plan->run(gyh, gx);
    EXPECT_LT(plan->memory_bytes(), 1 << 16);  // (the kept copy of a call's dY rows)
    EXPECT_TRUE(all_close(gx, want_h, dtype_tolerance(kFloat32)));
  }
  // A transposed depthwise layer (its forward is this input gradient), with bias and output
  // padding: MobileNet-style decoders upsample this way.
  const Tensor xt = randn({2, 3, 6, 7}, kFloat32, &gen), wt = randn({3, 1, 3, 3}, kFloat32, &gen), bt = randn({3}, kFloat32, &gen);
  const auto to = F::ConvTranspose2dFuncOptions().stride(2).padding(1).output_padding(1).groups(3);
  const Tensor want = F::conv_transpose2d(xt, wt, bt, F::ConvTranspose2dFuncOptions(to).algorithm("reference"));
  for (internal::Isa isa : isas()) {
    IsaCap cap(isa);
    EXPECT_TRUE(all_close(F::conv_transpose2d(xt, wt, bt, to), want, dtype_tolerance(kFloat32))) << internal::name_of(isa);
  }
}

}  // namespace
}  // namespace convkit::test
