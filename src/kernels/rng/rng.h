// Kernel family "rng": PyTorch 1.13's float32 Box-Muller transform of 16-value chunks
// (spec/torch-rng.md §3.5), bit for bit.
//
// Contract of every rng_normal_f32_c16_<isa>(data, chunks, mean, std):
//   data: `chunks` consecutive chunks of 16 floats, each a uniform in [0, 1) as drawn by
//         Generator (24-bit), overwritten in place. For chunk c, lanes j = 0..7:
//           a = data[16c + j], b = data[16c + j + 8]
//           radius = sqrt(-2 * LOG(1 - a)), theta = 6.2831855f * b, (s, c) = SINCOS(theta)
//           data[16c + j]     = fma(radius * c, std, mean)
//           data[16c + j + 8] = fma(radius * s, std, mean)
//   LOG and SINCOS are the Cephes float32 polynomials with exactly the roundings and fused
//   multiply-adds listed in the spec; every ISA variant produces identical bits (tested).
//   No alignment requirement, no allocation, no threads.
#pragma once

#include <cstdint>

#include "cpu/isa.h"

namespace convkit::kernels {

using RngNormalF32Fn = void (*)(float* data, int64_t chunks, float mean, float std);

struct RngNormalKernel {
  const char* name;
  internal::Isa isa;
  RngNormalF32Fn fn;
};

#define CONVKIT_RNG_KERNEL(isa, name) void name(float* data, int64_t chunks, float mean, float std);
#include "kernels/rng/kernels.inc"
#undef CONVKIT_RNG_KERNEL

/// Every kernel compiled in, in kernels.inc order (lowest ISA first).
const RngNormalKernel* rng_normal_kernels(int* count);
/// The best kernel at or below `cap` that this build has.
RngNormalF32Fn rng_normal_f32(internal::Isa cap);

}  // namespace convkit::kernels
