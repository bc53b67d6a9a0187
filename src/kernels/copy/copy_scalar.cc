// Portable strided copy.
#include <cstring>

#include "kernels/copy/copy.h"

namespace convkit::kernels {

void copy_f32_strided_scalar(const float* src, int64_t stride, int64_t n, float* dst) {
  if (stride == 1) {
    std::memcpy(dst, src, static_cast<std::size_t>(n) * sizeof(float));
    return;
  }
  for (int64_t t = 0; t < n; ++t) dst[t] = src[t * stride];
}

void copy_f32_strided_scalar_rows(const float* src, int64_t stride, int64_t n, int64_t rows, int64_t src_rs, float* dst,
                                  int64_t dst_rs) {
  for (int64_t r = 0; r < rows; ++r) copy_f32_strided_scalar(src + r * src_rs, stride, n, dst + r * dst_rs);
}

void copy_f32_strided_scalar_scatter(const float* src, int64_t n, float* dst, int64_t stride) {
  for (int64_t t = 0; t < n; ++t) dst[t * stride] = src[t];
}

void copy_f32_strided_scalar_interleave(const float* a, int64_t na, const float* b, int64_t nb, float* dst) {
  for (int64_t t = 0; t < nb; ++t) {
    dst[2 * t] = a[t];
    dst[2 * t + 1] = b[t];
  }
  if (na > nb) dst[2 * nb] = a[nb];
}

void copy_f32_strided_scalar_windows(const float* const* rows, int64_t nrows, int64_t iw0, int64_t st, int64_t S,
                                     int64_t run, float* dst) {
  windows_by_rows(rows, nrows, iw0, st, S, run, dst,
                  [](const float* s, int64_t k, int64_t n, float* d) { copy_f32_strided_scalar(s, k, n, d); });
}

}  // namespace convkit::kernels
