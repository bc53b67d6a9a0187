// Functional convolutions: F::conv1d/conv2d/conv3d(x, weight, bias, options).
#pragma once

#include <array>

#include "convkit/export.h"
#include "convkit/nn/options/conv.h"
#include "convkit/spec.h"
#include "convkit/tensor.h"

namespace convkit::nn::functional {

/// x: (N, C_in, L) or unbatched (C_in, L); weight: (C_out, C_in/groups, kL) or MegEngine's
/// grouped (groups, C_out/groups, C_in/groups, kL); bias: (C_out), (1, C_out, 1) or undefined.
/// Returns (N, C_out, L_out), or (C_out, L_out) for unbatched input.
CONVKIT_API Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias = {},
              const Conv1dFuncOptions& options = {});
/// As conv1d with (H, W) spatial dims.
CONVKIT_API Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = {},
              const Conv2dFuncOptions& options = {});
/// As conv1d with (D, H, W) spatial dims.
CONVKIT_API Tensor conv3d(const Tensor& x, const Tensor& weight, const Tensor& bias = {},
              const Conv3dFuncOptions& options = {});

/// The gradients of one (transposed) convolution; each is undefined unless requested.
struct ConvGradients {
  Tensor grad_input;   ///< input's shape
  Tensor grad_weight;  ///< weight's shape, in the layout it was given (PyTorch's or MegEngine's)
  Tensor grad_bias;    ///< (out_channels)
};
/// Which of {grad_input, grad_weight, grad_bias} to compute (aten::convolution_backward's
/// output_mask).
using OutputMask = std::array<bool, 3>;

/// PyTorch's aten::convolution_backward for F::conv1d: the gradients of
/// conv1d(input, weight, bias, options) for the gradient grad_output of its output (the
/// output's shape). grad_bias is the sum of grad_output over every dim but channels.
/// Reflect, replicate and circular padding fold their gradient back onto the input. Complex
/// dtypes follow PyTorch's convention: grad_input uses conj(weight), grad_weight conj(input).
/// grad_weight and grad_bias are bitwise the same for any thread count.
CONVKIT_API ConvGradients conv_backward(const Tensor& grad_output, const Tensor& input, const Tensor& weight,
                            const Conv1dFuncOptions& options, OutputMask output_mask = {true, true, true});
/// As above, for F::conv2d.
CONVKIT_API ConvGradients conv_backward(const Tensor& grad_output, const Tensor& input, const Tensor& weight,
                            const Conv2dFuncOptions& options, OutputMask output_mask = {true, true, true});
/// As above, for F::conv3d.
CONVKIT_API ConvGradients conv_backward(const Tensor& grad_output, const Tensor& input, const Tensor& weight,
                            const Conv3dFuncOptions& options, OutputMask output_mask = {true, true, true});

/// Transposed 1-d convolution (PyTorch's F.conv_transpose1d): x (N, C_in, L) or unbatched
/// (C_in, L), weight (C_in, C_out/groups, kL), bias (C_out) or undefined. Output length
/// (L - 1) * stride - lo - hi + dilation * (kL - 1) + output_padding + 1, where padding p
/// gives lo = hi = p.
CONVKIT_API Tensor conv_transpose1d(const Tensor& x, const Tensor& weight, const Tensor& bias = {},
                        const ConvTranspose1dFuncOptions& options = {});
/// As conv_transpose1d with (H, W) spatial dims.
CONVKIT_API Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias = {},
                        const ConvTranspose2dFuncOptions& options = {});
/// As conv_transpose1d with (D, H, W) spatial dims.
CONVKIT_API Tensor conv_transpose3d(const Tensor& x, const Tensor& weight, const Tensor& bias = {},
                        const ConvTranspose3dFuncOptions& options = {});

/// The gradients of conv_transpose1d(input, weight, bias, options) for grad_output (the
/// output's shape); conventions as conv_backward.
CONVKIT_API ConvGradients conv_transpose_backward(const Tensor& grad_output, const Tensor& input, const Tensor& weight,
                                      const ConvTranspose1dFuncOptions& options,
                                      OutputMask output_mask = {true, true, true});
/// As above, for conv_transpose2d.
CONVKIT_API ConvGradients conv_transpose_backward(const Tensor& grad_output, const Tensor& input, const Tensor& weight,
                                      const ConvTranspose2dFuncOptions& options,
                                      OutputMask output_mask = {true, true, true});
/// As above, for conv_transpose3d.
CONVKIT_API ConvGradients conv_transpose_backward(const Tensor& grad_output, const Tensor& input, const Tensor& weight,
                                      const ConvTranspose3dFuncOptions& options,
                                      OutputMask output_mask = {true, true, true});

/// Any convolution a ConvSpec describes, for a rank known only at run time: F::convNd for a
/// plain spec, F::conv_transposeNd for a transposed one (whose output_size, if given, sets
/// the output padding). Same checks, messages and results as those.
CONVKIT_API Tensor conv(const Tensor& x, const Tensor& weight, const Tensor& bias, const ConvSpec& spec);

/// The gradients of F::conv(input, weight, bias, spec) for grad_output: conv_backward or
/// conv_transpose_backward, as the spec says.
CONVKIT_API ConvGradients conv_backward(const Tensor& grad_output, const Tensor& input, const Tensor& weight,
                                        const ConvSpec& spec, OutputMask output_mask = {true, true, true});

}  // namespace convkit::nn::functional

namespace convkit {
namespace F = nn::functional;
}  // namespace convkit
