// Kernel family "rng": the arithmetic of PyTorch 1.13's CPU random fills
// (spec/torch-rng.md), bit for bit, on every ISA.
//
// rng_uniform_f32_<isa>(words, out, n, from, range)         §2, float32
//   out[i] = fma((words[i] & 0xffffff) * 2^-24, range, from)
// rng_uniform_f64_<isa>(words, out, n, from, range)         §2, float64
//   v = (words[2i] << 32 | words[2i+1]) & (2^53 - 1);  out[i] = fma(v * 2^-53, range, from)
// rng_normal_f32_c16_<isa>(data, chunks, mean, std)         §3.5, float32 Box-Muller
//   data: `chunks` consecutive chunks of 16 unit uniforms, overwritten in place. For chunk c,
//   lanes j = 0..7: a = data[16c + j], b = data[16c + j + 8],
//     radius = sqrt(-2 * LOG(1 - a)), theta = 6.2831855f * b, (s, c) = SINCOS(theta)
//     data[16c + j] = fma(radius * c, std, mean), data[16c + j + 8] = fma(radius * s, std, mean)
//   LOG and SINCOS are the Cephes float32 polynomials with exactly the spec's roundings and
//   fused multiply-adds.
// rng_normal_f64_c16_<isa>(data, chunks, mean, std)         §3.3, float64 Box-Muller
//   as above in double with libm's log/cos/sin, theta = (2 pi) * b, out = fma(radius * c, std, mean)
// rng_mt_twist_<isa>(mt)                                     §1.2, regenerate all 624 words
// rng_mt_temper_<isa>(state, out, n)                         §1.2, out[i] = temper(state[i])
// Every ISA variant produces identical bits (tests/test_random.cc checks it). No alignment
// requirement, no allocation, no threads; `words` and `out` do not overlap.
#pragma once

#include <cstdint>

#include "cpu/isa.h"

namespace convkit::kernels {

using RngUniformF32Fn = void (*)(const uint32_t* words, float* out, int64_t n, float from, float range);
using RngUniformF64Fn = void (*)(const uint32_t* words, double* out, int64_t n, double from, double range);
using RngNormalF32Fn = void (*)(float* data, int64_t chunks, float mean, float std);
using RngNormalF64Fn = void (*)(double* data, int64_t chunks, double mean, double std);
using RngMtTwistFn = void (*)(uint32_t* mt);
using RngMtTemperFn = void (*)(const uint32_t* state, uint32_t* out, int64_t n);

struct RngKernels {
  const char* isa_name;
  internal::Isa isa;
  RngUniformF32Fn uniform_f32;
  RngUniformF64Fn uniform_f64;
  RngNormalF32Fn normal_f32;
  RngNormalF64Fn normal_f64;
  RngMtTwistFn mt_twist;
  RngMtTemperFn mt_temper;
};

#define CONVKIT_RNG_ISA(isa, suffix)                                                                        \
  void rng_uniform_f32_##suffix(const uint32_t* words, float* out, int64_t n, float from, float range);   \
  void rng_uniform_f64_##suffix(const uint32_t* words, double* out, int64_t n, double from, double range); \
  void rng_normal_f32_c16_##suffix(float* data, int64_t chunks, float mean, float std);                     \
  void rng_normal_f64_c16_##suffix(double* data, int64_t chunks, double mean, double std);                  \
  void rng_mt_twist_##suffix(uint32_t* mt);                                                                  \
  void rng_mt_temper_##suffix(const uint32_t* state, uint32_t* out, int64_t n);
#include "kernels/rng/kernels.inc"
#undef CONVKIT_RNG_ISA

/// Every ISA's kernels compiled in, in kernels.inc order (lowest ISA first).
const RngKernels* rng_kernel_list(int* count);
/// The best kernels at or below `cap` that this build has.
const RngKernels& rng_kernels(internal::Isa cap);

}  // namespace convkit::kernels
