#include "core/fingerprint.h"

#include <cstring>

namespace convkit::internal {
namespace {

constexpr uint64_t kMul = 0x9E3779B97F4A7C15ull;  // 2^64 / golden ratio, odd
constexpr uint64_t kMul2 = 0xD6E8FEB86659FD93ull;  // another odd constant with mixed bits

inline uint64_t rotl(uint64_t v, int r) { return (v << r) | (v >> (64 - r)); }

// Each word enters its lane through a multiply and a rotate: a change of any bit of any word
// changes the lane, and four independent lanes keep the multiplier busy.
inline uint64_t mix_in(uint64_t lane, uint64_t word) { return rotl(lane + word * kMul2, 29) * kMul; }

// The final avalanche (every output bit depends on every input bit).
inline uint64_t finish(uint64_t h) {
  h ^= h >> 31;
  h *= kMul2;
  h ^= h >> 29;
  h *= kMul;
  return h ^ (h >> 32);
}

uint64_t hash_bytes(const unsigned char* p, std::size_t n, uint64_t seed) {
  uint64_t lane[4] = {seed, seed ^ kMul, seed + kMul2, seed - kMul};
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int l = 0; l < 4; ++l) {
      uint64_t w;
      std::memcpy(&w, p + i + 8 * l, 8);
      lane[l] = mix_in(lane[l], w);
    }
  for (int l = 0; i < n; ++l, i += 8) {  // the tail, zero-filled to whole words
    uint64_t w = 0;
    std::memcpy(&w, p + i, n - i < 8 ? n - i : 8);
    lane[l] = mix_in(lane[l], w);
  }
  uint64_t h = n;
  for (uint64_t l : lane) h = mix_in(h, l);
  return finish(h);
}

}  // namespace

uint64_t fingerprint(const Tensor& t) {
  if (!t.defined()) return 0;
  const Tensor c = t.contiguous();  // weights are contiguous: no copy
  uint64_t seed = static_cast<uint64_t>(t.dtype()) + 1;
  for (int64_t s : t.sizes()) seed = mix_in(seed, static_cast<uint64_t>(s));
  return hash_bytes(static_cast<const unsigned char*>(c.const_data_ptr()),
                    static_cast<std::size_t>(c.numel() * c.element_size()), seed);
}

}  // namespace convkit::internal
