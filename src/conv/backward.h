// The gradient and transposed-convolution entries every public API funnels into:
// params (direction) -> select -> plan -> run, like conv_forward.
#pragma once

#include <memory>
#include <mutex>

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

/// The gradient plans of one convolution or transposed convolution call, made on first use
/// and kept: a ConvPlan's backward() makes them once, F::conv_backward for one call. Made for
/// the forward call's params and weight; run() for any grad_output and input of its shapes.
/// run() is const and thread-safe (each plan is made once, under std::call_once).
class GradientPlans {
 public:
  /// conv(x, w_any, ., args); w_any in PyTorch's or MegEngine's layout. fast_winograd: whether
  /// the forwards its input gradient may run take fast Winograd (read when the plans are
  /// made, so that a plan's gradients follow the setting its forward was prepared with).
  /// weight_cl: weight_channels_last of the weight the caller gave, or -1 for w_any's own.
  static std::unique_ptr<GradientPlans> for_conv(const Tensor& x, const Tensor& w_any, const ConvArgs& args,
                                                 bool fast_winograd, int weight_cl = -1);
  /// conv_transpose(x, w, ., args), its stride-1 gradients routed as allow_fast_winograd says.
  static std::unique_ptr<GradientPlans> for_transpose(const Tensor& x, const Tensor& w, const TransposeArgs& args,
                                                      bool fast_winograd);
  nn::functional::ConvGradients run(const Tensor& gy, const Tensor& x, nn::functional::OutputMask mask) const;

 private:
  GradientPlans() = default;
  /// cl: dW channels-last (written so by plans that can, else converted).
  Tensor weight_gradient(const Tensor& x, const Tensor& dy, Tensor* gb, bool cl = false) const;
  ConvParams p_;       // the convolution's, or the transposed layer's (its matching convolution's)
  bool transposed_ = false;
  Tensor w_;           // the weight the input gradient reads (conjugated for complex dtypes)
  Shape w_shape_;      // grad_weight's shape: the weight's as given
  bool weight_cl_ = false;  // weight_channels_last of the weight as given (channels_last_result)
  Algorithm algorithm_ = Algorithm::Auto;
  bool fast_winograd_ = false;
  mutable std::once_flag data_once_, weights_once_;
  mutable std::unique_ptr<BackwardDataPlan> data_;      // convolution: dx
  mutable std::unique_ptr<ConvPlan> data_forward_;      // transposed: dx is the matching forward
  mutable std::shared_ptr<const BackwardWeightsPlan> weights_;  // (shared_weights_plan's)
};

/// A weight-gradient plan for q (a function of the layer's shape alone, not of its weights),
/// from a process-wide cache (64 plans, 256 MiB of their buffers, least recently used dropped
/// first; release_cached_memory() drops them all): a training step's conv_backward meets the
/// same shapes every step and skips making the plan and its first run's buffers again. The key
/// is all of q, the forced algorithm, the ISA cap and the test knobs that steer the choice.
/// Thread-safe.
std::shared_ptr<const BackwardWeightsPlan> shared_weights_plan(const ConvParams& q, Algorithm forced);

/// conj(t) for complex dtypes (a new tensor), t itself otherwise.
Tensor conj_if_complex(const Tensor& t);

}  // namespace convkit::internal
