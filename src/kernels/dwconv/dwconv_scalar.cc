// Portable direct-convolution row kernel.
#include "kernels/dwconv/dwconv.h"

namespace convkit::kernels {

namespace {
template <typename T>
void rows(const DwRows<T>& a) {
  for (int64_t m = 0; m < a.mo; ++m)
    for (int64_t j = 0; j < a.orows; ++j)
      for (int64_t o = 0; o < a.wo; ++o) {
        T acc = 0;
        for (int64_t t = 0; t < a.ntaps; ++t) acc += a.w[m * a.ntaps + t] * a.taps[t][j * a.row_step + o];
        a.y[m * a.ys_c + j * a.ys_r + o] = acc + (a.bias ? a.bias[m] : T{0});
      }
}
}  // namespace

void dwconv_f32_rows_scalar(const DwRowsArgs& a) { rows(a); }
void dwconv_f64_rows_scalar(const DwRowsF64Args& a) { rows(a); }

}  // namespace convkit::kernels
