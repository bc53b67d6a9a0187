// Functional convolutions: F::conv1d/conv2d/conv3d(x, weight, bias, options).
#pragma once

#include "convkit/nn/options/conv.h"
#include "convkit/tensor.h"

namespace convkit::nn::functional {

/// x: (N, C_in, L) or unbatched (C_in, L); weight: (C_out, C_in/groups, kL) or MegEngine's
/// grouped (groups, C_out/groups, C_in/groups, kL); bias: (C_out), (1, C_out, 1) or undefined.
/// Returns (N, C_out, L_out), or (C_out, L_out) for unbatched input.
Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias = {},
              const Conv1dFuncOptions& options = {});
/// As conv1d with (H, W) spatial dims.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = {},
              const Conv2dFuncOptions& options = {});
/// As conv1d with (D, H, W) spatial dims.
Tensor conv3d(const Tensor& x, const Tensor& weight, const Tensor& bias = {},
              const Conv3dFuncOptions& options = {});

}  // namespace convkit::nn::functional

namespace convkit {
namespace F = nn::functional;
}  // namespace convkit
