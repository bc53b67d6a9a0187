// Whether a float32 tensor holds only finite values: the check that sends a non-finite weight
// or bias to the reference (docs/guarantees.md).
#pragma once

#include "convkit/tensor.h"

namespace convkit::internal {

/// True when no element of t (float32, any strides) is inf or NaN. One read of the memory
/// with the scan kernel: contiguous and other dense layouts (channels-last) as one run.
bool all_finite(const Tensor& t);

}  // namespace convkit::internal
