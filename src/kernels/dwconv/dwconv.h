// Kernel family "dwconv": one output row of a depthwise (one input channel per output
// channel) convolution, float32.
//
// Contract of dwconv_f32_row_<isa>(taps, w, ntaps, y, wo, stride, bias, rows, row_step):
//   y[r * wo + o] = bias + (sum over t = 0..ntaps-1, in that order, of
//                           w[t] * taps[t][r * row_step + o * stride])   for r < rows, o < wo.
//   taps[t] points at the input value tap t contributes to output (0, 0); the caller
//   materializes the padding, so every such read is valid, and leaves 64 readable floats after
//   each tap's last one (vector loads may touch, never use, them).
//   No alignment requirement, no allocation, no threads.
#pragma once

#include <cstdint>

#include "cpu/isa.h"

namespace convkit::kernels {

using DwconvRowF32Fn = void (*)(const float* const* taps, const float* w, int64_t ntaps, float* y, int64_t wo,
                                int64_t stride, float bias, int64_t rows, int64_t row_step);

struct DwconvKernel {
  const char* name;
  internal::Isa isa;
  DwconvRowF32Fn fn;
};

#define CONVKIT_DWCONV_KERNEL(isa, name) \
  void name(const float* const* taps, const float* w, int64_t ntaps, float* y, int64_t wo, int64_t stride, float bias, \
            int64_t rows, int64_t row_step);
#include "kernels/dwconv/kernels.inc"
#undef CONVKIT_DWCONV_KERNEL

const DwconvKernel* dwconv_kernel_list(int* count);
const DwconvKernel& dwconv_kernel(internal::Isa cap);

}  // namespace convkit::kernels
