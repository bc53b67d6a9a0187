// The gemm gradient paths for particular shapes: the input gradient of few input channels in
// stripes of dY's rows, and the weight gradients with x read in place (pointwise layers, and
// few input channels per tap from a phase-split copy).
#include <limits>
#include <string>
#include <vector>

#include "conv/params.h"
#include "conv/plan.h"
#include "conv/select.h"
#include "grad_sweep.h"
#include "test_util.h"

namespace convkit::test {
namespace {

using grad::ChannelsLastKnobs;

TEST(Grad, FewChannelInputGradientInStripesMatchesTheReference) {
  // Few input channels and many outputs (wav2vec2's first layer): the product goes to the
  // whole col in stripes of dY's rows (a whole stripe and a partial one here), its columns over
  // the threads. Against the reference under every ISA cap, auto and forced gemm, with the same
  // bits for 1, 2 and 3 threads.
  struct Case {
    Shape x, w;
    int64_t stride, pad, dilation, groups;
  };
  const Case cases[] = {
      {{1, 1, 3000}, {77, 1, 10}, 5, 0, 1, 1},      // 77 outputs: stripes of 32, 32 and 13
      {{3, 1, 600}, {40, 1, 7}, 3, 4, 2, 1},        // three images, padding, dilation
      {{1, 4, 500}, {80, 2, 5}, 2, 2, 1, 2},        // two groups of 40 outputs
      {{1, 2, 40, 40}, {64, 2, 3, 3}, 2, 1, 1, 1},  // 2-d: 18 rows of col
  };
  Generator gen(23);
  for (const Case& c : cases) {
    SCOPED_TRACE(shape_str(c.w));
    const Tensor x = randn(c.x, kFloat32, &gen), w = randn(c.w, kFloat32, &gen);
    const bool one_d = c.x.size() == 3;
    const auto o1 = F::Conv1dFuncOptions().stride(c.stride).padding(c.pad).dilation(c.dilation).groups(c.groups);
    const auto o2 = F::Conv2dFuncOptions().stride(c.stride).padding(c.pad).dilation(c.dilation).groups(c.groups);
    const Tensor gy = randn(one_d ? F::conv1d(x, w, Tensor(), o1).sizes() : F::conv2d(x, w, Tensor(), o2).sizes(),
                            kFloat32, &gen);
    auto grad = [&](Algorithm a) {
      return (one_d ? F::conv_backward(gy, x, w, F::Conv1dFuncOptions(o1).algorithm(a), {true, false, false})
                    : F::conv_backward(gy, x, w, F::Conv2dFuncOptions(o2).algorithm(a), {true, false, false}))
          .grad_input;
    };
    const Tensor want = grad(Algorithm::Reference);
    for (internal::Isa isa : isas()) {
      IsaCap cap(isa);
      for (Algorithm a : {Algorithm::Auto, Algorithm::Gemm}) {
        const std::vector<Tensor> runs = at_one_two_three_threads([&] { return grad(a); });
        EXPECT_TRUE(all_close(runs[0], want, dtype_tolerance(kFloat32))) << internal::name_of(isa);
        EXPECT_TRUE(bitwise_equal(runs[1], runs[0])) << internal::name_of(isa);
        EXPECT_TRUE(bitwise_equal(runs[2], runs[0])) << internal::name_of(isa);
      }
    }
  }
}

TEST(Grad, PointwiseWeightGradientReadsTheInputInPlace) {
  // 1x1, stride 1, no padding (with the channels-last form off, every such layer): dW^T = x dY^T
  // with x's channel rows read in place by the A-rows kernels. A tail panel of channels, two
  // column tiles, groups, 1-d and 3-d, a long reduction (split into chunks), x channels-last
  // and x a channel slice. Against the reference under every ISA cap, same bits for 1-3 threads.
  Generator gen(29);
  const Tensor big = randn({3, 50, 9, 11}, kFloat32, &gen);
  struct Case {
    Tensor x;
    Shape w;
    int64_t groups;
  };
  const std::vector<Case> cases = {
      {randn({3, 40, 9, 11}, kFloat32, &gen), {24, 40, 1, 1}, 1},
      {randn({2, 12, 7, 7}, kFloat32, &gen), {18, 6, 1, 1}, 2},
      {randn({2, 20, 300}, kFloat32, &gen), {70, 20, 1}, 1},
      {randn({1, 8, 4, 5, 6}, kFloat32, &gen), {16, 8, 1, 1, 1}, 1},
      {randn({1, 16, 64, 64}, kFloat32, &gen), {8, 16, 1, 1}, 1},
      {randn({2, 24, 6, 7}, kFloat32, &gen).permute({0, 2, 3, 1}).contiguous().permute({0, 3, 1, 2}), {10, 24, 1, 1}, 1},
      {big.slice(1, 5, 45), {20, 40, 1, 1}, 1},
  };
  const ChannelsLastKnobs off(std::numeric_limits<int64_t>::max());
  // 16-bit layers run the float32 plan: the choice they report names this path too.
  for (DType t : {kBFloat16, kFloat16}) {
    internal::ConvParams q = internal::make_conv_params(Tensor::zeros({2, 8, 5, 5}, t), Tensor::zeros({4, 8, 1, 1}, t),
                                                        Tensor(), internal::conv_args(ConvSpec{}));
    q.direction = internal::Direction::BackwardWeights;
    EXPECT_NE(std::string(internal::select_algorithm(q, Algorithm::Auto).reason).find("pointwise"), std::string::npos);
  }
  for (const Case& c : cases) {
    SCOPED_TRACE(shape_str(c.x.sizes()) + " " + shape_str(c.w));
    const Tensor w = randn(c.w, kFloat32, &gen);
    const int64_t dim = c.x.dim() - 2;
    auto grad = [&](const Tensor& gy, Algorithm a) {
      const F::OutputMask mask{false, true, false};
      if (dim == 1) return F::conv_backward(gy, c.x, w, F::Conv1dFuncOptions().groups(c.groups).algorithm(a), mask);
      if (dim == 2) return F::conv_backward(gy, c.x, w, F::Conv2dFuncOptions().groups(c.groups).algorithm(a), mask);
      return F::conv_backward(gy, c.x, w, F::Conv3dFuncOptions().groups(c.groups).algorithm(a), mask);
    };
    Shape ys = c.x.sizes();
    ys[1] = c.w[0];
    const Tensor gy = randn(ys, kFloat32, &gen);
    const Tensor want = grad(gy, Algorithm::Reference).grad_weight;
    for (internal::Isa isa : isas()) {
      IsaCap cap(isa);
      const std::vector<Tensor> runs = at_one_two_three_threads([&] { return grad(gy, Algorithm::Gemm).grad_weight; });
      EXPECT_TRUE(all_close(runs[0], want, dtype_tolerance(kFloat32))) << internal::name_of(isa);
      EXPECT_TRUE(bitwise_equal(runs[1], runs[0])) << internal::name_of(isa);
      EXPECT_TRUE(bitwise_equal(runs[2], runs[0])) << internal::name_of(isa);
    }
  }
}

TEST(Grad, TapWeightGradientReadsTheInputInPlace) {
  // Few input channels per group, or one image of a dense layer with a small dW; 64 output
  // channels per group (whole column tiles of every ISA's A-rows kernel): x read in place per
  // tap from a padded, stride-phase-split copy.
  // Strides 1-3 (also unequal), dilation, every padding mode, groups, conv_mode=convolution,
  // 1-d, 2-d and 3-d, several images, channels-last x, and x holding an inf (the reference
  // then, bit for bit). Against the reference under every ISA cap, same bits for 1-3 threads.
  struct Case {
    Shape x, w;
    Shape stride, pad, dilation;
    int64_t groups;
    PaddingMode mode;
    ConvMode conv_mode = ConvMode::CrossCorrelation;
  };
  const Case cases[] = {
      {{2, 3, 23, 21}, {64, 3, 7, 7}, {2, 2}, {3, 3}, {1, 1}, 1, PaddingMode::Zeros},  // ResNet-50's first layer
      {{1, 4, 20, 24}, {64, 4, 3, 3}, {1, 1}, {2, 2}, {2, 2}, 1, PaddingMode::Reflect},
      {{2, 6, 9, 10}, {128, 3, 3, 3}, {1, 2}, {1, 1}, {1, 1}, 2, PaddingMode::Circular, ConvMode::Convolution},
      {{3, 5, 100}, {64, 5, 5}, {3}, {1}, {1}, 1, PaddingMode::Zeros, ConvMode::Convolution},
      {{1, 2, 6, 20, 22}, {64, 2, 3, 3, 3}, {2, 2, 2}, {1, 1, 1}, {1, 1, 1}, 1, PaddingMode::Replicate},
      // One image of a dense layer with a small dW (WaveNet's dilated 1-d layer, ResNet-50 res2's 3x3).
      {{1, 32, 300}, {64, 32, 3}, {1}, {8}, {8}, 1, PaddingMode::Zeros},
      {{1, 32, 12, 14}, {64, 32, 3, 3}, {1, 1}, {1, 1}, {1, 1}, 1, PaddingMode::Zeros},
  };
  Generator gen(41);
  for (const Case& c : cases) {
    SCOPED_TRACE(shape_str(c.x) + " " + shape_str(c.w));
    ConvSpec spec;
    spec.rank = static_cast<int64_t>(c.x.size()) - 2;
    spec.stride = c.stride, spec.pad_lo = spec.pad_hi = c.pad, spec.dilation = c.dilation;
    spec.groups = c.groups, spec.padding_mode = c.mode, spec.conv_mode = c.conv_mode;
    const Tensor w = randn(c.w, kFloat32, &gen);
    Tensor x = randn(c.x, kFloat32, &gen);
    std::vector<Tensor> xs{x};
    if (spec.rank == 2) xs.push_back(x.permute({0, 2, 3, 1}).contiguous().permute({0, 3, 1, 2}));  // channels-last
    Tensor xinf = x.contiguous().clone();
    xinf.data<float>()[5] = std::numeric_limits<float>::infinity();
    xs.push_back(xinf);
    for (const Tensor& xv : xs) {
      const internal::ConvParams p = internal::make_conv_params(xv, w, Tensor(), internal::conv_args(spec));
      ASSERT_TRUE(internal::in_place_weights_serve(p));
      ASSERT_FALSE(internal::channels_last_serves_weights(p));  // (which the selection asks first)
      ConvSpec ref = spec;
      ref.algorithm = Algorithm::Reference;
      const Tensor gy = randn(nn::functional::conv(xv, w, Tensor(), spec).sizes(), kFloat32, &gen);
      const nn::functional::OutputMask mask{false, true, false};
      const Tensor want = prepare(ref, w, Tensor(), xv.sizes()).backward(xv, gy, mask).grad_weight;
      const bool finite = &xv != &xs.back();
      for (internal::Isa isa : isas()) {
        IsaCap cap(isa);
        const int before = get_num_threads();
        std::vector<Tensor> runs;
        for (int n : {1, 2, 3}) {
          set_num_threads(n);
          runs.push_back(prepare(spec, w, Tensor(), xv.sizes()).backward(xv, gy, mask).grad_weight);
        }
        set_num_threads(before);
        if (finite) EXPECT_TRUE(all_close(runs[0], want, dtype_tolerance(kFloat32))) << internal::name_of(isa);
        else EXPECT_TRUE(bitwise_equal(runs[0], want)) << internal::name_of(isa);
        EXPECT_TRUE(bitwise_equal(runs[1], runs[0])) << internal::name_of(isa);
        EXPECT_TRUE(bitwise_equal(runs[2], runs[0])) << internal::name_of(isa);
      }
    }
  }
}

}  // namespace
}  // namespace convkit::test
