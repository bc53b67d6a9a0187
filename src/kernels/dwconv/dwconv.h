// Kernel family "dwconv": direct convolution of few-channel groups (depthwise: one input
// channel per output channel), float32 and float64, output rows from tap pointers into padded
// input rows.
//
// Contract of dwconv_f32_rows_<isa>(const DwRowsArgs& a), and of dwconv_f64_rows_<isa>(const
// DwRowsF64Args& a) the same in double: `orows` output rows of `mo` output channels that read
// the same taps:
//   y[m * ys_c + j * ys_r + o] = (sum over t < ntaps, in that order, of
//                                 w[m * ntaps + t] * taps[t][j * row_step + o]) + bias[m]
//   for m < mo, j < orows, o < wo (bias null: 0). taps[t] points at the input value tap t
//   contributes to output (row 0, column 0); consecutive outputs read consecutive elements (the
//   caller lays strided rows out in phases and materializes every padding mode). Each tap stays
//   readable up to index j * row_step + wo - 1 + kDwRowSlack: vector loads may run into the
//   slack, never using it. No alignment requirement, no allocation, no threads.
#pragma once

#include <cstdint>

#include "cpu/isa.h"

namespace convkit::kernels {

inline constexpr int64_t kDwRowSlack = 64;

template <typename T>
struct DwRows {
  const T* const* taps;
  int64_t ntaps;
  const T* w;
  const T* bias;
  T* y;
  int64_t ys_c, ys_r, wo, mo, orows, row_step;
};
using DwRowsArgs = DwRows<float>;
using DwRowsF64Args = DwRows<double>;

using DwconvRowsF32Fn = void (*)(const DwRowsArgs& a);
using DwconvRowsF64Fn = void (*)(const DwRowsF64Args& a);

struct DwconvKernel {
  const char* name;
  internal::Isa isa;
  DwconvRowsF32Fn fn;
  DwconvRowsF64Fn fn64;
};

#define CONVKIT_DWCONV_KERNEL(isa, name, name64) \
  void name(const DwRowsArgs& a);                 \
  void name64(const DwRowsF64Args& a);
#include "kernels/dwconv/kernels.inc"
#undef CONVKIT_DWCONV_KERNEL

const DwconvKernel* dwconv_kernel_list(int* count);
const DwconvKernel& dwconv_kernel(internal::Isa cap);

}  // namespace convkit::kernels
