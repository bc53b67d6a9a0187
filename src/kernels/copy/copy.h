// Kernel family "copy": strided gathers for the packing steps (im2col of strided convolutions).
//
// Contract of copy_f32_strided_<isa>(src, stride, n, dst):
//   dst[t] = src[t * stride] for t < n (stride >= 1). Reads only src[0 .. (n-1) * stride]
//   (edge vectors are masked), writes only dst[0 .. n-1]. No alignment requirement.
//
// copy_f32_strided_<isa>_rows(src, stride, n, rows, src_rs, dst, dst_rs): the same for rows
// r < rows, dst[r * dst_rs + t] = src[r * src_rs + t * stride] (padded input rows filled in
// one call: per-row calls cost more than a short row's copy).
//
// copy_f32_strided_<isa>_scatter(src, n, dst, stride): the reverse, dst[t * stride] = src[t]
// for t < n; writes only those elements of dst (a phase's row into every stride-th element).
//
// copy_f32_strided_<isa>_interleave(a, na, b, nb, dst): dst[2t] = a[t] for t < na and
// dst[2t + 1] = b[t] for t < nb, with nb <= na <= nb + 1; writes only dst[0 .. na + nb - 1]
// (two column phases of a row written together, whole vectors instead of every other element).
#pragma once

#include <cstdint>

#include "cpu/isa.h"

namespace convkit::kernels {

using CopyStridedF32Fn = void (*)(const float* src, int64_t stride, int64_t n, float* dst);

using CopyRowsF32Fn = void (*)(const float* src, int64_t stride, int64_t n, int64_t rows, int64_t src_rs, float* dst,
                               int64_t dst_rs);

using CopyScatterF32Fn = void (*)(const float* src, int64_t n, float* dst, int64_t stride);

using CopyInterleaveF32Fn = void (*)(const float* a, int64_t na, const float* b, int64_t nb, float* dst);

struct CopyKernel {
  const char* name;
  internal::Isa isa;
  CopyStridedF32Fn fn;
  CopyRowsF32Fn rows;
  CopyScatterF32Fn scatter;
  CopyInterleaveF32Fn interleave;
};

#define CONVKIT_COPY_KERNEL(isa, name)                                                                      \
  void name(const float* src, int64_t stride, int64_t n, float* dst);                                        \
  void name##_rows(const float* src, int64_t stride, int64_t n, int64_t rows, int64_t src_rs, float* dst,    \
                   int64_t dst_rs);                                                                          \
  void name##_scatter(const float* src, int64_t n, float* dst, int64_t stride);                              \
  void name##_interleave(const float* a, int64_t na, const float* b, int64_t nb, float* dst);
#include "kernels/copy/kernels.inc"
#undef CONVKIT_COPY_KERNEL

const CopyKernel* copy_kernel_list(int* count);
const CopyKernel& copy_kernel(internal::Isa cap);

}  // namespace convkit::kernels
