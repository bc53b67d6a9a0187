// Whether a tensor holds only finite values: the check that sends a non-finite weight or bias
// (or data the fast paths would treat differently) to the reference (docs/guarantees.md).
#pragma once

#include "convkit/tensor.h"

namespace convkit::internal {

/// True when no element of t (any dtype, any strides; complex: neither part) is inf or NaN, or
/// t is undefined. float32: one read of the memory with the scan kernel, contiguous and other
/// dense layouts (channels-last) as one run; complex64 as its float32 parts; other dtypes in
/// pieces over the threads.
bool all_finite(const Tensor& t);

}  // namespace convkit::internal
