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
//
// copy_f32_strided_<isa>_windows(rows, nrows, iw0, st, S, run, dst): im2col's runs, one per
// input row: for r < nrows and t < run, dst[r * run + t] = rows[r][iw0 + t * st] where
// rows[r] is not null and 0 <= iw0 + t * st < S, else 0 (zeros padding, or a padding row).
// st >= 1. Reads only those elements of rows (with st = 2 also the odd elements in between);
// writes only dst[0 .. nrows * run - 1] (short
// runs of many rows in one call: a call per run of 8 had cost 5 cycles per element).
#pragma once

#include <cstdint>

#include "cpu/isa.h"

namespace convkit::kernels {

using CopyStridedF32Fn = void (*)(const float* src, int64_t stride, int64_t n, float* dst);

using CopyRowsF32Fn = void (*)(const float* src, int64_t stride, int64_t n, int64_t rows, int64_t src_rs, float* dst,
                               int64_t dst_rs);

using CopyScatterF32Fn = void (*)(const float* src, int64_t n, float* dst, int64_t stride);

using CopyInterleaveF32Fn = void (*)(const float* a, int64_t na, const float* b, int64_t nb, float* dst);

using CopyWindowsF32Fn = void (*)(const float* const* rows, int64_t nrows, int64_t iw0, int64_t st, int64_t S,
                                  int64_t run, float* dst);

/// The runs [a, z) of t whose column iw0 + t st is inside [0, S), of t < run. (The ceiling
/// divisions are written so that a stride near 2^63 cannot overflow.)
inline void window_inside(int64_t iw0, int64_t st, int64_t S, int64_t run, int64_t& a, int64_t& z) {
  a = iw0 >= 0 ? 0 : (-iw0 - 1) / st + 1;
  a = a < run ? a : run;
  z = S > iw0 ? (S - iw0 - 1) / st + 1 : 0;
  z = z < a ? a : z > run ? run : z;
}

/// The windows contract row by row: zeros around each in-range run, which copy(src, st, n,
/// dst) (an ISA's strided copy) fills.
template <typename Copy>
void windows_by_rows(const float* const* rows, int64_t nrows, int64_t iw0, int64_t st, int64_t S, int64_t run,
                     float* dst, Copy copy) {
  int64_t a = 0, z = 0;
  window_inside(iw0, st, S, run, a, z);
  for (int64_t r = 0; r < nrows; ++r) {
    float* out = dst + r * run;
    const bool row = rows[r] != nullptr;  // (else a padding row: all zeros)
    for (int64_t t = 0; t < (row ? a : run); ++t) out[t] = 0.0f;
    if (row && z > a) copy(rows[r] + iw0 + a * st, st, z - a, out + a);
    for (int64_t t = row ? z : run; t < run; ++t) out[t] = 0.0f;
  }
}

struct CopyKernel {
  const char* name;
  internal::Isa isa;
  CopyStridedF32Fn fn;
  CopyRowsF32Fn rows;
  CopyScatterF32Fn scatter;
  CopyInterleaveF32Fn interleave;
  CopyWindowsF32Fn windows;
};

#define CONVKIT_COPY_KERNEL(isa, name)                                                                      \
  void name(const float* src, int64_t stride, int64_t n, float* dst);                                        \
  void name##_rows(const float* src, int64_t stride, int64_t n, int64_t rows, int64_t src_rs, float* dst,    \
                   int64_t dst_rs);                                                                          \
  void name##_scatter(const float* src, int64_t n, float* dst, int64_t stride);                              \
  void name##_interleave(const float* a, int64_t na, const float* b, int64_t nb, float* dst);                \
  void name##_windows(const float* const* rows, int64_t nrows, int64_t iw0, int64_t st, int64_t S, int64_t run, \
                      float* dst);
#include "kernels/copy/kernels.inc"
#undef CONVKIT_COPY_KERNEL

const CopyKernel* copy_kernel_list(int* count);
const CopyKernel& copy_kernel(internal::Isa cap);

}  // namespace convkit::kernels
