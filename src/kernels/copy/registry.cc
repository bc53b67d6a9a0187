#include "kernels/copy/copy.h"

namespace convkit::kernels {

namespace {
constexpr CopyKernel kKernels[] = {
#define CONVKIT_COPY_KERNEL(isa, name) {#name, internal::Isa::isa, name, name##_rows, name##_scatter, name##_interleave, name##_windows},
#include "kernels/copy/kernels.inc"
#undef CONVKIT_COPY_KERNEL
};
}  // namespace

const CopyKernel* copy_kernel_list(int* count) {
  *count = static_cast<int>(sizeof(kKernels) / sizeof(kKernels[0]));
  return kKernels;
}

const CopyKernel& copy_kernel(internal::Isa cap) { return internal::best_at_or_below(kKernels, cap); }

}  // namespace convkit::kernels
