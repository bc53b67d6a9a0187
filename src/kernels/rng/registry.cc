#include "kernels/rng/rng.h"

namespace convkit::kernels {

namespace {
constexpr RngNormalKernel kKernels[] = {
#define CONVKIT_RNG_KERNEL(isa, name) {#name, internal::Isa::isa, name},
#include "kernels/rng/kernels.inc"
#undef CONVKIT_RNG_KERNEL
};
}  // namespace

const RngNormalKernel* rng_normal_kernels(int* count) {
  *count = static_cast<int>(sizeof(kKernels) / sizeof(kKernels[0]));
  return kKernels;
}

RngNormalF32Fn rng_normal_f32(internal::Isa cap) {
  RngNormalF32Fn best = kKernels[0].fn;
  for (const auto& k : kKernels)
    if (k.isa <= cap) best = k.fn;
  return best;
}

}  // namespace convkit::kernels
