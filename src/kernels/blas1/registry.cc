#include "kernels/blas1/blas1.h"

namespace convkit::kernels {

namespace {
constexpr Blas1Kernel kKernels[] = {
#define CONVKIT_BLAS1_KERNEL(isa, name, window, input_window) {#name, internal::Isa::isa, name##_dot, name##_dot_taps, name##_dot_taps3x3, name##_axpy, name##_taps_sum, name##_add_taps, window, input_window},
#include "kernels/blas1/kernels.inc"
#undef CONVKIT_BLAS1_KERNEL
};
}  // namespace

const Blas1Kernel* blas1_kernel_list(int* count) {
  *count = static_cast<int>(sizeof(kKernels) / sizeof(kKernels[0]));
  return kKernels;
}

const Blas1Kernel& blas1_kernel(internal::Isa cap) { return internal::best_at_or_below(kKernels, cap); }

}  // namespace convkit::kernels
