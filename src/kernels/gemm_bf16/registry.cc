#include "kernels/gemm_bf16/gemm_bf16.h"

namespace convkit::kernels {

namespace {
constexpr GemmKernel kKernels[] = {
#define CONVKIT_GEMM_BF16_KERNEL(isa, name, mr, nr, begin, end) {#name, internal::Isa::isa, mr, nr, name, name##_rows, begin, end},
#include "kernels/gemm_bf16/kernels.inc"
#undef CONVKIT_GEMM_BF16_KERNEL
};
}  // namespace

const GemmKernel* gemm_bf16_kernel_list(int* count) {
  *count = static_cast<int>(sizeof(kKernels) / sizeof(kKernels[0]));
  return kKernels;
}

const GemmKernel& gemm_bf16_kernel(internal::Isa cap) { return internal::best_at_or_below(kKernels, cap); }

}  // namespace convkit::kernels
