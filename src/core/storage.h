// Tensor storage: 64-byte-aligned buffers, large ones huge-page backed and recycled.
#pragma once

#include <cstddef>
#include <memory>

namespace convkit::internal {

/// Storage of at least `bytes` (at least one cache line), 64-byte aligned, never null;
/// std::bad_alloc when the system has no memory. Freed through the returned pointer.
std::shared_ptr<void> allocate_storage(std::size_t bytes);

}  // namespace convkit::internal
