// The dtypes beyond float32 on the engine: float16 and bfloat16 gradients (convolution and
// transposed) on the float32 paths, against the reference in the same dtype and, bit for bit,
// against the float32 engine's gradients of the same values rounded once. (Their forwards:
// test_engine.cc's 16-bit sweep; the conversion kernels: test_kernels.cc.) bfloat16 forwards on
// the AMX tiles against a float64 computation of the same values, within the rounding of the
// result plus float32 summation.
#include "cpu/isa.h"
#include "grad_sweep.h"

namespace convkit::test {
namespace {

using namespace grad;

F::ConvGradients conv_grads(const Config& c, const Tensor& gy, const Tensor& x, const Tensor& w, Algorithm a,
                            F::OutputMask mask = {true, true, true}) {
  switch (c.dim) {
    case 1: { auto o = F::Conv1dFuncOptions(); apply<1>(o, c); return F::conv_backward(gy, x, w, o.algorithm(a), mask); }
    case 2: { auto o = F::Conv2dFuncOptions(); apply<2>(o, c); return F::conv_backward(gy, x, w, o.algorithm(a), mask); }
    default: { auto o = F::Conv3dFuncOptions(); apply<3>(o, c); return F::conv_backward(gy, x, w, o.algorithm(a), mask); }
  }
}

F::ConvGradients transpose_grads(const TConfig& t, const Tensor& gy, const Tensor& x, const Tensor& w, Algorithm a) {
  switch (t.c.dim) {
    case 1: return F::conv_transpose_backward(gy, x, w, transpose_options<1>(t).algorithm(a));
    case 2: return F::conv_transpose_backward(gy, x, w, transpose_options<2>(t).algorithm(a));
    default: return F::conv_transpose_backward(gy, x, w, transpose_options<3>(t).algorithm(a));
  }
}

Tensor reference_forward(const Config& c, const Tensor& x, const Tensor& w, const Tensor& b) {
  switch (c.dim) {
    case 1: { auto o = F::Conv1dFuncOptions(); apply<1>(o, c); return F::conv1d(x, w, b, o.algorithm("reference")); }
    case 2: { auto o = F::Conv2dFuncOptions(); apply<2>(o, c); return F::conv2d(x, w, b, o.algorithm("reference")); }
    default: { auto o = F::Conv3dFuncOptions(); apply<3>(o, c); return F::conv3d(x, w, b, o.algorithm("reference")); }
  }
}

Tensor rounded(const Tensor& t, DType dt) { return t.defined() ? t.to(dt) : t; }

// g (16-bit, auto) against the reference in dt and against g32 (the float32 engine on the same
// values) rounded to dt, bit for bit; the bias gradient of a transposed layer is summed in
// another order (channel sums of the 16-bit gy), so within tolerance.
void expect_gradients(const F::ConvGradients& g, const F::ConvGradients& ref, const F::ConvGradients& g32, DType dt,
                      bool exact_bias) {
  const double tol = dtype_tolerance(dt);
  EXPECT_TRUE(all_close(g.grad_input, ref.grad_input, tol));
  EXPECT_TRUE(all_close(g.grad_weight, ref.grad_weight, tol));
  EXPECT_TRUE(all_close(g.grad_bias, ref.grad_bias, tol));
  EXPECT_TRUE(bitwise_equal(g.grad_input, rounded(g32.grad_input, dt)));
  EXPECT_TRUE(bitwise_equal(g.grad_weight, rounded(g32.grad_weight, dt)));
  if (exact_bias) {
    EXPECT_TRUE(bitwise_equal(g.grad_bias, rounded(g32.grad_bias, dt)));
  }
}

TEST(SixteenBit, GradientsOnTheFloat32Engine) {
  Generator gen(16);
  int i = 0;
  for (const Config& c0 : sweep()) {
    const DType dt = i++ % 2 ? kBFloat16 : kFloat16;
    Config c = c0;
    c.dtype = dt;
    SCOPED_TRACE(describe(c) + " " + dtype_name(dt));
    const Tensor x = randn(input_shape(c), kFloat32, &gen), w = randn(weight_shape(c), kFloat32, &gen);
    const Tensor gy = randn(forward(c, x, w).sizes(), kFloat32, &gen);
    const Tensor x16 = x.to(dt), w16 = w.to(dt), gy16 = gy.to(dt);
    const auto ref = conv_grads(c, gy16, x16, w16, Algorithm::Reference);
    for (internal::Isa isa : isas()) {
      IsaCap cap(isa);
      SCOPED_TRACE(internal::name_of(isa));
      const auto g32 = conv_grads(c, gy16.to(kFloat32), x16.to(kFloat32), w16.to(kFloat32), Algorithm::Auto);
      expect_gradients(conv_grads(c, gy16, x16, w16, Algorithm::Auto), ref, g32, dt, true);
    }
  }
}

TEST(SixteenBit, TransposedGradientsOnTheFloat32Engine) {
  IsaCap cap(internal::Isa::Avx512);  // (the AMX tiles sum in their own order: Bf16Amx's tests)
  Generator gen(17);
  int i = 0;
  for (const TConfig& t : transpose_sweep()) {
    const DType dt = i++ % 2 ? kFloat16 : kBFloat16;
    SCOPED_TRACE(describe(t.c) + " " + dtype_name(dt));
    const Tensor x = randn(input_shape(t.c), kFloat32, &gen).to(dt);
    const Tensor w = randn(transpose_weight_shape(t.c), kFloat32, &gen).to(dt);
    const Tensor gy = randn(transpose(t, x, w).sizes(), kFloat32, &gen).to(dt);
    const auto ref = transpose_grads(t, gy, x, w, Algorithm::Reference);
    const auto g32 = transpose_grads(t, gy.to(kFloat32), x.to(kFloat32), w.to(kFloat32), Algorithm::Auto);
    expect_gradients(transpose_grads(t, gy, x, w, Algorithm::Auto), ref, g32, dt, false);
  }
}

// One bfloat16 layer on the AMX path: every element within 2^-8 of the float64 result of the same
// values (the output's rounding) plus Kd x 2^-23 of the sum of |w| |x| the element reads (float32
// summation); the same bits for 1 and 3 threads.
template <std::size_t D>
void check_amx(const nn::functional::ConvFuncOptions<D>& o, const Tensor& x, const Tensor& w, const Tensor& b,
               const std::string& what) {
  SCOPED_TRACE(what);
  auto conv = [&](const Tensor& xx, const Tensor& ww, const Tensor& bb, const char* algo) {
    auto oo = o;
    oo.algorithm(algo);
    if constexpr (D == 1) return F::conv1d(xx, ww, bb, oo);
    else if constexpr (D == 2) return F::conv2d(xx, ww, bb, oo);
    else return F::conv3d(xx, ww, bb, oo);
  };
  const Tensor y = conv(x, w, b, "gemm");
  ASSERT_EQ(y.dtype(), kBFloat16);
  const Tensor y64 = conv(x.to(kFloat64), w.to(kFloat64), b.defined() ? b.to(kFloat64) : b, "reference");
  auto abs64 = [](const Tensor& t) {
    std::vector<double> v = t.to_vector();
    for (double& e : v) e = std::abs(e);
    return Tensor::from_values(v, t.sizes(), kFloat64);
  };
  const Tensor mag = conv(abs64(x), abs64(w), {}, "reference");
  const double kd = static_cast<double>(w.numel() / w.size(0));
  const auto got = y.to_vector(), want = y64.to_vector(), m = mag.to_vector();
  int bad = 0;
  for (std::size_t i = 0; i < got.size() && bad < 5; ++i)
    if (!(std::abs(got[i] - want[i]) <= 0x1p-8 * std::abs(want[i]) + kd * 0x1p-23 * m[i] + 1e-30))
      ADD_FAILURE() << "element " << i << ": " << got[i] << " vs " << want[i] << " (|w||x| " << m[i] << ")", ++bad;
  const int before = get_num_threads();
  set_num_threads(1);
  const Tensor y1 = conv(x, w, b, "gemm");
  set_num_threads(3);
  const Tensor y3 = conv(x, w, b, "gemm");
  set_num_threads(before);
  EXPECT_TRUE(bitwise_equal(y1, y3));
  EXPECT_TRUE(bitwise_equal(y1, y));
}

TEST(Bf16Amx, LayersOfEveryShapeMatchFloat64) {
  if (internal::detected_isa() < internal::Isa::Amx) GTEST_SKIP() << "no AMX on this CPU";
  Generator gen(21);
  auto bf = [&](const Shape& s) { return randn(s, kFloat32, &gen).to(kBFloat16); };
  // K = 70 x 9 = 630 steps (two K blocks of pair chunks), 45 outputs (an edge panel), 13 x 11.
  check_amx<2>(F::Conv2dFuncOptions().padding(1), bf({2, 70, 13, 11}), bf({45, 70, 3, 3}), bf({45}), "3x3 pad 1");
  check_amx<2>(F::Conv2dFuncOptions().stride(2).dilation({1, 2}).padding({2, 1}).padding_mode("reflect").groups(2),
               bf({1, 12, 17, 19}), bf({34, 6, 5, 3}), bf({34}), "5x3 stride 2, dilated, reflect, groups");
  check_amx<2>(F::Conv2dFuncOptions().padding(2).padding_mode("circular").conv_mode("convolution"),
               bf({3, 5, 9, 8}), bf({64, 5, 4, 4}), Tensor(), "circular, conv_mode convolution, no bias");
  check_amx<1>(F::Conv1dFuncOptions().stride(3).padding(4).padding_mode("replicate"), bf({2, 40, 300}),
               bf({33, 40, 9}), bf({33}), "1-d stride 3, replicate");
  check_amx<3>(F::Conv3dFuncOptions().padding(1), bf({1, 7, 5, 6, 4}), bf({9, 7, 3, 3, 3}), bf({9}), "3-d");
  check_amx<2>(F::Conv2dFuncOptions(), bf({1, 300, 7, 7}), bf({1, 300, 1, 1}), bf({1}), "1x1 to one channel");
  const Tensor cl = bf({2, 9, 6, 10}).permute({0, 2, 3, 1}).contiguous().permute({0, 3, 1, 2});  // channels-last
  check_amx<2>(F::Conv2dFuncOptions().padding("same"), cl, bf({16, 9, 3, 3}), bf({16}), "channels-last input");
  check_amx<2>(F::Conv2dFuncOptions().stride(2), bf({9, 10, 10}), bf({40, 9, 2, 2}), bf({40}), "unbatched, kernel = stride");
  // Stride 1 with enough channel pairs: B read in place from channel pairs (the tap form).
  check_amx<2>(F::Conv2dFuncOptions().padding(1), bf({2, 64, 10, 9}), bf({40, 64, 3, 3}), bf({40}), "taps: 3x3 pad 1");
  check_amx<2>(F::Conv2dFuncOptions().dilation(2).padding(2).padding_mode("reflect").conv_mode("convolution"),
               bf({1, 48, 9, 12}), bf({20, 48, 3, 3}), bf({20}), "taps: dilated, reflect, conv_mode convolution");
  check_amx<2>(F::Conv2dFuncOptions().groups(2).padding({1, 0}).padding_mode("circular"), bf({1, 50, 7, 8}),
               bf({64, 25, 3, 2}), bf({64}), "taps: groups of 25 channels (a lone channel in the last pair)");
  check_amx<1>(F::Conv1dFuncOptions().padding("same"), bf({2, 64, 77}), bf({33, 64, 5}), bf({33}), "taps: 1-d same");
  check_amx<3>(F::Conv3dFuncOptions().padding(1), bf({1, 32, 4, 5, 6}), bf({16, 32, 3, 3, 3}), Tensor(), "taps: 3-d");
  const Tensor cl64 = bf({1, 64, 8, 11}).permute({0, 2, 3, 1}).contiguous().permute({0, 3, 1, 2});
  check_amx<2>(F::Conv2dFuncOptions().padding(1), cl64, bf({70, 64, 3, 3}), bf({70}), "taps: channels-last input");
}

// complex64 runs as a real float32 layer of twice the channels, complex128 as a float64 one:
// every direction of the sweep's convolutions and transposed layers against the complex
// reference, under every ISA cap.
void check_complex_on_the_real_engine(DType dt, double tol) {
  Generator gen(64);
  auto cx = [&](const Shape& s) { return randn(s, dt, &gen); };
  for (const Config& c0 : sweep()) {
    Config c = c0;
    c.dtype = dt;
    SCOPED_TRACE(describe(c));
    const Tensor x = cx(input_shape(c)), w = cx(weight_shape(c)), b = cx({c.Cout});
    const Tensor y_ref = forward(c, x, w, b);  // (auto: checked below against the reference run)
    const Tensor gy = cx(y_ref.sizes());
    const auto ref = conv_grads(c, gy, x, w, Algorithm::Reference);
    const Tensor yr = reference_forward(c, x, w, b);
    for (internal::Isa isa : isas()) {
      IsaCap cap(isa);
      SCOPED_TRACE(internal::name_of(isa));
      EXPECT_TRUE(all_close(forward(c, x, w, b), yr, tol));
      const auto g = conv_grads(c, gy, x, w, Algorithm::Auto);
      EXPECT_TRUE(all_close(g.grad_input, ref.grad_input, tol));
      EXPECT_TRUE(all_close(g.grad_weight, ref.grad_weight, tol));
      EXPECT_TRUE(all_close(g.grad_bias, ref.grad_bias, tol));
    }
  }
  for (const TConfig& t : transpose_sweep()) {
    SCOPED_TRACE("transposed " + describe(t.c));
    const Tensor x = cx(input_shape(t.c)), w = cx(transpose_weight_shape(t.c));
    const Tensor gy = cx(transpose(t, x, w).sizes());
    const auto ref = transpose_grads(t, gy, x, w, Algorithm::Reference);
    const auto g = transpose_grads(t, gy, x, w, Algorithm::Auto);
    EXPECT_TRUE(all_close(g.grad_input, ref.grad_input, tol));
    EXPECT_TRUE(all_close(g.grad_weight, ref.grad_weight, tol));
    EXPECT_TRUE(all_close(g.grad_bias, ref.grad_bias, tol));
  }
  // The engine runs them (its sums are not the reference's bits), and the same bits for any
  // thread count.
  nn::Conv2d dense(nn::Conv2dOptions(8, 8, 3).dtype(dt)), dw(nn::Conv2dOptions(8, 16, 3).groups(8).dtype(dt));
  const Tensor x = cx({2, 8, 9, 7});
  const int before = get_num_threads();
  const Tensor y1 = (set_num_threads(1), dense(x)), y3 = (set_num_threads(3), dense(x));
  const Tensor gy = cx({2, 8, 5, 4});  // (the output of stride 2, padding 1)
  const auto o = F::Conv2dFuncOptions().stride(2).padding(1);
  const auto g1 = (set_num_threads(1), F::conv_backward(gy, x, dense.weight, o));
  const auto g3 = (set_num_threads(3), F::conv_backward(gy, x, dense.weight, o));
  set_num_threads(before);
  dw(x);
  EXPECT_STREQ(dense.plan_algorithm(), "gemm");
  EXPECT_STREQ(dw.plan_algorithm(), "depthwise");
  EXPECT_TRUE(bitwise_equal(y1, y3));
  EXPECT_TRUE(bitwise_equal(g1.grad_input, g3.grad_input));
  EXPECT_TRUE(bitwise_equal(g1.grad_weight, g3.grad_weight));
  const Tensor xw = cx({2, 32, 10, 10}), ww = cx({32, 32, 3, 3}), gyw = cx({2, 32, 5, 5});
  const auto gw = F::conv_backward(gyw, xw, ww, o);
  const auto gr = F::conv_backward(gyw, xw, ww, F::Conv2dFuncOptions(o).algorithm("reference"));
  EXPECT_TRUE(all_close(gw.grad_input, gr.grad_input, tol));
  EXPECT_TRUE(all_close(gw.grad_weight, gr.grad_weight, tol));
  EXPECT_FALSE(bitwise_equal(gw.grad_input, gr.grad_input));
  EXPECT_FALSE(bitwise_equal(gw.grad_weight, gr.grad_weight));
}

TEST(Complex64, EveryDirectionOnTheFloat32Engine) { check_complex_on_the_real_engine(kComplex64, 1e-5); }
TEST(Complex128, EveryDirectionOnTheFloat64Engine) { check_complex_on_the_real_engine(kComplex128, 1e-12); }

// A forced algorithm the real layer cannot take is refused in the complex layer's own terms.
TEST(Complex128, ForcedAlgorithmErrorsNameTheComplexLayer) {
  Generator gen(3);
  const Tensor x = randn({1, 4, 6, 6}, kComplex128, &gen), w = randn({4, 1, 3, 3}, kComplex128, &gen);
  const Tensor gy = randn({1, 4, 4, 4}, kComplex128, &gen);
  try {
    F::conv_backward(gy, x, w, F::Conv2dFuncOptions().groups(4).algorithm("depthwise"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("algorithm 'depthwise' cannot compute this conv2d backward_data (complex128, groups=4, C_in=4)"),
              std::string::npos) << m;
    EXPECT_NE(m.find("complex128 runs as a float64 layer of twice the channels"), std::string::npos) << m;
  }
}

// Input gradients of stride-1 layers run as forwards: float64 on its kernels (every ISA cap),
// bfloat16 on the AMX tiles; both against the reference in their dtype.
TEST(InputGradientsAsForwards, Float64AndAmxBfloat16) {
  Generator gen(32);
  int engine = 0;
  for (const Config& c0 : sweep()) {
    for (DType dt : {kFloat64, kBFloat16}) {
      Config c = c0;
      c.dtype = dt;
      SCOPED_TRACE(describe(c) + " " + dtype_name(dt));
      const Tensor x = randn(input_shape(c), kFloat32, &gen).to(dt), w = randn(weight_shape(c), kFloat32, &gen).to(dt);
      const Tensor gy = randn(forward(c, x, w).sizes(), kFloat32, &gen).to(dt);
      const Tensor ref = conv_grads(c, gy, x, w, Algorithm::Reference).grad_input;
      std::vector<internal::Isa> caps = dt == kFloat64 ? isas() : std::vector<internal::Isa>{};
      if (dt == kBFloat16 && internal::detected_isa() >= internal::Isa::Amx) caps.push_back(internal::Isa::Amx);
      for (internal::Isa isa : caps) {
        IsaCap cap(isa);
        EXPECT_TRUE(all_close(conv_grads(c, gy, x, w, Algorithm::Auto).grad_input, ref, dtype_tolerance(dt)))
            << internal::name_of(isa);
      }
      bool stride1 = c.mode == PaddingMode::Zeros;
      for (int64_t s : c.stride) stride1 = stride1 && s == 1;
      engine += stride1 && c.N > 0;
    }
  }
  EXPECT_GE(engine, 8);  // (the sweep has such layers)
  // And wider ones: 3x3 with padding 1, two groups, a bias; 1-d dilated.
  for (DType dt : {kFloat64, kBFloat16}) {
    SCOPED_TRACE(dtype_name(dt));
    const Tensor x = randn({2, 12, 9, 8}, kFloat32, &gen).to(dt), w = randn({40, 6, 3, 3}, kFloat32, &gen).to(dt);
    const Tensor gy = randn({2, 40, 9, 8}, kFloat32, &gen).to(dt);
    const auto o = F::Conv2dFuncOptions().padding(1).groups(2);
    const auto ref = F::conv_backward(gy, x, w, F::Conv2dFuncOptions(o).algorithm("reference"));
    EXPECT_TRUE(all_close(F::conv_backward(gy, x, w, o).grad_input, ref.grad_input, dtype_tolerance(dt)));
    const Tensor x1 = randn({1, 64, 50}, kFloat32, &gen).to(dt), w1 = randn({33, 64, 5}, kFloat32, &gen).to(dt);
    const Tensor gy1 = randn({1, 33, 50}, kFloat32, &gen).to(dt);
    const auto o1 = F::Conv1dFuncOptions().padding(4).dilation(2);
    const auto ref1 = F::conv_backward(gy1, x1, w1, F::Conv1dFuncOptions(o1).algorithm("reference"));
    EXPECT_TRUE(all_close(F::conv_backward(gy1, x1, w1, o1).grad_input, ref1.grad_input, dtype_tolerance(dt)));
  }
}

// bfloat16 weight gradients on the AMX tiles: every element within 2^-8 of the float64 gradient
// of the same values plus (N x positions) x 2^-23 of the sum of |dY| |x| it reads; the same bits
// for 1 and 3 threads; dY holding inf with zero padding read gives the reference's result.
template <std::size_t D>
void check_amx_weights(const nn::functional::ConvFuncOptions<D>& o, const Tensor& x, const Tensor& w, const std::string& what) {
  SCOPED_TRACE(what);
  auto grads = [&](const Tensor& gy, const Tensor& xx, const Tensor& ww, const char* algo) {
    auto oo = o;
    oo.algorithm(algo);
    return F::conv_backward(gy, xx, ww, oo, {false, true, true});
  };
  auto abs64 = [](const Tensor& t) {
    std::vector<double> v = t.to_vector();
    for (double& e : v) e = std::abs(e);
    return Tensor::from_values(v, t.sizes(), kFloat64);
  };
  Generator gen(99);
  Tensor y;
  if constexpr (D == 1) y = F::conv1d(x, w, {}, o);
  else if constexpr (D == 2) y = F::conv2d(x, w, {}, o);
  else y = F::conv3d(x, w, {}, o);
  const Tensor gy = randn(y.sizes(), kFloat32, &gen).to(kBFloat16);
  const auto g = grads(gy, x, w, "auto");
  const auto want = grads(gy.to(kFloat64), x.to(kFloat64), w.to(kFloat64), "reference");
  const auto mag = grads(abs64(gy), abs64(x), w.to(kFloat64), "reference");
  const double terms = static_cast<double>(gy.numel() / gy.size(1));  // N x positions
  // The weight gradient, then the bias gradient (dY's channel sums), each within the bound.
  for (int part = 0; part < 2; ++part) {
    const auto got = (part ? g.grad_bias : g.grad_weight).to_vector();
    const auto ex = (part ? want.grad_bias : want.grad_weight).to_vector(), m = (part ? mag.grad_bias : mag.grad_weight).to_vector();
    int bad = 0;
    for (std::size_t i = 0; i < got.size() && bad < 5; ++i)
      if (!(std::abs(got[i] - ex[i]) <= 0x1p-8 * std::abs(ex[i]) + terms * 0x1p-23 * m[i] + 1e-30))
        ADD_FAILURE() << (part ? "bias " : "weight ") << i << ": " << got[i] << " vs " << ex[i], ++bad;
  }
  const int before = get_num_threads();
  set_num_threads(1);
  const auto g1 = grads(gy, x, w, "auto");
  set_num_threads(3);
  const auto g3 = grads(gy, x, w, "auto");
  set_num_threads(before);
  EXPECT_TRUE(bitwise_equal(g1.grad_weight, g3.grad_weight));
  EXPECT_TRUE(bitwise_equal(g1.grad_bias, g3.grad_bias));
  EXPECT_TRUE(bitwise_equal(g1.grad_weight, g.grad_weight));
}

TEST(Bf16Amx, WeightGradientsMatchFloat64) {
  if (internal::detected_isa() < internal::Isa::Amx) GTEST_SKIP() << "no AMX on this CPU";
  Generator gen(22);
  auto bf = [&](const Shape& s) { return randn(s, kFloat32, &gen).to(kBFloat16); };
  check_amx_weights<2>(F::Conv2dFuncOptions().padding(1), bf({2, 40, 13, 11}), bf({45, 40, 3, 3}), "3x3 pad 1, odd rows");
  check_amx_weights<2>(F::Conv2dFuncOptions().stride(2).dilation({1, 2}).padding({2, 1}).padding_mode("reflect").groups(2),
                       bf({3, 12, 17, 19}), bf({34, 6, 5, 3}), "stride 2, dilated, reflect, groups");
  check_amx_weights<2>(F::Conv2dFuncOptions().padding(2).padding_mode("circular").conv_mode("convolution"),
                       bf({1, 10, 9, 8}), bf({64, 10, 4, 4}), "circular, conv_mode convolution");
  check_amx_weights<1>(F::Conv1dFuncOptions().stride(3).padding(4), bf({2, 20, 300}), bf({33, 20, 9}), "1-d stride 3");
  check_amx_weights<2>(F::Conv2dFuncOptions().dilation({2, 3}).padding({2, 3}).padding_mode("reflect").groups(2),
                       bf({2, 40, 11, 13}), bf({48, 20, 3, 3}), "dilated (odd and even), reflect, groups");
  check_amx_weights<1>(F::Conv1dFuncOptions().padding(3), bf({3, 48, 77}), bf({64, 48, 7}), "1-d, 7 taps");
  check_amx_weights<3>(F::Conv3dFuncOptions().padding(1), bf({1, 8, 5, 6, 4}), bf({16, 8, 3, 3, 3}), "3-d");
  const Tensor cl = bf({2, 9, 6, 10}).permute({0, 2, 3, 1}).contiguous().permute({0, 3, 1, 2});
  check_amx_weights<2>(F::Conv2dFuncOptions().padding("same"), cl, bf({16, 9, 3, 3}), "channels-last input");
  check_amx_weights<2>(F::Conv2dFuncOptions().padding(1), bf({1, 4, 8, 8}), bf({6, 4, 3, 3}), "few channels (float32 plan)");
  // A transposed layer (stride 1): its forward and input gradient run as AMX forwards, its
  // weight gradient on the AMX weight path; all against the reference.
  {
    const Tensor tx = bf({2, 48, 9, 10}), tw = bf({48, 40, 3, 3}), tb = bf({40});
    const auto to = F::ConvTranspose2dFuncOptions().padding(1);
    const auto tref = F::ConvTranspose2dFuncOptions(to).algorithm("reference");
    const Tensor ty = F::conv_transpose2d(tx, tw, tb, to);
    EXPECT_TRUE(all_close(ty, F::conv_transpose2d(tx, tw, tb, tref), dtype_tolerance(kBFloat16)));
    const Tensor tgy = bf(ty.sizes());
    const auto tg = F::conv_transpose_backward(tgy, tx, tw, to), tr = F::conv_transpose_backward(tgy, tx, tw, tref);
    EXPECT_TRUE(all_close(tg.grad_input, tr.grad_input, dtype_tolerance(kBFloat16)));
    EXPECT_TRUE(all_close(tg.grad_weight, tr.grad_weight, dtype_tolerance(kBFloat16)));
    EXPECT_TRUE(all_close(tg.grad_bias, tr.grad_bias, dtype_tolerance(kBFloat16)));
  }
  // An inf in dY where the windows read zero padding: the reference's result (no inf * 0).
  const Tensor x = bf({1, 4, 6, 6}), w = bf({8, 4, 3, 3});
  Tensor gy = randn({1, 8, 6, 6}, kFloat32, &gen);
  gy.data<float>()[0] = std::numeric_limits<float>::infinity();
  gy = gy.to(kBFloat16);
  const auto o = F::Conv2dFuncOptions().padding(1);
  EXPECT_TRUE(bitwise_equal(F::conv_backward(gy, x, w, o, {false, true, false}).grad_weight,
                            F::conv_backward(gy, x, w, F::Conv2dFuncOptions(o).algorithm("reference"), {false, true, false}).grad_weight));
  // An inf in x: inf where real products read it, finite where none does (tap 1 never reads
  // column 0), as the reference; not the NaN of inf times the zero dY of the grid's non-output
  // positions next to it.
  Tensor x2 = randn({1, 2, 3, 6}, kFloat32, &gen);
  x2.data<float>()[6] = std::numeric_limits<float>::infinity();  // channel 0, row 1, column 0
  std::vector<double> pos(45);
  for (std::size_t i = 0; i < pos.size(); ++i) pos[i] = 0.5 + 0.01 * static_cast<double>(i);
  const Tensor gy2 = Tensor::from_values(pos, {1, 3, 3, 5}, kBFloat16);  // positive
  const Tensor w2 = Tensor::from_values(std::vector<double>(12, 1.0), {3, 2, 1, 2}, kBFloat16);
  const auto gw2 = F::conv_backward(gy2, x2.to(kBFloat16), w2, F::Conv2dFuncOptions(), {false, true, false})
                       .grad_weight.to_vector();
  for (std::size_t co = 0; co < 3; ++co) {  // tap 0 of channel 0 reads the inf (at output (1, 0)), tap 1 never
    EXPECT_TRUE(std::isinf(gw2[co * 4]) && gw2[co * 4] > 0) << gw2[co * 4];
    EXPECT_TRUE(std::isfinite(gw2[co * 4 + 1])) << gw2[co * 4 + 1];
  }
}

// float64 weight gradients on its kernels and, for depthwise layers, as direct dot products (every ISA cap, auto and forced) against the reference; a long reduction over few weights (summed in chunks) gives the same bits for 1
// and 3 threads; an inf in dY where zero padding is read gives the reference's result.
TEST(Float64Gradients, WeightGradientsOnItsKernels) {
  Generator gen(64);
  int direct = 0;
  for (const Config& c0 : sweep()) {
    Config c = c0;
    c.dtype = kFloat64;
    SCOPED_TRACE(describe(c));
    const Tensor x = randn(input_shape(c), kFloat64, &gen), w = randn(weight_shape(c), kFloat64, &gen);
    const Tensor gy = randn(forward(c, x, w).sizes(), kFloat64, &gen);
    const auto ref = conv_grads(c, gy, x, w, Algorithm::Reference);
    for (internal::Isa isa : isas()) {
      IsaCap cap(isa);
      const auto g = conv_grads(c, gy, x, w, Algorithm::Auto);
      EXPECT_TRUE(all_close(g.grad_weight, ref.grad_weight, dtype_tolerance(kFloat64))) << internal::name_of(isa);
      EXPECT_TRUE(all_close(g.grad_bias, ref.grad_bias, dtype_tolerance(kFloat64))) << internal::name_of(isa);
    }
    const auto g = conv_grads(c, gy, x, w, Algorithm::Gemm, {false, true, false});  // (never refused here)
    EXPECT_TRUE(all_close(g.grad_weight, ref.grad_weight, dtype_tolerance(kFloat64)));
    // The direct path (dot products) wherever it is allowed.
    if (c.Cin / c.groups == 1 && c.groups > 1 && c.N > 0) {
      const auto d = conv_grads(c, gy, x, w, Algorithm::Depthwise, {false, true, false});
      EXPECT_TRUE(all_close(d.grad_weight, ref.grad_weight, dtype_tolerance(kFloat64)));
      ++direct;
    }
  }
  EXPECT_GE(direct, 8);
  // Wide layers: 64 -> 48 3x3 over two images (several row, column and K blocks); 8 -> 8 over
  // 2 x 40 x 40 (a small dW over a long reduction: chunks); depthwise 1-d with a multiplier.
  struct Case {
    Shape x, w;
    int64_t groups, pad;
  };
  for (const Case& k : {Case{{2, 64, 12, 11}, {48, 64, 3, 3}, 1, 1}, Case{{2, 8, 40, 40}, {8, 8, 3, 3}, 1, 0},
                        Case{{3, 16, 70}, {32, 1, 5}, 16, 2}}) {
    const Tensor x = randn(k.x, kFloat64, &gen), w = randn(k.w, kFloat64, &gen);
    const bool one_d = k.x.size() == 3;
    const auto o1 = F::Conv1dFuncOptions().padding(k.pad).groups(k.groups);
    const auto o2 = F::Conv2dFuncOptions().padding(k.pad).groups(k.groups);
    const Tensor gy = randn(one_d ? F::conv1d(x, w, {}, o1).sizes() : F::conv2d(x, w, {}, o2).sizes(), kFloat64, &gen);
    auto grads = [&](const char* a) {
      return one_d ? F::conv_backward(gy, x, w, F::Conv1dFuncOptions(o1).algorithm(a), {false, true, false})
                   : F::conv_backward(gy, x, w, F::Conv2dFuncOptions(o2).algorithm(a), {false, true, false});
    };
    const Tensor ref = grads("reference").grad_weight;
    for (const char* a : {"gemm", "depthwise"}) {
      if (std::string(a) == "depthwise" && k.groups == 1) continue;
      std::vector<Tensor> runs;
      const int before = get_num_threads();
      for (int n : {1, 3}) {
        set_num_threads(n);
        runs.push_back(grads(a).grad_weight);
      }
      set_num_threads(before);
      EXPECT_TRUE(all_close(runs[0], ref, dtype_tolerance(kFloat64))) << shape_str(k.w) << " " << a;
      EXPECT_TRUE(bitwise_equal(runs[0], runs[1])) << shape_str(k.w) << " " << a;
    }
  }
  // An inf in dY where the windows read zero padding: the reference's result (no inf * 0).
  const Tensor x = randn({1, 4, 6, 6}, kFloat64, &gen), w = randn({8, 4, 3, 3}, kFloat64, &gen);
  Tensor gy = randn({1, 8, 6, 6}, kFloat64, &gen);
  gy.data<double>()[0] = std::numeric_limits<double>::infinity();
  const auto o = F::Conv2dFuncOptions().padding(1);
  EXPECT_TRUE(bitwise_equal(F::conv_backward(gy, x, w, o, {false, true, false}).grad_weight,
                            F::conv_backward(gy, x, w, F::Conv2dFuncOptions(o).algorithm("reference"), {false, true, false}).grad_weight));
}

// float64 input gradients with any stride run one stride-1 forward per phase on its kernels, and
// with reflect, replicate or circular padding those of the valid layer over the padded region,
// folded back: every ISA cap, auto and forced gemm, against the reference; and transposed
// layers' forwards, which are such gradients.
TEST(Float64Gradients, InputGradientsOfEveryStrideAndPaddingOnItsKernels) {
  Generator gen(65);
  int strided = 0, folded = 0;
  for (const Config& c0 : sweep()) {
    Config c = c0;
    c.dtype = kFloat64;
    SCOPED_TRACE(describe(c));
    const Tensor x = randn(input_shape(c), kFloat64, &gen), w = randn(weight_shape(c), kFloat64, &gen);
    const Tensor gy = randn(forward(c, x, w).sizes(), kFloat64, &gen);
    const Tensor ref = conv_grads(c, gy, x, w, Algorithm::Reference, {true, false, false}).grad_input;
    for (internal::Isa isa : isas()) {
      IsaCap cap(isa);
      EXPECT_TRUE(all_close(conv_grads(c, gy, x, w, Algorithm::Auto, {true, false, false}).grad_input, ref,
                            dtype_tolerance(kFloat64)))
          << internal::name_of(isa);
    }
    bool stride1 = true;
    for (int64_t st : c.stride) stride1 = stride1 && st == 1;
    EXPECT_TRUE(all_close(conv_grads(c, gy, x, w, Algorithm::Gemm, {true, false, false}).grad_input, ref,
                          dtype_tolerance(kFloat64)));  // (never refused here)
    strided += c.N > 0 && !stride1;
    folded += c.N > 0 && c.mode != PaddingMode::Zeros;
  }
  EXPECT_GE(strided, 10);  // (the sweep has such layers)
  EXPECT_GE(folded, 10);
  for (const TConfig& t0 : transpose_sweep()) {
    TConfig t = t0;
    t.c.dtype = kFloat64;
    SCOPED_TRACE(describe(t.c));
    const Tensor x = randn(input_shape(t.c), kFloat64, &gen), w = randn(transpose_weight_shape(t.c), kFloat64, &gen);
    const Tensor ref = t.c.dim == 1   ? F::conv_transpose1d(x, w, {}, transpose_options<1>(t).algorithm("reference"))
                       : t.c.dim == 2 ? F::conv_transpose2d(x, w, {}, transpose_options<2>(t).algorithm("reference"))
                                      : F::conv_transpose3d(x, w, {}, transpose_options<3>(t).algorithm("reference"));
    for (internal::Isa isa : isas()) {
      IsaCap cap(isa);
      EXPECT_TRUE(all_close(transpose(t, x, w), ref, dtype_tolerance(kFloat64))) << internal::name_of(isa);
    }
  }
}

}  // namespace
}  // namespace convkit::test
