// Kernel family "blas1": the vector operations of the direct (depthwise) gradient paths,
// which work along one row of a channel at a time.
//
// Contract of blas1_f32_dot_<isa>(a, lda, b, ldb, sb, n, rows):
//   returns the sum over r < rows and i < n of a[r * lda + i] * b[r * ldb + i * sb] (sb >= 1),
//   summed in an order fixed by the ISA, n and rows alone (lane-wise partial sums across all
//   rows, then the lanes in a fixed tree), so the same arguments give the same bits on every
//   call. Reads only those elements.
// Contract of blas1_f32_dot_taps_<isa>(a, lda, b, ldb, off, taps, n, rows, out, sum_a):
//   out[t] = the sum over r < rows and i < n of a[r * lda + i] * b[r * ldb + off[t] + i], for
//   t < taps (1 <= taps <= kDotTapsMax): several dot products sharing a, each loaded once for
//   all taps (a weight gradient's taps over one padded input). Per tap lane-wise partial sums
//   across all rows, then the lanes in a fixed tree: an order fixed by the ISA, n and rows.
//   With sum_a, also out[taps] = the sum of those elements of a, in an order fixed by the ISA,
//   n and rows (a bias gradient, from the same loads).
// Contract of blas1_f32_taps_sum_<isa>(rows, w, taps, n, init, out):
//   out[i] = init + w[0] rows[0][i] + w[1] rows[1][i] + ... (in increasing t, one rounding per
//   term, as fmaf) for i < n: an output row from the rows its taps read (an input gradient's
//   row from dY rows). Reads rows[t][0 .. n-1], writes out[0 .. n-1] only; taps may be 0.
// Contract of blas1_f32_dot_taps3x3_<isa>(a, lda, b, ldb, off, n, rows, out, sum_a): dot_taps
//   for 9 taps on a 3 x 3 grid whose kernel rows are one b row apart, tap (kh, kw) at offset
//   off[kw] + kh ldb (a stride-1 3 x 3 layer): rows r and r + 1 share the b rows both read, 12
//   loads instead of 18 for two rows. out[kh 3 + kw]; its own fixed order.
// Contract of blas1_f32_axpy_<isa>(alpha, x, n, y, sy):
//   y[i * sy] += alpha * x[i] for i < n (sy >= 1), each element once, in increasing i.
//   Writes only those elements.
// No alignment requirement, no allocation, no threads.
#pragma once

#include <cstdint>

#include "cpu/isa.h"

namespace convkit::kernels {

using DotF32Fn = float (*)(const float* a, int64_t lda, const float* b, int64_t ldb, int64_t sb, int64_t n,
                           int64_t rows);
using DotTapsF32Fn = void (*)(const float* a, int64_t lda, const float* b, int64_t ldb, const int64_t* off,
                             int64_t taps, int64_t n, int64_t rows, float* out, bool sum_a);
using AxpyF32Fn = void (*)(float alpha, const float* x, int64_t n, float* y, int64_t sy);
using DotTaps3x3F32Fn = void (*)(const float* a, int64_t lda, const float* b, int64_t ldb, const int64_t* off,
                                 int64_t n, int64_t rows, float* out, bool sum_a);
using TapsSumF32Fn = void (*)(const float* const* rows, const float* w, int64_t taps, int64_t n, float init, float* out);

/// The most taps one dot_taps call takes (its accumulators stay in registers).
inline constexpr int64_t kDotTapsMax = 12;

struct Blas1Kernel {
  const char* name;
  internal::Isa isa;
  DotF32Fn dot;
  DotTapsF32Fn dot_taps;
  DotTaps3x3F32Fn dot_taps3x3;
  AxpyF32Fn axpy;
  TapsSumF32Fn taps_sum;
};

#define CONVKIT_BLAS1_KERNEL(isa, name)                                   \
  float name##_dot(const float* a, int64_t lda, const float* b, int64_t ldb, int64_t sb, int64_t n, int64_t rows); \
  void name##_dot_taps(const float* a, int64_t lda, const float* b, int64_t ldb, const int64_t* off, int64_t taps, \
                       int64_t n, int64_t rows, float* out, bool sum_a);                                            \
  void name##_dot_taps3x3(const float* a, int64_t lda, const float* b, int64_t ldb, const int64_t* off, int64_t n, \
                          int64_t rows, float* out, bool sum_a);                                                   \
  void name##_axpy(float alpha, const float* x, int64_t n, float* y, int64_t sy);                            \
  void name##_taps_sum(const float* const* rows, const float* w, int64_t taps, int64_t n, float init, float* out);
#include "kernels/blas1/kernels.inc"
#undef CONVKIT_BLAS1_KERNEL

const Blas1Kernel* blas1_kernel_list(int* count);
const Blas1Kernel& blas1_kernel(internal::Isa cap);

}  // namespace convkit::kernels
