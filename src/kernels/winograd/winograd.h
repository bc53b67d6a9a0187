// Kernel family "winograd": the F(4x4, 3x3) and F(4, 3) input, output and weight transforms,
// 16 tiles at a time (one tile per SIMD lane), for the Winograd convolution paths (2-d, 1-d).
//
// winograd_f43_input_<isa>(runs, nruns, v, vstride)
//   runs[r]: n consecutive tiles of one tile row, rows at p + row * ld (6 rows, zero padding
//   already in place), of which only columns 0 .. 4n + 1 are read (so a row may be the input
//   itself); tile t of the run is the 6x6 window at columns 4t .. 4t+5 and takes lane
//   base_r + t, base_r the tiles of the runs before it (all runs: at most 16 tiles).
//   v[xi * vstride + lane] = (B^T d B)[xi] for xi = 0..35 and the lanes used; others not written.
// winograd_f43_output_<isa>(m, mstride, runs, nruns, bias)
//   m[xi * mstride + lane]: the 36 products of each lane's tile (unused lanes are not read).
//   runs[r].p[i * ld + 4t + c] = bias + (A^T m A)[i][c] of lane base_r + t, for i, c < 4 and
//   t < n; nothing else is written (so the rows may be the output itself).
// winograd_f43_weight_<isa>(g, n, u, ldu)
//   g: n 3x3 kernels tap-major, tap e (row-major) of kernel l at g[e * n + l];
//   u[xi * ldu + l] = (G g_l G^T)[xi] for xi = 0..35 and l < n (computed in float).
// winograd_f4_input_1d_<isa>(x, xs, L, pos, d, n, v, vstride), F(4, 3) with dilation d:
//   lanes t < n (n <= 16) are tiles of 4 outputs d apart; with q = min(d, 16), lane t's window
//   is input index i(t, j) = pos + t % q + 4 d (t / q) + d j for j = 0..5 (so for d >= 16 the
//   lanes are 16 neighbouring tiles, for d = 1 consecutive tiles of 4), read as x[i * xs] when
//   0 <= i < L and as zero otherwise (never loaded). v[j * vstride + t] = (B^T w_t)[j];
//   lanes >= n are not written.
// winograd_f4_output_1d_<isa>(m, mstride, y, Lo, pos, d, n, bias)
//   m[j * mstride + t]: the 6 products of lane t (lanes >= n are not read).
//   y[o] = bias + (A^T m_t)[c] at o = pos + t % q + 4 d (t / q) + d c for c < 4 and t < n,
//   where o < Lo (pos >= 0); nothing else is written.
// winograd_f4_weight_1d_<isa>(g, n, u, ldu)
//   g: n 3-tap kernels tap-major (tap e of kernel l at g[e * n + l]); u[j * ldu + l] = (G g_l)[j].
// B^T, G and A^T are those of Lavin & Gray (arXiv:1509.09308) for points 0, +-1, +-2, inf.
// Every ISA variant computes the same expressions in the same order (winograd_common.h, which
// the AVX-512 input and output transforms restate with explicit shuffles for their data
// movement), so the results agree to the bit across ISAs as long as nothing contracts (the
// project builds with -ffp-contract=off). No allocation, no threads.
#pragma once

#include <cstdint>

#include "cpu/isa.h"

namespace convkit::kernels {

/// A run of n tiles of one tile row for the 2-d transforms: its rows at p + row * ld.
struct WinogradSrc {
  const float* p;
  int64_t ld, n;
};
struct WinogradDst {
  float* p;
  int64_t ld, n;
};

using WinogradInputFn = void (*)(const WinogradSrc* runs, int64_t nruns, float* v, int64_t vstride);
using WinogradOutputFn = void (*)(const float* m, int64_t mstride, const WinogradDst* runs, int64_t nruns, float bias);
using WinogradWeightFn = void (*)(const float* g, int64_t n, float* u, int64_t ldu);
using WinogradInput1dFn = void (*)(const float* x, int64_t xs, int64_t L, int64_t pos, int64_t d, int64_t n, float* v,
                                   int64_t vstride);
using WinogradOutput1dFn = void (*)(const float* m, int64_t mstride, float* y, int64_t Lo, int64_t pos, int64_t d,
                                    int64_t n, float bias);

struct WinogradKernels {
  const char* isa_name;
  internal::Isa isa;
  WinogradInputFn input;
  WinogradOutputFn output;
  WinogradWeightFn weight;
  WinogradInput1dFn input_1d;
  WinogradOutput1dFn output_1d;
  WinogradWeightFn weight_1d;
};

#define CONVKIT_WINOGRAD_ISA(isa, suffix)                                                           \
  void winograd_f43_input_##suffix(const WinogradSrc* runs, int64_t nruns, float* v, int64_t vstride);        \
  void winograd_f43_output_##suffix(const float* m, int64_t mstride, const WinogradDst* runs, int64_t nruns,    \
                                    float bias);                                                               \
  void winograd_f43_weight_##suffix(const float* g, int64_t n, float* u, int64_t ldu);                 \
  void winograd_f4_input_1d_##suffix(const float* x, int64_t xs, int64_t L, int64_t pos, int64_t d, int64_t n, \
                                     float* v, int64_t vstride);                                           \
  void winograd_f4_output_1d_##suffix(const float* m, int64_t mstride, float* y, int64_t Lo, int64_t pos,     \
                                      int64_t d, int64_t n, float bias);                                   \
  void winograd_f4_weight_1d_##suffix(const float* g, int64_t n, float* u, int64_t ldu);
#include "kernels/winograd/kernels.inc"
#undef CONVKIT_WINOGRAD_ISA

const WinogradKernels* winograd_kernel_list(int* count);
const WinogradKernels& winograd_kernels(internal::Isa cap);

}  // namespace convkit::kernels
