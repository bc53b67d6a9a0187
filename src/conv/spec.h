// The internal side of convkit::ConvPlan: modules keep one per input shape and weight, made
// without copying their parameters (they notice changes themselves).
#pragma once

#include "conv/params.h"
#include "convkit/plan.h"

namespace convkit::internal {

/// A ConvPlan for input shaped and typed like x (whose values are not read) that reads w and b
/// as given: the caller keeps them unchanged while the plan lives (prepare() passes copies).
/// weight_cl: weight_channels_last of the weight the caller gave (w may be a copy of it), or -1
/// for w's own.
convkit::ConvPlan prepare_plan(const ConvSpec& spec, const Tensor& w, const Tensor& b, const Tensor& x, int weight_cl = -1);

/// Whether the plan was made while allow_fast_winograd() was on (a module's cache key).
bool prepared_with_fast_winograd(const convkit::ConvPlan& plan);

}  // namespace convkit::internal
