// complex64 on the float32 engine, complex128 forwards on the float64 one (complex_plans.cc): a complex layer's plan is the float32
// plan of one real layer with twice the channels (per group, the real parts then the imaginary
// parts), between a split of its complex inputs into those blocks and a merge of its results.
#pragma once

#include <memory>

#include "conv/plan.h"

namespace convkit::internal {

/// Whether the engine computes p as a real layer: complex64 in every direction (float32),
/// complex128 forwards (float64).
bool complex_on_engine(const ConvParams& p);
/// p as that real layer: float32 / float64, C_in and C_out doubled, the rest the same.
ConvParams real_params(const ConvParams& p);
/// The complex plans of each direction around the real layer's plans (which select, check
/// and log as every float32 plan does). Their params are p, their choice the real plan's
/// algorithm. Null (the caller makes the reference's) when the weight or bias holds inf or NaN;
/// calls whose data hold them run the reference too (complex products follow Annex G there).
std::unique_ptr<ConvPlan> make_complex_plan(const ConvParams& p, const Tensor& w, const Tensor& b, Algorithm forced,
                                            bool winograd);
std::unique_ptr<BackwardDataPlan> make_complex_backward_data_plan(const ConvParams& p, const Tensor& w,
                                                                  const Tensor& b, Algorithm forced, bool winograd);
std::unique_ptr<BackwardWeightsPlan> make_complex_backward_weights_plan(const ConvParams& p, Algorithm forced);

}  // namespace convkit::internal
