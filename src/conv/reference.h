// The reference convolution (plain loops): the oracle every algorithm is tested against.
#pragma once

#include "conv/params.h"

namespace convkit::internal {

/// y[N, C_out, *S_out] (contiguous, preallocated) = conv(x[N, C_in, *S_in] with any strides,
/// w[C_out, C_in/groups, *K], b[C_out] or undefined), exactly as ConvParams describes.
void reference_conv(const ConvParams& p, const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y);

}  // namespace convkit::internal
