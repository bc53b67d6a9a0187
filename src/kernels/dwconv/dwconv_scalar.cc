// Portable direct-convolution row kernel.
#include "kernels/dwconv/dwconv.h"

namespace convkit::kernels {

void dwconv_f32_rows_scalar(const DwRowsArgs& a) {
  for (int64_t m = 0; m < a.mo; ++m)
    for (int64_t j = 0; j < a.orows; ++j)
      for (int64_t o = 0; o < a.wo; ++o) {
        float acc = 0.0f;
        for (int64_t t = 0; t < a.ntaps; ++t) acc += a.w[m * a.ntaps + t] * a.taps[t][j * a.row_step + o];
        a.y[m * a.ys_c + j * a.ys_r + o] = acc + (a.bias ? a.bias[m] : 0.0f);
      }
}

}  // namespace convkit::kernels
