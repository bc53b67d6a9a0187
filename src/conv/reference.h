// The reference convolution (plain loops): the oracle every algorithm is tested against.
#pragma once

#include "conv/params.h"

namespace convkit::internal {

/// y[N, C_out, *S_out] (contiguous, preallocated) = conv(x[N, C_in, *S_in] with any strides,
/// w[C_out, C_in/groups, *K], b[C_out] or undefined), exactly as ConvParams describes.
void reference_conv(const ConvParams& p, const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y);

/// gx[N, C_in, *S_in] (contiguous, preallocated) = the forward map's transpose applied to
/// gy[N, C_out, *S_out] (any strides), plus b[C_in] when defined (a transposed layer's bias).
/// No conjugation: complex callers pass conj(w) for a gradient.
void reference_backward_data(const ConvParams& p, const Tensor& gy, const Tensor& w, const Tensor& b, Tensor& gx);

/// gw[C_out, C_in/groups, *K] (contiguous, preallocated) = sum over N and S_out of gy times the
/// input each tap read. No conjugation.
void reference_backward_weights(const ConvParams& p, const Tensor& x, const Tensor& gy, Tensor& gw);

/// out[C] (contiguous, preallocated, t's dtype) = sum of t[N, C, *S] over every dim but C.
void reference_channel_sums(const Tensor& t, Tensor& out);

}  // namespace convkit::internal
