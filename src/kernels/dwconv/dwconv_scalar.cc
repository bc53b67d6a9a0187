// Portable depthwise row kernel.
#include "kernels/dwconv/dwconv.h"

namespace convkit::kernels {

void dwconv_f32_row_scalar(const float* const* taps, const float* w, int64_t ntaps, float* y, int64_t wo,
                           int64_t stride, float bias) {
  for (int64_t o = 0; o < wo; ++o) {
    float acc = 0.0f;
    for (int64_t t = 0; t < ntaps; ++t) acc += w[t] * taps[t][o * stride];
    y[o] = bias + acc;
  }
}

}  // namespace convkit::kernels
