#include "core/finite.h"

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "convkit/error.h"

namespace convkit::internal {
namespace {

// inf and NaN are the floats whose exponent bits are all ones: adding one to the exponent
// field carries into the sign bit exactly for them. Integer and/add/or in blocks, so the
// compiler vectorizes the inner loop with any ISA and the check stops early per block.
bool run_finite(const float* p, int64_t n) {
  constexpr int64_t kBlock = 512;
  constexpr uint32_t kExp = 0x7f800000u, kOne = 0x00800000u, kSign = 0x80000000u;
  for (int64_t i = 0; i < n; i += kBlock) {
    const int64_t len = std::min(kBlock, n - i);
    uint32_t acc = 0;
    for (int64_t j = 0; j < len; ++j) {
      uint32_t u;
      std::memcpy(&u, p + i + j, sizeof u);
      acc |= (u & kExp) + kOne;
    }
    if (acc & kSign) return false;
  }
  return true;
}

// Whether the elements fill [base, base + numel) in some order of the dims (contiguous,
// channels-last, any permutation of a contiguous tensor).
bool dense(const Tensor& t) {
  std::vector<std::pair<int64_t, int64_t>> dims;  // (stride, size) of dims longer than 1
  for (int64_t d = 0; d < t.dim(); ++d)
    if (t.size(d) > 1) dims.emplace_back(t.stride(d), t.size(d));
  std::sort(dims.begin(), dims.end());
  int64_t expect = 1;
  for (const auto& [stride, size] : dims) {
    if (stride != expect) return false;
    expect *= size;
  }
  return true;
}

}  // namespace

bool all_finite(const Tensor& t) {
  CONVKIT_CHECK(t.dtype() == kFloat32, "all_finite: expected a float32 tensor, got ", dtype_name(t.dtype()));
  const int64_t n = t.numel();
  if (n == 0) return true;
  const auto* base = static_cast<const float*>(t.const_data_ptr());
  if (dense(t)) return run_finite(base, n);
  // Any other strides: the last dim as runs of one element (strides are never negative).
  const int64_t last = t.dim() - 1, len = t.size(last), step = t.stride(last);
  std::vector<int64_t> idx(static_cast<std::size_t>(last), 0);
  for (int64_t row = 0; row < n / len; ++row) {
    int64_t off = 0;
    for (int64_t d = 0; d < last; ++d) off += idx[static_cast<std::size_t>(d)] * t.stride(d);
    for (int64_t i = 0; i < len; ++i)
      if (!run_finite(base + off + i * step, 1)) return false;
    for (int64_t d = last - 1; d >= 0 && ++idx[static_cast<std::size_t>(d)] == t.size(d); --d)
      idx[static_cast<std::size_t>(d)] = 0;
  }
  return true;
}

}  // namespace convkit::internal
