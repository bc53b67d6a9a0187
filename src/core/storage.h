// Tensor storage: 64-byte-aligned buffers, large ones huge-page backed and recycled.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>

#include "convkit/tensor.h"

namespace convkit::internal {

/// Storage of at least `bytes` (at least one cache line), 64-byte aligned, never null;
/// std::bad_alloc when the system has no memory. Freed through the returned pointer.
std::shared_ptr<void> allocate_storage(std::size_t bytes);

/// Something else that keeps memory for reuse (the kept weight-gradient plans): f drops it,
/// called by release_cached_memory() from then on.
void add_release_hook(void (*f)());

/// What every view of one storage shares: the version stamp, and whether code outside
/// convkit may write the memory (Tensor::writable_outside()).
struct TensorState {
  TensorState(uint64_t v, bool o) : version(v), outside(o) {}
  std::atomic<uint64_t> version;
  std::atomic<bool> outside;
};

/// Whether a 4-d tensor [N, C, H, W] is channels-last by PyTorch's rule (its strides ordered as
/// NHWC's, size-1 dims by their stride; PyTorch's suggest_memory_format): a conv2d of such an
/// input gives a channels-last output.
bool is_channels_last(const Tensor& t);

/// Typed convkit-internal write access (no writable_outside() mark).
template <typename T>
T* mutable_data(const Tensor& t) {
  return static_cast<T*>(mutable_data_ptr(t));
}

}  // namespace convkit::internal
