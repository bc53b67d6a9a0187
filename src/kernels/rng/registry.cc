#include "kernels/rng/rng.h"

namespace convkit::kernels {

namespace {
constexpr RngKernels kKernels[] = {
#define CONVKIT_RNG_ISA(isa, suffix) \
  {#suffix,                                                                                     \
   internal::Isa::isa,                                                                          \
   rng_uniform_f32_##suffix,                                                                    \
   rng_uniform_f64_##suffix,                                                                    \
   rng_normal_f32_c16_##suffix,                                                                 \
   rng_normal_f64_c16_##suffix,                                                                 \
   rng_mt_twist_##suffix,                                                                       \
   rng_mt_temper_##suffix},
#include "kernels/rng/kernels.inc"
#undef CONVKIT_RNG_ISA
};
}  // namespace

const RngKernels* rng_kernel_list(int* count) {
  *count = static_cast<int>(sizeof(kKernels) / sizeof(kKernels[0]));
  return kKernels;
}

const RngKernels& rng_kernels(internal::Isa cap) { return internal::best_at_or_below(kKernels, cap); }

}  // namespace convkit::kernels
