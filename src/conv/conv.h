// The forward entry every public API funnels into: params -> select -> run.
#pragma once

#include "conv/params.h"

namespace convkit::internal {

/// Validates, resolves and computes one convolution. `w` may be in PyTorch's or MegEngine's
/// layout, `b` may be (C_out), MegEngine's (1, C_out, 1...) or undefined.
Tensor conv_forward(const Tensor& x, const Tensor& w, const Tensor& b, const ConvArgs& args);

}  // namespace convkit::internal
