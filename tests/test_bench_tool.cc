// `convkit bench`'s shape side: --direction lists, the built-in ConvTranspose layers, and the
// double-precision gradient elements its sampled checks use when the reference is too slow.
#include "test_util.h"
#include "tools/convkit/bench.h"

namespace convkit::test {
namespace {

using tool::BenchDirection;
using tool::BenchShape;

TEST(BenchTool, DirectionsParseInOrderWithoutRepeats) {
  EXPECT_EQ(tool::parse_directions("fwd"), std::vector<BenchDirection>{BenchDirection::fwd});
  EXPECT_EQ(tool::parse_directions(" bwd_weights , fwd,bwd_data,fwd"),
            (std::vector<BenchDirection>{BenchDirection::bwd_weights, BenchDirection::fwd, BenchDirection::bwd_data}));
  for (BenchDirection d : {BenchDirection::fwd, BenchDirection::bwd_data, BenchDirection::bwd_weights})
    EXPECT_EQ(tool::parse_directions(tool::direction_name(d)), std::vector<BenchDirection>{d});
}

TEST(BenchTool, BadDirectionsAreArgumentErrorsNamingTheValue) {
  expect_error_of<ArgumentError>([] { tool::parse_directions("fwd,bwd"); },
                                 {"--direction 'fwd,bwd'", "unknown direction 'bwd'", "bwd_data", "bwd_weights"});
  expect_error_of<ArgumentError>([] { tool::parse_directions("fwd,"); }, {"--direction 'fwd,'", "empty direction"});
  expect_error_of<ArgumentError>([] { tool::parse_directions("BWD_DATA"); }, {"unknown direction 'BWD_DATA'"});
}

TEST(BenchTool, DtypeListsAndTheirErrors) {
  EXPECT_EQ(tool::parse_bench_dtypes("f32"), std::vector<DType>{kFloat32});
  EXPECT_EQ(tool::parse_bench_dtypes(" bf16, f16 ,float32,bfloat16"), (std::vector<DType>{kBFloat16, kFloat16, kFloat32}));
  for (DType t : {kFloat32, kBFloat16, kFloat16, kFloat64})
    EXPECT_EQ(tool::parse_bench_dtypes(tool::bench_dtype_name(t)), std::vector<DType>{t});
  expect_error_of<ArgumentError>([] { tool::parse_bench_dtypes("f32,half"); },
                                 {"--dtype 'f32,half'", "unknown dtype 'half'", "f32, bf16, f16 and f64"});
  expect_error_of<ArgumentError>([] { tool::parse_bench_dtypes("bf16,"); }, {"--dtype 'bf16,'", "empty dtype"});
  expect_error_of<ArgumentError>([] { tool::parse_bench_dtypes("c64"); }, {"--dtype 'c64'", "not timed"});
}

TEST(BenchTool, LayoutListsAndTheirErrors) {
  EXPECT_EQ(tool::parse_bench_layouts("nchw"), std::vector<bool>{false});
  EXPECT_EQ(tool::parse_bench_layouts(" nhwc,nchw ,nhwc"), (std::vector<bool>{true, false}));
  expect_error_of<ArgumentError>([] { tool::parse_bench_layouts("nchw,NHWC"); },
                                 {"--layout 'nchw,NHWC'", "unknown layout 'NHWC'", "nchw and nhwc"});
  expect_error_of<ArgumentError>([] { tool::parse_bench_layouts("nhwc,"); }, {"--layout 'nhwc,'", "empty layout"});
}

// Each built-in layer's output size is the library's, its matching convolution maps that output
// back to the input, and both count the same multiply-adds.
TEST(BenchTool, BuiltinTransposedLayersHaveTheLibrarysOutputSize) {
  const auto layers = tool::builtin_transposed_shapes();
  ASSERT_EQ(layers.size(), 3u);
  const std::vector<std::string> names = {"dcgan_g2_deconv", "unet_up2_deconv", "hifigan_up1_deconv"};
  const std::vector<Shape> outs = {{16, 16}, {128, 128}, {1600}};
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const BenchShape& s = layers[i];
    EXPECT_EQ(s.name, names[i]);
    EXPECT_TRUE(s.transposed);
    EXPECT_EQ(s.out_spatial(), outs[i]) << s.name;
    const BenchShape m = s.matching_conv();
    EXPECT_FALSE(m.transposed);
    EXPECT_EQ(m.c_in, s.c_out);
    EXPECT_EQ(m.c_out, s.c_in);
    EXPECT_EQ(m.out_spatial(), s.spatial) << s.name;
    EXPECT_EQ(m.macs(), s.macs());
    double macs = static_cast<double>(s.n * s.c_in * s.c_out / s.groups);
    for (std::size_t d = 0; d < s.dim(); ++d) macs *= static_cast<double>(s.spatial[d] * s.kernel[d]);
    EXPECT_EQ(s.macs(), macs) << s.name;
  }
  const BenchShape& h = layers[2];
  const Tensor y = F::conv_transpose1d(Tensor::zeros({1, h.c_in, h.spatial[0]}, kFloat32),
                                       Tensor::zeros({h.c_in, h.c_out, h.kernel[0]}, kFloat32), {},
                                       F::ConvTranspose1dFuncOptions().stride(h.stride[0]).padding(h.padding[0]));
  EXPECT_EQ(y.sizes(), (Shape{1, h.c_out, 1600}));
}

BenchShape conv_shape(int64_t n, int64_t c_in, int64_t c_out, Shape spatial, Shape k, Shape stride, Shape pad,
                      Shape dil, int64_t groups) {
  BenchShape s;
  s.name = "t";
  s.n = n, s.c_in = c_in, s.c_out = c_out, s.groups = groups;
  s.spatial = std::move(spatial), s.kernel = std::move(k), s.stride = std::move(stride);
  s.padding = std::move(pad), s.dilation = std::move(dil);
  return s;
}

template <typename Opt>
Opt options_of(const BenchShape& s) {
  return Opt().stride(s.stride).padding(s.padding).dilation(s.dilation).groups(s.groups).algorithm("reference");
}

// Every element of point_grad_input / point_grad_weight against the reference algorithm's
// gradients, on convolutions with stride, padding, dilation and groups; and a transposed layer's
// forward, input gradient and weight gradient through its matching convolution, as the
// sampled checks compute them.
TEST(BenchTool, PointGradientsMatchTheReference) {
  Generator gen(7);
  const std::vector<BenchShape> shapes = {
      conv_shape(2, 6, 4, {9, 8}, {3, 2}, {2, 1}, {1, 0}, {1, 2}, 2),
      conv_shape(1, 4, 6, {7, 7}, {3, 3}, {1, 1}, {2, 2}, {2, 2}, 1),
      conv_shape(3, 4, 4, {17}, {4}, {3}, {2}, {1}, 4),
  };
  for (const BenchShape& s : shapes) {
    Shape xs{s.n, s.c_in}, ws{s.c_out, s.c_in / s.groups}, ys{s.n, s.c_out};
    xs.insert(xs.end(), s.spatial.begin(), s.spatial.end());
    ws.insert(ws.end(), s.kernel.begin(), s.kernel.end());
    for (int64_t o : s.out_spatial()) ys.push_back(o);
    const Tensor x = randn(xs, kFloat32, &gen), w = randn(ws, kFloat32, &gen), dy = randn(ys, kFloat32, &gen);
    F::ConvGradients g;
    if (s.dim() == 1) g = F::conv_backward(dy, x, w, options_of<F::Conv1dFuncOptions>(s));
    else g = F::conv_backward(dy, x, w, options_of<F::Conv2dFuncOptions>(s));
    const auto gx = g.grad_input.to_vector(), gw = g.grad_weight.to_vector();
    for (int64_t i = 0; i < x.numel(); ++i)
      ASSERT_NEAR(tool::point_grad_input(s, dy.const_data<float>(), w.const_data<float>(), i), gx[i],
                  1e-4 * (1 + std::abs(gx[i])))
          << "grad_input " << i;
    for (int64_t i = 0; i < w.numel(); ++i)
      ASSERT_NEAR(tool::point_grad_weight(s, x.const_data<float>(), dy.const_data<float>(), i), gw[i],
                  1e-4 * (1 + std::abs(gw[i])))
          << "grad_weight " << i;
  }

  // ConvTranspose2d 4 -> 6, 3x3, stride 2, padding 1, output_padding 1, groups 2, on 5x4.
  BenchShape t = conv_shape(2, 4, 6, {5, 4}, {3, 3}, {2, 2}, {1, 1}, {1, 1}, 2);
  t.transposed = true;
  t.output_padding = {1, 1};
  const BenchShape m = t.matching_conv();
  Shape ys{t.n, t.c_out};
  for (int64_t o : t.out_spatial()) ys.push_back(o);
  const Tensor x = randn({2, 4, 5, 4}, kFloat32, &gen), w = randn({4, 3, 3, 3}, kFloat32, &gen);
  const Tensor dy = randn(ys, kFloat32, &gen);
  const auto o = F::ConvTranspose2dFuncOptions().stride(2).padding(1).output_padding(1).groups(2).algorithm("reference");
  const Tensor y = F::conv_transpose2d(x, w, {}, o);
  ASSERT_EQ(y.sizes(), ys);
  const F::ConvGradients g = F::conv_transpose_backward(dy, x, w, o);
  const auto yv = y.to_vector(), gx = g.grad_input.to_vector(), gw = g.grad_weight.to_vector();
  const float *xp = x.const_data<float>(), *wp = w.const_data<float>(), *dyp = dy.const_data<float>();
  for (int64_t i = 0; i < y.numel(); ++i)
    ASSERT_NEAR(tool::point_grad_input(m, xp, wp, i), yv[i], 1e-4 * (1 + std::abs(yv[i]))) << "y " << i;
  for (int64_t i = 0; i < x.numel(); ++i)
    ASSERT_NEAR(tool::point_value(m, dyp, wp, nullptr, i), gx[i], 1e-4 * (1 + std::abs(gx[i]))) << "grad_input " << i;
  for (int64_t i = 0; i < w.numel(); ++i)
    ASSERT_NEAR(tool::point_grad_weight(m, dyp, xp, i), gw[i], 1e-4 * (1 + std::abs(gw[i]))) << "grad_weight " << i;
}

}  // namespace
}  // namespace convkit::test
