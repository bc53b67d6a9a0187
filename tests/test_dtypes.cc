// The dtypes beyond float32 on the engine: float16 and bfloat16 gradients (convolution and
// transposed) on the float32 paths, against the reference in the same dtype and, bit for bit,
// against the float32 engine's gradients of the same values rounded once. (Their forwards:
// test_engine.cc's 16-bit sweep; the conversion kernels: test_kernels.cc.)
#include "grad_sweep.h"

namespace convkit::test {
namespace {

using namespace grad;

F::ConvGradients conv_grads(const Config& c, const Tensor& gy, const Tensor& x, const Tensor& w, Algorithm a) {
  switch (c.dim) {
    case 1: { auto o = F::Conv1dFuncOptions(); apply<1>(o, c); return F::conv_backward(gy, x, w, o.algorithm(a)); }
    case 2: { auto o = F::Conv2dFuncOptions(); apply<2>(o, c); return F::conv_backward(gy, x, w, o.algorithm(a)); }
    default: { auto o = F::Conv3dFuncOptions(); apply<3>(o, c); return F::conv_backward(gy, x, w, o.algorithm(a)); }
  }
}

F::ConvGradients transpose_grads(const TConfig& t, const Tensor& gy, const Tensor& x, const Tensor& w, Algorithm a) {
  switch (t.c.dim) {
    case 1: return F::conv_transpose_backward(gy, x, w, transpose_options<1>(t).algorithm(a));
    case 2: return F::conv_transpose_backward(gy, x, w, transpose_options<2>(t).algorithm(a));
    default: return F::conv_transpose_backward(gy, x, w, transpose_options<3>(t).algorithm(a));
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

}  // namespace
}  // namespace convkit::test
