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
// Contract of blas1_f32_dot_window3x3_<isa>(const Window3x3& w, out, sum_a): the 3 x 3 weight
//   gradient of one channel pair read straight from the unpadded input plane (zeros padding),
//   no padded copy: for kh, kw < 3,
//     out[kh 3 + kw] = the sum over oh < ho, ow < wo of
//                      a[oh * wo + ow] * X(oh * sh + kh - ph, ow * sw + kw - pw)
//   where X(i, j) = x[i * w + j] inside [0, h) x [0, w) and 0 outside. sw is 1 or 2, pw 0 or 1,
//   ph >= 0, sh >= 1. With sum_a, also out[9] = the sum of a. Lane-wise partial sums, then the
//   lanes in a fixed tree: an order fixed by the ISA and the arguments. Reads only those
//   elements (a term whose a lane is past wo is not added, so an inf in x there adds no NaN).
//   Null in an ISA's table where it has none (the caller keeps the padded copy).
// Contract of blas1_f32_input_window3x3_<isa>(const InputWindow3x3& g): the input gradient of
//   one channel of a 3 x 3 layer with column stride 2 (or the transposed layer's output),
//   written row by row, each element once: for i in [i0, i1), j < w,
//     dx[(i - i0) * w + j] = init + the terms wt[kh 3 + kw] * dy[oh * wo + ow] over the taps
//                            with i + ph - kh = oh sh, j + pw - kw = 2 ow, 0 <= oh < ho,
//                            0 <= ow < wo, in increasing kh 3 + kw, one rounding each (fmaf).
//   sh >= 1, pw 0 or 1, ph >= 0. Null in an ISA's table where it has none.
// Contract of blas1_f32_axpy_<isa>(alpha, x, n, y, sy):
//   y[i * sy] += alpha * x[i] for i < n (sy >= 1), each element once, in increasing i.
//   Writes only those elements.
// Contract of blas1_f32_add_taps_<isa>(c, ldc, off, taps, n, st, y, lo, hi):
//   y[off[t] + j st] += c[t ldc + j] for t < taps, j < n where lo <= off[t] + j st < hi
//   (st >= 1): the C rows of a col2im that share one input row (a 2-d layer's kernel row)
//   added in one pass. Each element takes its terms in increasing t, one rounding each: the
//   bits of one axpy(1, ...) per row in row order. Reads c elements only among each row's
//   first n; reads and rewrites y elements only within [lo, hi) and within the rows' reach,
//   [min off[t], max off[t] + (n - 1) st].
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

/// dot_window3x3's plane: x [h][w], a [ho][wo], the strides and the padding before each dim.
struct Window3x3 {
  const float* a;
  const float* x;
  int64_t h, w, ho, wo, sh, sw, ph, pw;
};
using DotWindow3x3F32Fn = void (*)(const Window3x3& p, float* out, bool sum_a);

/// input_window3x3's channel: dy [ho][wo], the 9 weights, dx rows [i0, i1) of w columns from dx
/// on, the row stride, the padding before each dim and the value every element starts from.
struct InputWindow3x3 {
  const float* dy;
  const float* wt;
  float* dx;
  int64_t h, w, ho, wo, i0, i1, sh, ph, pw;
  float init;
};
using InputWindow3x3F32Fn = void (*)(const InputWindow3x3& g);

using AddTapsF32Fn = void (*)(const float* c, int64_t ldc, const int64_t* off, int64_t taps, int64_t n, int64_t st,
                             float* y, int64_t lo, int64_t hi);

/// Of the terms j < n of a row at offset off, stride st, those that land in [lo, hi): [j0, j1).
/// (Quotients rounded up without overflow: strides may come near 2^63.)
inline void tap_range(int64_t off, int64_t n, int64_t st, int64_t lo, int64_t hi, int64_t& j0, int64_t& j1) {
  auto up = [st](int64_t v) { return v / st + (v % st != 0); };  // v > 0
  j0 = off >= lo ? 0 : up(lo - off);
  j1 = off >= hi ? 0 : up(hi - off);
  if (j1 > n) j1 = n;
  if (j0 > j1) j0 = j1;
}

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
  AddTapsF32Fn add_taps;
  DotWindow3x3F32Fn dot_window3x3;      // may be null
  InputWindow3x3F32Fn input_window3x3;  // may be null
};

#define CONVKIT_BLAS1_KERNEL(isa, name, window, input_window)             \
  float name##_dot(const float* a, int64_t lda, const float* b, int64_t ldb, int64_t sb, int64_t n, int64_t rows); \
  void name##_dot_taps(const float* a, int64_t lda, const float* b, int64_t ldb, const int64_t* off, int64_t taps, \
                       int64_t n, int64_t rows, float* out, bool sum_a);                                            \
  void name##_dot_taps3x3(const float* a, int64_t lda, const float* b, int64_t ldb, const int64_t* off, int64_t n, \
                          int64_t rows, float* out, bool sum_a);                                                   \
  void name##_axpy(float alpha, const float* x, int64_t n, float* y, int64_t sy);                            \
  void name##_taps_sum(const float* const* rows, const float* w, int64_t taps, int64_t n, float init, float* out); \
  void name##_add_taps(const float* c, int64_t ldc, const int64_t* off, int64_t taps, int64_t n, int64_t st,      \
                       float* y, int64_t lo, int64_t hi);
#include "kernels/blas1/kernels.inc"
#undef CONVKIT_BLAS1_KERNEL
void blas1_f32_scalar_dot_window3x3(const Window3x3& p, float* out, bool sum_a);
void blas1_f32_scalar_input_window3x3(const InputWindow3x3& g);
#if CONVKIT_X86
void blas1_f32_avx512_dot_window3x3(const Window3x3& p, float* out, bool sum_a);
void blas1_f32_avx512_input_window3x3(const InputWindow3x3& g);
#endif

const Blas1Kernel* blas1_kernel_list(int* count);
const Blas1Kernel& blas1_kernel(internal::Isa cap);

}  // namespace convkit::kernels
