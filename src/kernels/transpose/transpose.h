// Kernel family "transpose": the transposing packs of the gradient GEMMs, whose reduction runs
// over positions — the contiguous dim of NCHW tensors — while the microkernel reads its
// operands reduction-major.
//
// Contract of transpose_f32_<isa>(src, ss, rows, len, dst, ld):
//   dst[k * ld + i] = src[i][k * ss] for i < rows and k < len (rows <= 16, len >= 0, ss >= 1:
//   the source stride, a strided convolution's windows). Reads only src[i][k * ss] for those k
//   (with ss = 2 also the odd elements in between), writes only those dst elements (other
//   columns of a dst row are left alone). No alignment requirement. No allocation, no threads.
#pragma once

#include <cstdint>

#include "cpu/isa.h"

namespace convkit::kernels {

using TransposeF32Fn = void (*)(const float* const* src, int64_t ss, int64_t rows, int64_t len, float* dst,
                                int64_t ld);

struct TransposeKernel {
  const char* name;
  internal::Isa isa;
  TransposeF32Fn fn;
};

inline constexpr int64_t kTransposeMaxRows = 16;

#define CONVKIT_TRANSPOSE_KERNEL(isa, name) \
  void name(const float* const* src, int64_t ss, int64_t rows, int64_t len, float* dst, int64_t ld);
#include "kernels/transpose/kernels.inc"
#undef CONVKIT_TRANSPOSE_KERNEL

const TransposeKernel* transpose_kernel_list(int* count);
const TransposeKernel& transpose_kernel(internal::Isa cap);

}  // namespace convkit::kernels
