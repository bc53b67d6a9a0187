// Plain C++ transposing pack: row by row, each src row written down one dst column.
#include "kernels/transpose/transpose.h"

namespace convkit::kernels {

void transpose_f32_scalar(const float* const* src, int64_t ss, int64_t rows, int64_t len, float* dst, int64_t ld) {
  for (int64_t i = 0; i < rows; ++i) {
    const float* s = src[i];
    for (int64_t k = 0; k < len; ++k) dst[k * ld + i] = s[k * ss];
  }
}

}  // namespace convkit::kernels
