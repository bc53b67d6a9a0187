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

/// Runs a plan on x (batched or unbatched, as the plan's params say) into a new output.
Tensor run_plan(const ConvPlan& plan, const Tensor& x);

}  // namespace convkit::internal
