#include "core/finite.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
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

constexpr int64_t kPiece = int64_t{1} << 16;

// Whether none of the n elements of p fails ok, in pieces over the threads (a thread per two
// pieces at least), no early exit inside a piece.
template <typename T, typename Ok>
bool all_of(const T* p, int64_t n, Ok ok) {
  const int64_t pieces = (n + kPiece - 1) / kPiece;
  const int threads = static_cast<int>(std::clamp<int64_t>(std::min<int64_t>(get_num_threads(), pieces / 2), 1, pieces));
  bool all = true;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(&& : all) if (threads > 1)
  for (int64_t i = 0; i < pieces; ++i) {
    bool piece = true;
    for (int64_t j = i * kPiece; j < std::min(n, (i + 1) * kPiece); ++j) piece &= ok(p[j]);
    all = all && piece;
  }
  return all;
}

// The dtypes other than float32, from a contiguous copy when t is strided.
bool all_finite_other(const Tensor& t) {
  const Tensor c = t.contiguous();
  const int64_t n = c.numel();
  const void* d = c.const_data_ptr();
  switch (c.dtype()) {
    case DType::Complex64:  // its real and imaginary parts, as float32
      return all_finite(Tensor::from_blob(const_cast<void*>(d), {2 * n}, kFloat32));
    case DType::Float64:
    case DType::Complex128:
      return all_of(static_cast<const double*>(d), c.dtype() == DType::Float64 ? n : 2 * n,
                    [](double v) { return std::isfinite(v); });
    case DType::Float16:  // (an exponent of all ones: inf or NaN)
      return all_of(static_cast<const uint16_t*>(d), n, [](uint16_t v) { return (v & 0x7c00u) != 0x7c00u; });
    default:  // bfloat16
      return all_of(static_cast<const uint16_t*>(d), n, [](uint16_t v) { return (v & 0x7f80u) != 0x7f80u; });
  }
}

}  // namespace

bool all_finite(const Tensor& t) {
  if (!t.defined()) return true;
  if (t.dtype() != kFloat32) return all_finite_other(t);
  const int64_t n = t.numel();
  if (n == 0) return true;
  const auto* base = static_cast<const float*>(t.const_data_ptr());
  const auto& scan = kernels::scan_kernel(max_isa());
  if (dense(t)) {
    // In pieces over the threads for large tensors (a gradient checked before a weight
    // gradient: a serial scan left the other thread waiting).
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
