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
//
// Contract of dwconv_f32_window3x3_<isa>(const DwWindow3x3& a): one output channel of a 3 x 3
// layer read straight from its unpadded input plane (zeros padding), output rows [oh0, oh1):
//   y[(oh - oh0) * wo + ow] = (sum over t = kh 3 + kw < 9, in that order, of
//                              w9[t] * X(oh sh + kh - ph, ow sw + kw - pw)) + bias
//   with X(i, j) = x[i * xs + j] inside [0, h) x [0, w) and 0 outside. The padding's terms are
//   added too (as w9[t] * 0), so the bits are the rows kernel's of the same ISA over a
//   zero-padded copy. sw is 1 or 2, pw 0 or 1, ph >= 0, sh >= 1. Reads only the plane's
//   elements. Null in an ISA's table where it has none (the caller copies padded rows).
//
// Contract of dwconv_f32_nhwc_row_<isa>(const DwNhwcRow& a): one output row of a depthwise
// layer (multiplier 1) on channels-last data, channels contiguous in input, weight and output:
//   y[ow * ys + c] = (sum over kh < a.kh with rows[kh] set, kw < a.kw with 0 <= iw < W, in that
//                     order, of w[(kh * a.kw + kw) * C + c] * rows[kh][iw * xs + c]) + bias[c]
//   with iw = ow * sw + kw * dw - pw, for ow < wo, c < C (bias null: 0). rows[kh] null is a
//   row of zero padding; taps in the padding are skipped (not added as w * 0). Reads only
//   those elements; no alignment requirement, no allocation, no threads.
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

/// dwconv_f32_window3x3's layer: the input plane x [h][xs] (w columns used), the 9 weights,
/// the bias, the output rows [oh0, oh1) of wo columns from y on, the strides and paddings.
struct DwWindow3x3 {
  const float* x;
  int64_t h, w, xs;
  const float* w9;
  float bias;
  float* y;
  int64_t wo, oh0, oh1, sh, sw, ph, pw;
};

/// dwconv_f32_nhwc_row's output row and the input rows its taps read.
struct DwNhwcRow {
  const float* const* rows;  // per kernel row: input row (column 0, channel 0), or null
  int64_t kh, kw;            // kernel rows and columns
  const float* w;            // [kh][kw][C]
  const float* bias;         // [C] or null
  int64_t C, W, xs;          // channels, input columns, floats between input columns
  int64_t wo, sw, dw, pw;    // output columns, column stride, dilation, padding before
  float* y;                  // output column 0, channel 0
  int64_t ys;                // floats between output columns
};

using DwconvRowsF32Fn = void (*)(const DwRowsArgs& a);
using DwconvNhwcRowFn = void (*)(const DwNhwcRow& a);
using DwconvWindow3x3F32Fn = void (*)(const DwWindow3x3& a);
using DwconvRowsF64Fn = void (*)(const DwRowsF64Args& a);

struct DwconvKernel {
  const char* name;
  internal::Isa isa;
  DwconvRowsF32Fn fn;
  DwconvRowsF64Fn fn64;
  DwconvWindow3x3F32Fn window3x3;  // may be null
  DwconvNhwcRowFn nhwc_row;
};

#define CONVKIT_DWCONV_KERNEL(isa, name, name64, window, nhwc) \
  void name(const DwRowsArgs& a);                               \
  void name64(const DwRowsF64Args& a);                          \
  void nhwc(const DwNhwcRow& a);
#include "kernels/dwconv/kernels.inc"
#undef CONVKIT_DWCONV_KERNEL
void dwconv_f32_window3x3_scalar(const DwWindow3x3& a);
#if CONVKIT_X86
void dwconv_f32_window3x3_avx512(const DwWindow3x3& a);
#endif

const DwconvKernel* dwconv_kernel_list(int* count);
const DwconvKernel& dwconv_kernel(internal::Isa cap);

}  // namespace convkit::kernels
