// The gradient and transposed-convolution entries every public API funnels into:
// params (direction) -> select -> plan -> run, like conv_forward.
#pragma once

#include "conv/conv.h"
#include "convkit/nn/functional/conv.h"

namespace convkit::internal {

/// The gradients of conv(x, w_any, b, args) for gy; w_any in PyTorch's or MegEngine's layout
/// (grad_weight comes back in the same one).
nn::functional::ConvGradients conv_backward(const Tensor& gy, const Tensor& x, const Tensor& w_any,
                                            const ConvArgs& args, nn::functional::OutputMask mask);

/// A transposed convolution of x[N, C_in, *S] (or unbatched) with w[C_in, C_out/groups, *K].
Tensor conv_transpose(const Tensor& x, const Tensor& w, const Tensor& b, const TransposeArgs& args);
/// conv_transpose in two steps: its plan (validation, packed weights) for x's shape, and a run
/// of that plan on x (batched or unbatched, as the plan's params say).
std::unique_ptr<BackwardDataPlan> make_transpose_plan(const Tensor& x, const Tensor& w, const Tensor& b,
                                                      const TransposeArgs& args);
Tensor run_transpose_plan(const BackwardDataPlan& plan, const Tensor& x);

/// Its gradients for gy (the transposed output's shape).
nn::functional::ConvGradients conv_transpose_backward(const Tensor& gy, const Tensor& x, const Tensor& w,
                                                      const TransposeArgs& args, nn::functional::OutputMask mask);

/// conj(t) for complex dtypes (a new tensor), t itself otherwise.
Tensor conj_if_complex(const Tensor& t);

}  // namespace convkit::internal
