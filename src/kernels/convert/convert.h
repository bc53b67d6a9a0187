// Kernel family "convert": float16 / bfloat16 <-> float32, for the engine's 16-bit dtypes,
// which compute in float32 (MegEngine's compute_mode=float32) and round once on the way out.
//
// Contract of convert_<isa>_<from>_to_<to>(src, n, dst), for n >= 0 elements, no alignment:
//   f16_to_f32, bf16_to_f32: dst[i] = the exact float value of the 16-bit src[i].
//   f32_to_f16: dst[i] = Half::from_float(src[i]) (nearest, ties to even; beyond the range
//     infinity; a NaN becomes sign | 0x7e00).
//   f32_to_bf16: dst[i] = BFloat16::from_float(src[i]) (nearest, ties to even; a NaN becomes
//     0x7fc0).
// Every ISA gives the same bits as the scalar rule (dtype.h); reads src[0 .. n), writes dst[0 .. n).
//
// convert_<isa>_pairs(a, b, stride, n, dst): dst[j] = a[j * stride] | b[j * stride] << 16 for
// j < n (16-bit values paired into 32-bit slots, a's low: the bfloat16 pairs of gemm_bf16); b
// null reads as zeros. Reads only a[0 .. (n-1) * stride] and b's same, writes dst[0 .. n).
#pragma once

#include <cstdint>

#include "cpu/isa.h"

namespace convkit::kernels {

using ToF32Fn = void (*)(const uint16_t* src, int64_t n, float* dst);
using FromF32Fn = void (*)(const float* src, int64_t n, uint16_t* dst);
using PairsFn = void (*)(const uint16_t* a, const uint16_t* b, int64_t stride, int64_t n, uint32_t* dst);

struct ConvertKernel {
  const char* name;
  internal::Isa isa;
  ToF32Fn f16_to_f32;
  FromF32Fn f32_to_f16;
  ToF32Fn bf16_to_f32;
  FromF32Fn f32_to_bf16;
  PairsFn pairs;
};

#define CONVKIT_CONVERT_KERNEL(isa, name)                          \
  void name##_f16_to_f32(const uint16_t* src, int64_t n, float* dst); \
  void name##_f32_to_f16(const float* src, int64_t n, uint16_t* dst); \
  void name##_bf16_to_f32(const uint16_t* src, int64_t n, float* dst); \
  void name##_f32_to_bf16(const float* src, int64_t n, uint16_t* dst); \
  void name##_pairs(const uint16_t* a, const uint16_t* b, int64_t stride, int64_t n, uint32_t* dst);
#include "kernels/convert/kernels.inc"
#undef CONVKIT_CONVERT_KERNEL

const ConvertKernel* convert_kernel_list(int* count);
const ConvertKernel& convert_kernel(internal::Isa cap);

}  // namespace convkit::kernels
