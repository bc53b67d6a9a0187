#include "core/finite.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "convkit/error.h"
#include "convkit/threads.h"
#include "kernels/scan/scan.h"

namespace convkit::internal {
namespace {

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
  const auto& scan = kernels::scan_kernel(max_isa());
  if (dense(t)) {
    // In pieces over the threads for large tensors (a gradient checked before a weight
    // gradient: a serial scan left the other thread waiting).
    constexpr int64_t kPiece = int64_t{1} << 16;
    const int64_t pieces = (n + kPiece - 1) / kPiece;  // a thread per two pieces at least
    const int threads = static_cast<int>(std::clamp<int64_t>(std::min<int64_t>(get_num_threads(), pieces / 2), 1, pieces));
    bool finite = true;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(&& : finite) if (threads > 1)
    for (int64_t i = 0; i < pieces; ++i) finite = finite && scan.finite_rows(base + i * kPiece, 0, 1, std::min(kPiece, n - i * kPiece));
    return finite;
  }
  // Any other strides: rows along the last dim (strides are never negative).
  const int64_t last = t.dim() - 1, len = t.size(last), step = t.stride(last);
  std::vector<int64_t> idx(static_cast<std::size_t>(last), 0);
  for (int64_t row = 0; row < n / len; ++row) {
    int64_t off = 0;
    for (int64_t d = 0; d < last; ++d) off += idx[static_cast<std::size_t>(d)] * t.stride(d);
    if (!(step == 1 ? scan.finite_rows(base + off, 0, 1, len) : scan.finite_rows(base + off, step, len, 1)))
      return false;
    for (int64_t d = last - 1; d >= 0 && ++idx[static_cast<std::size_t>(d)] == t.size(d); --d)
      idx[static_cast<std::size_t>(d)] = 0;
  }
  return true;
}

}  // namespace convkit::internal
