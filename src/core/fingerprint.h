// A 64-bit fingerprint of a tensor's contents: modules compare it, on every forward, for
// weights whose memory code outside convkit may write (Tensor::writable_outside()).
#pragma once

#include <cstdint>

#include "convkit/tensor.h"

namespace convkit::internal {

/// Hash of the tensor's elements in row-major order, their dtype and shape: equal contents
/// give equal fingerprints; any change of a byte changes it but with probability 2^-64. One
/// pass over the memory at about the speed of a copy; 0 for an undefined tensor.
uint64_t fingerprint(const Tensor& t);

}  // namespace convkit::internal
