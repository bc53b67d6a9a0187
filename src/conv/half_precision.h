// float16 and bfloat16 on the float32 engine (half_precision.cc): a 16-bit layer's plan is the
// float32 plan of the same layer between a conversion of its inputs to float32 and one
// rounding of its results to the 16-bit dtype.
#pragma once

#include <memory>

#include "conv/plan.h"

namespace convkit::internal {

/// Whether the engine computes data of this dtype in float32 (float16, bfloat16).
bool computes_in_float32(DType t);
/// Whether the fast paths compute this dtype: float32, and float16 / bfloat16 in float32.
inline bool engine_dtype(DType t) { return t == kFloat32 || computes_in_float32(t); }
/// p with dtype float32: the params of the inner plan.
ConvParams float32_params(const ConvParams& p);
/// t as float32 (t itself when it is float32 or undefined).
Tensor to_float32(const Tensor& t);
/// The 16-bit plan around a float32 plan of float32_params(p). The wrapper's params and choice
/// are the caller's to set, as for every plan.
std::unique_ptr<ConvPlan> wrap_half(std::unique_ptr<ConvPlan> inner);
std::unique_ptr<BackwardDataPlan> wrap_half(std::unique_ptr<BackwardDataPlan> inner);
std::unique_ptr<BackwardWeightsPlan> wrap_half(std::unique_ptr<BackwardWeightsPlan> inner);

}  // namespace convkit::internal
