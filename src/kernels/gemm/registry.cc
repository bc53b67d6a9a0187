#include "kernels/gemm/gemm.h"

namespace convkit::kernels {

namespace {
constexpr GemmKernel kKernels[] = {
#define CONVKIT_GEMM_KERNEL(isa, name, mr, nr) {#name, internal::Isa::isa, mr, nr, name, name##_rows},
#include "kernels/gemm/kernels.inc"
#undef CONVKIT_GEMM_KERNEL
};
}  // namespace

const GemmKernel* gemm_kernel_list(int* count) {
  *count = static_cast<int>(sizeof(kKernels) / sizeof(kKernels[0]));
  return kKernels;
}

const GemmKernel& gemm_kernel(internal::Isa cap) {
  const internal::Isa best = internal::best_at_or_below(kKernels, cap).isa;
  for (const auto& k : kKernels)
    if (k.isa == best) return k;
  return kKernels[0];
}

}  // namespace convkit::kernels
