// Portable depthwise row kernel.
#include "kernels/dwconv/dwconv.h"

namespace convkit::kernels {

namespace {

// One output row; tap t reads at taps[t] + off (off = the row's offset from row 0).
inline void row(const float* const* taps, int64_t off, const float* w, int64_t ntaps, float* y, int64_t wo,
                int64_t stride, float bias) {
  for (int64_t o = 0; o < wo; ++o) {
    float acc = 0.0f;
    for (int64_t t = 0; t < ntaps; ++t) acc += w[t] * taps[t][off + o * stride];
    y[o] = bias + acc;
  }
}

}  // namespace

void dwconv_f32_row_scalar(const float* const* taps, const float* w, int64_t ntaps, float* y, int64_t wo, int64_t stride,
                           float bias, int64_t rows, int64_t row_step) {
  for (int64_t r = 0; r < rows; ++r) row(taps, r * row_step, w, ntaps, y + r * wo, wo, stride, bias);
}

}  // namespace convkit::kernels
