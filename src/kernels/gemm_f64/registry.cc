#include "kernels/gemm_f64/gemm_f64.h"

namespace convkit::kernels {

namespace {
constexpr GemmKernel kKernels[] = {
#define CONVKIT_GEMM_F64_KERNEL(isa, name, mr, nr) {#name, internal::Isa::isa, mr, 2 * (nr), name, nullptr, nullptr, nullptr},
#include "kernels/gemm_f64/kernels.inc"
#undef CONVKIT_GEMM_F64_KERNEL
};
}  // namespace

const GemmKernel* gemm_f64_kernel_list(int* count) {
  *count = static_cast<int>(sizeof(kKernels) / sizeof(kKernels[0]));
  return kKernels;
}

const GemmKernel& gemm_f64_kernel(internal::Isa cap) { return internal::best_at_or_below(kKernels, cap); }

}  // namespace convkit::kernels
