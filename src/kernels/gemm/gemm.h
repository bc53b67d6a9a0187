// Kernel family "gemm": float32 microkernels computing one MR x NR tile of C = A * B.
//
// Contract of gemm_f32_<MR>x<NR>_<isa>(k, a, b, ldb, c, ldc, m, n, accumulate, bias):
//   a: packed A panel, k steps of MR floats: a[p * MR + i] = A[i, p] (rows >= m are zero)
//   b: B rows with leading dimension ldb: b[p * ldb + j] = B[p, j]; only columns j < n are
//      read (a packed NR-wide panel is ldb = NR; an unpacked row-major matrix works too, which
//      is how 1x1 convolutions read the input in place). No alignment requirement.
//   c: row-major tile with leading dimension ldc; only rows i < m and columns j < n are read
//      or written (m <= MR, n <= NR).
//   C[i, j] = init + (sum over p = 0..k-1, in that order, of a[p*MR+i] * b[p*NR+j])
//   where init = C[i, j] when accumulate, else bias[i] when bias != nullptr, else 0, and the
//   sum starts from 0 in registers (so K-blocked calls add block sums in block order).
//   k may be 0. No allocation, no threads, no shape logic (BLIS's rule).
//
// gemm_f32_<MR>x<NR>_<isa>_rows(k, a, rows, off, c, ldc, m, n, accumulate, bias) is the same
// with B row p at rows[p] + off (rows[0 .. k-1], each readable at columns < n): convolutions
// read B straight from a padded input, each row a channel shifted by its tap's offset.
//
// gemm_f32_<MR>x<NR>_<isa>_arows(k, arows, aoff, b, ldb, c, ldc, m, n, accumulate, bias), one
// tile per ISA, reads A in place instead: A[i, p] = arows[i][aoff + p] (only arows[0 .. m-1]
// are read, each at k steps): a weight gradient's input channels, the reduction along them.
//
// gemm_f32_<MR>x<NR>_<isa>_acols(k, acols, aoff, b, ldb, c, ldc, m, n, accumulate, bias), tiles
// of their own (7 to 14 rows: an output row in whole tiles, 14 of 56, 11 of 33), reads A
// through one pointer per k step: A[i, p] = acols[p][aoff + i] (only i < m are read): a
// convolution computed transposed, positions as rows, each k step an input row of one
// (channel, tap) read in place. Its bias is per column: init = bias[j].
#pragma once

#include <cstdint>

#include "cpu/isa.h"

namespace convkit::kernels {

using GemmF32Fn = void (*)(int64_t k, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t m,
                           int64_t n, bool accumulate, const float* bias);

using GemmRowsF32Fn = void (*)(int64_t k, const float* a, const float* const* rows, int64_t off, float* c,
                               int64_t ldc, int64_t m, int64_t n, bool accumulate, const float* bias);

using GemmARowsF32Fn = void (*)(int64_t k, const float* const* arows, int64_t aoff, const float* b, int64_t ldb,
                                float* c, int64_t ldc, int64_t m, int64_t n, bool accumulate, const float* bias);
using GemmAColsF32Fn = GemmARowsF32Fn;  // (the same arguments: A's pointers, then B, C)

struct GemmKernel {
  const char* name;
  internal::Isa isa;
  int mr, nr;
  GemmF32Fn fn;
  GemmRowsF32Fn rows;
  /// Null, or what a thread calls before its first tile of a GEMM task and after its last
  /// (the AMX kernels load and release the thread's tile configuration).
  void (*begin)() = nullptr;
  void (*end)() = nullptr;
  /// The A-rows form, or null.
  GemmARowsF32Fn arows = nullptr;
  /// The A-columns form, or null (a kernel of gemm_acols_kernel has only this one).
  GemmAColsF32Fn acols = nullptr;
};

#define CONVKIT_GEMM_KERNEL(isa, name, mr, nr, arows_fn)                                                             \
  void name(int64_t k, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t m, int64_t n,      \
            bool accumulate, const float* bias);                                                                     \
  void name##_rows(int64_t k, const float* a, const float* const* rows, int64_t off, float* c, int64_t ldc, int64_t m, \
                   int64_t n, bool accumulate, const float* bias);                                                   \
  void name##_arows(int64_t k, const float* const* arows, int64_t aoff, const float* b, int64_t ldb, float* c,        \
                    int64_t ldc, int64_t m, int64_t n, bool accumulate, const float* bias);
#define CONVKIT_GEMM_ACOLS_KERNEL(isa, name, mr, nr)                                                                \
  void name(int64_t k, const float* const* acols, int64_t aoff, const float* b, int64_t ldb, float* c, int64_t ldc,   \
            int64_t m, int64_t n, bool accumulate, const float* bias);
#include "kernels/gemm/kernels.inc"
#undef CONVKIT_GEMM_KERNEL
#undef CONVKIT_GEMM_ACOLS_KERNEL

/// Every kernel compiled in, lowest ISA first.
const GemmKernel* gemm_kernel_list(int* count);
/// The default kernel of the best ISA at or below `cap` (the first listed for that ISA).
const GemmKernel& gemm_kernel(internal::Isa cap);
/// That ISA's kernel with an A-rows form, or null.
const GemmKernel* gemm_arows_kernel(internal::Isa cap);
/// Every A-columns kernel compiled in (only their acols is set), lowest ISA first.
const GemmKernel* gemm_acols_kernel_list(int* count);
/// Of the best ISA's A-columns kernels at or below `cap`, the one whose tiles pad rows of
/// `width` least (ties: the tallest).
const GemmKernel& gemm_acols_kernel(internal::Isa cap, int64_t width);
/// Of the best ISA's kernels, the one whose tiles pad an m x n product least (edge tiles
/// compute padded rows and masked columns at full cost; ties go to the first listed). The
/// columns come in blocks of nc, each padded to whole tiles. Tiles wider than max_nr columns
/// are left out: the 64-wide one pays off on B rows of whole channel vectors read in place
/// (the channels-last weight gradient), while on packed im2col blocks it ran 1.35x slower than
/// 48-wide tiles (DCGAN's 4x4/2 layer). wide_on_ties: of kernels that pad alike, the widest.
const GemmKernel& gemm_kernel_for(internal::Isa cap, int64_t m, int64_t n, int64_t nc, int64_t max_nr = 48,
                                  bool wide_on_ties = false);

}  // namespace convkit::kernels
