// Winograd F(4x4, 3x3) and F(4, 3) transforms for the fma3 build: the shared code of
// winograd_common.h, compiled with this file's flags.
#include "kernels/winograd/winograd.h"
#include "kernels/winograd/winograd_common.h"

namespace convkit::kernels {

void winograd_f43_input_fma3(const WinogradSrc* runs, int64_t nruns, float* v, int64_t vstride) {
  for (int64_t r = 0, base = 0; r < nruns; base += runs[r].n, ++r)
    winograd_common::input_f43(runs[r].p, runs[r].ld, v + base, vstride, runs[r].n);
}

void winograd_f43_output_fma3(const float* m, int64_t mstride, const WinogradDst* runs, int64_t nruns, float bias) {
  for (int64_t r = 0, base = 0; r < nruns; base += runs[r].n, ++r)
    winograd_common::output_f43(m + base, mstride, runs[r].p, runs[r].ld, runs[r].n, bias);
}

void winograd_f43_weight_fma3(const float* g, int64_t n, float* u, int64_t ldu) {
  winograd_common::weight_f43(g, n, u, ldu);
}

void winograd_f4_input_1d_fma3(const float* x, int64_t xs, int64_t L, int64_t pos, int64_t d, int64_t n, float* v,
                              int64_t vstride) {
  winograd_common::input_f4_1d(x, xs, L, pos, d, n, v, vstride);
}

void winograd_f4_output_1d_fma3(const float* m, int64_t mstride, float* y, int64_t Lo, int64_t pos, int64_t d,
                               int64_t n, float bias) {
  winograd_common::output_f4_1d(m, mstride, y, Lo, pos, d, n, bias);
}

void winograd_f4_weight_1d_fma3(const float* g, int64_t n, float* u, int64_t ldu) {
  winograd_common::weight_f4_1d(g, n, u, ldu);
}

}  // namespace convkit::kernels
