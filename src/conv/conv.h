// The forward entry every public API funnels into: params -> select -> run.
#pragma once

#include "conv/plan.h"

namespace convkit::internal {

/// Validates, resolves and computes one convolution. `w` may be in PyTorch's or MegEngine's
/// layout, `b` may be (C_out), MegEngine's (1, C_out, 1...) or undefined.
Tensor conv_forward(const Tensor& x, const Tensor& w, const Tensor& b, const ConvArgs& args);

/// The canonical weight and bias and the validated params for one call.
struct ConvCall {
  Tensor w, b;
  ConvParams params;
};
ConvCall prepare_conv(const Tensor& x, const Tensor& w, const Tensor& b, const ConvArgs& args);

/// The memory format of a convolution's output and gradients, as PyTorch 1.13 decides it:
/// channels-last for a 2-d (not transposed) layer whose weight is channels-last, or whose
/// batched input is and is read through zero padding (other padding modes read a padded copy,
/// as torch.nn's modules pad a contiguous one first). `weight_cl`: weight_channels_last of the
/// weight as the caller gave it.
bool channels_last_result(const ConvParams& p, const Tensor& x, bool weight_cl);
/// Whether w is a channels-last 4-d weight (PyTorch's suggest_memory_format).
bool weight_channels_last(const Tensor& w);
/// An empty [N, C, H, W] tensor of channels-last memory.
Tensor empty_channels_last(const Shape& s, DType dtype);
/// t [N, C, H, W] as a new tensor of channels-last memory; an unbatched t [C, H, W] as the
/// squeezed batch of one of that.
Tensor to_channels_last(const Tensor& t);

/// Runs a plan on x (batched or unbatched, as the plan's params say) into a new output,
/// channels-last when `cl` (channels_last_result).
Tensor run_plan(const ConvPlan& plan, const Tensor& x, bool cl);

}  // namespace convkit::internal
