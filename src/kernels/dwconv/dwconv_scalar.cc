// Portable direct-convolution row kernel.
#include "kernels/dwconv/dwconv.h"
#include "kernels/dwconv/nhwc_row.h"

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

// The rows kernel's sums (each term added unfused, padding's as w * 0) read in place.
void dwconv_f32_window3x3_scalar(const DwWindow3x3& a) {
  for (int64_t oh = a.oh0; oh < a.oh1; ++oh)
    for (int64_t ow = 0; ow < a.wo; ++ow) {
      float acc = 0;
      for (int64_t t = 0; t < 9; ++t) {
        const int64_t i = oh * a.sh + t / 3 - a.ph, j = ow * a.sw + t % 3 - a.pw;
        acc += a.w9[t] * (i >= 0 && i < a.h && j >= 0 && j < a.w ? a.x[i * a.xs + j] : 0.0f);
      }
      a.y[(oh - a.oh0) * a.wo + ow] = acc + a.bias;
    }
}
void dwconv_f64_rows_scalar(const DwRowsF64Args& a) { rows(a); }

namespace {
// One lane: each product added unfused, as the rows kernel does.
struct ScalarLanes {
  using V = float;
  static constexpr int L = 1;
  static V zero() { return 0.0f; }
  static V load(const float* p) { return *p; }
  static V load_n(const float* p, int64_t) { return *p; }
  static void store(float* p, V v) { *p = v; }
  static void store_n(float* p, V v, int64_t) { *p = v; }
  static V fmadd(V a, V b, V c) { return c + a * b; }
  static V add(V a, V b) { return a + b; }
};
}  // namespace

void dwconv_f32_nhwc_row_scalar(const DwNhwcRow& a) { nhwc_row<ScalarLanes, 4>(a); }

}  // namespace convkit::kernels
