// Kernel family "gemm_f64": float64 microkernels computing one MR x NR tile of C = A * B, on the
// float GEMM driver: their pointers hold doubles and every count is in float slots (two per
// double), so the driver's offsets land on whole doubles.
//
// Contract of gemm_f64_<MR>x<NR>_<isa>(k, a, b, ldb, c, ldc, m, n, accumulate, bias), with
// GemmF32Fn's signature (GemmKernel::nr = 2 NR slots):
//   k: 2 x the reduction steps; a: packed A panel, [k / 2][MR] doubles (rows >= m zero).
//   b: B rows of doubles, row p at b + p * ldb slots (ldb even), column j at + 2 j; only columns
//      j < n / 2 are read. c: rows of doubles, ldc slots apart; only rows i < m and columns
//      j < n / 2 are read or written (m <= MR, n / 2 <= NR). bias must be null (float64 plans add
//      theirs when they store C).
//   C[i, j] = (accumulate ? C[i, j] : 0) + sum over p of A[i, p] B[p, j], in double, p in order.
//   No allocation, no threads, no shape logic.
#pragma once

#include <cstdint>

#include "cpu/isa.h"
#include "kernels/gemm/gemm.h"

namespace convkit::kernels {

#define CONVKIT_GEMM_F64_KERNEL(isa, name, mr, nr)                                                                   \
  void name(int64_t k, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t m, int64_t n,      \
            bool accumulate, const float* bias);
#include "kernels/gemm_f64/kernels.inc"
#undef CONVKIT_GEMM_F64_KERNEL

/// Every kernel compiled in, lowest ISA first (GemmKernel entries, nr in slots; no rows form).
const GemmKernel* gemm_f64_kernel_list(int* count);
/// The kernel of the best ISA at or below cap.
const GemmKernel& gemm_f64_kernel(internal::Isa cap);

}  // namespace convkit::kernels
