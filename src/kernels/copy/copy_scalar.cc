// Portable strided copy.
#include "kernels/copy/copy.h"

namespace convkit::kernels {

void copy_f32_strided_scalar(const float* src, int64_t stride, int64_t n, float* dst) {
  for (int64_t t = 0; t < n; ++t) dst[t] = src[t * stride];
}

}  // namespace convkit::kernels
