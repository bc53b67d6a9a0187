// Kernel family "gemm_bf16": bfloat16 pair dot products into float32 tiles, for bfloat16
// layers on CPUs whose bfloat16 units beat their float32 FMAs (the AMX tiles).
//
// Operands hold bfloat16 pairs in 32-bit slots (so the GEMM driver moves them as floats): the
// pair of reduction steps 2p and 2p + 1, the even one in the low 16 bits.
//
// Contract of gemm_bf16_<MR>x<NR>_<isa>(k, a, b, ldb, c, ldc, m, n, accumulate, bias):
//   k: pair steps, a multiple of kBf16PairQuantum (k may be 0).
//   a: packed A in chunks of kBf16PairQuantum pair steps: the pair of row i at step p at
//      a[(p / Q) * MR * Q + i * Q + p % Q] (Q = kBf16PairQuantum; rows >= m are zero).
//   b: pair rows with leading dimension ldb (>= NR): b[p * ldb + j] the pair of column j at step
//      p, for p < k and every j < NR (columns >= n are read and may hold anything: they only
//      reach the columns of C that are not written).
//   c: float32 tile, leading dimension ldc; only rows i < m and columns j < n are read or
//      written (m <= MR, n <= NR).
//   C[i, j] = init + sum over p < k of (A_even * B_even + A_odd * B_odd), summed in float32 in
//   an order of the kernel's own (each bfloat16 product is exact in float32); init = C[i, j]
//   when accumulate, else bias[i] when bias != nullptr, else 0. Inputs and partial sums below
//   2^-126 in magnitude may be flushed to zero (the AMX tiles do).
//   No allocation, no threads, no shape logic.
//
// gemm_bf16_<MR>x<NR>_<isa>_rows(k, a, rows, off, c, ldc, m, n, accumulate, bias): the same with
// pair row p at rows[p] + off, the rows of each chunk of kBf16PairQuantum evenly spaced
// (rows[p + 1] - rows[p] the same within a chunk): a convolution's taps over channel pairs of a
// padded input copy.
#pragma once

#include <cstdint>

#include "cpu/isa.h"
#include "kernels/gemm/gemm.h"

namespace convkit::kernels {

/// Pair steps per A chunk (and the multiple k must be): an AMX tile row holds 16 pairs.
inline constexpr int64_t kBf16PairQuantum = 16;

#if CONVKIT_X86
/// The AMX kernels' task hooks: load the thread's tile configuration, release the tiles.
void gemm_bf16_amx_begin();
void gemm_bf16_amx_end();
#endif

#define CONVKIT_GEMM_BF16_KERNEL(isa, name, mr, nr, begin, end)                                                      \
  void name(int64_t k, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t m, int64_t n,      \
            bool accumulate, const float* bias);                                                                     \
  void name##_rows(int64_t k, const float* a, const float* const* rows, int64_t off, float* c, int64_t ldc, int64_t m, \
                   int64_t n, bool accumulate, const float* bias);
#include "kernels/gemm_bf16/kernels.inc"
#undef CONVKIT_GEMM_BF16_KERNEL

/// Every kernel compiled in, lowest ISA first (as GemmKernel entries).
const GemmKernel* gemm_bf16_kernel_list(int* count);
/// The kernel of the best ISA at or below cap.
const GemmKernel& gemm_bf16_kernel(internal::Isa cap);

}  // namespace convkit::kernels
