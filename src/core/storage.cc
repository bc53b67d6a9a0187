// Tensor storage. Two costs of fresh memory dominate large tensors on the machines convkit
// runs on, both measured on a virtual machine:
// - a first-touched 4 KiB page costs a fault, ~3 us each: a 9.4 MB Winograd weight transform
//   spent 4-6 ms faulting when its plan was made (1.3 ms in 2 MiB pages);
// - a forward returns a new output, and the C library hands a large block back to the system
//   when it is freed, so every forward faulted its output in again (wav2vec2's first layer,
//   6.5 MB out: ~20% of a steady forward was the kernel clearing pages).
// So buffers of a huge page or more start on a huge-page boundary and ask for transparent huge
// pages over their whole huge pages (the tail stays in small pages: nothing is resident that
// the tensor does not use), and freed buffers of 32 KiB or more are kept, up to 256 MiB in
// all, for the next tensor of about their size (release_cached_memory() returns them). From
// 32 KiB because plans made per call (the functional gradients, every step of a training
// loop) allocate and free buffers of 32-256 KiB (a phase's packed weight, workspaces) that
// the C library returned and faulted in again: 10-13% of ResNet-50 res3's conv_backward.
// Under AddressSanitizer nothing is kept, so every use after free is still caught.
#include "core/storage.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <vector>
#include <new>

#include "convkit/tensor.h"

#if defined(__linux__)
#include <sys/mman.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#define CONVKIT_STORAGE_CACHE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CONVKIT_STORAGE_CACHE 0
#endif
#endif
#ifndef CONVKIT_STORAGE_CACHE
#define CONVKIT_STORAGE_CACHE 1
#endif

namespace convkit {
namespace internal {
namespace {

constexpr std::size_t kAlignment = 64;
constexpr std::size_t kHugePage = std::size_t{2} << 20;
constexpr std::size_t kMinCached = std::size_t{32} << 10;
constexpr std::size_t kCacheLimit = std::size_t{256} << 20;

std::size_t alignment_for(std::size_t capacity) { return capacity >= kHugePage ? kHugePage : kAlignment; }

void free_block(void* p, std::size_t capacity) { ::operator delete(p, std::align_val_t(alignment_for(capacity))); }

// Freed blocks by capacity. Leaked on purpose: tensors destroyed during static destruction
// still return their blocks to a live cache.
class BlockCache {
 public:
  // A cached block of `bytes` to twice that (a larger one would strand memory), or null; of
  // equal ones the last freed (the warmest).
  void* take(std::size_t bytes, std::size_t& capacity) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = blocks_.lower_bound(bytes);
    if (it == blocks_.end() || it->first > 2 * bytes) return nullptr;
    it = std::prev(blocks_.upper_bound(it->first));
    capacity = it->first;
    void* p = it->second;
    blocks_.erase(it);
    total_ -= capacity;
    return p;
  }

  // Keeps the block if it fits under the limit; otherwise frees it.
  void give(void* p, std::size_t capacity) noexcept {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (total_ + capacity <= kCacheLimit) {
        try {
          blocks_.emplace(capacity, p);
          total_ += capacity;
          return;
        } catch (const std::bad_alloc&) {
          // no room for the map node: free the block instead
        }
      }
    }
    free_block(p, capacity);
  }

  void release() {
    std::multimap<std::size_t, void*> blocks;
    {
      std::lock_guard<std::mutex> lock(mu_);
      blocks.swap(blocks_);
      total_ = 0;
    }
    for (auto& [capacity, p] : blocks) free_block(p, capacity);
  }

  std::size_t bytes() {
    std::lock_guard<std::mutex> lock(mu_);
    return total_;
  }

 private:
  std::mutex mu_;
  std::multimap<std::size_t, void*> blocks_;
  std::size_t total_ = 0;
};

BlockCache& cache() {
  static BlockCache* c = new BlockCache;
  return *c;
}

}  // namespace

std::shared_ptr<void> allocate_storage(std::size_t bytes) {
  bytes = std::max(bytes, kAlignment);
  std::size_t capacity = bytes;
  void* p = CONVKIT_STORAGE_CACHE && bytes >= kMinCached ? cache().take(bytes, capacity) : nullptr;
  if (p == nullptr) {
    capacity = bytes;
    p = ::operator new(capacity, std::align_val_t(alignment_for(capacity)));
#if defined(MADV_HUGEPAGE)
    // Advice only: a kernel without transparent huge pages keeps small pages.
    if (capacity >= kHugePage) (void)madvise(p, capacity / kHugePage * kHugePage, MADV_HUGEPAGE);
#endif
  }
  // (Should the control block's allocation fail, shared_ptr runs the deleter on p itself.)
  return std::shared_ptr<void>(p, [capacity](void* q) {
    if (CONVKIT_STORAGE_CACHE && capacity >= kMinCached) {
      cache().give(q, capacity);
    } else {
      free_block(q, capacity);
    }
  });
}

}  // namespace internal

namespace internal {

namespace {
std::mutex& hooks_mutex() {
  static std::mutex m;
  return m;
}
std::vector<void (*)()>& hooks() {
  static std::vector<void (*)()> h;
  return h;
}
}  // namespace

void add_release_hook(void (*f)()) {
  const std::lock_guard<std::mutex> lock(hooks_mutex());
  hooks().push_back(f);
}

}  // namespace internal

void release_cached_memory() {
  std::vector<void (*)()> run;
  {
    const std::lock_guard<std::mutex> lock(internal::hooks_mutex());
    run = internal::hooks();
  }
  for (auto f : run) f();  // (their plans free their buffers into the cache first)
  internal::cache().release();
}

int64_t cached_memory_bytes() { return static_cast<int64_t>(internal::cache().bytes()); }

}  // namespace convkit
