#include "kernels/transpose/transpose.h"

namespace convkit::kernels {

namespace {
constexpr TransposeKernel kKernels[] = {
#define CONVKIT_TRANSPOSE_KERNEL(isa, name) {#name, internal::Isa::isa, name},
#include "kernels/transpose/kernels.inc"
#undef CONVKIT_TRANSPOSE_KERNEL
};
}  // namespace

const TransposeKernel* transpose_kernel_list(int* count) {
  *count = static_cast<int>(sizeof(kKernels) / sizeof(kKernels[0]));
  return kKernels;
}

const TransposeKernel& transpose_kernel(internal::Isa cap) { return internal::best_at_or_below(kKernels, cap); }

}  // namespace convkit::kernels
