#include "kernels/dwconv/dwconv.h"

namespace convkit::kernels {

namespace {
constexpr DwconvKernel kKernels[] = {
#define CONVKIT_DWCONV_KERNEL(isa, name, name64, window, nhwc) {#name, internal::Isa::isa, name, name64, window, nhwc},
#include "kernels/dwconv/kernels.inc"
#undef CONVKIT_DWCONV_KERNEL
};
}  // namespace

const DwconvKernel* dwconv_kernel_list(int* count) {
  *count = static_cast<int>(sizeof(kKernels) / sizeof(kKernels[0]));
  return kKernels;
}

const DwconvKernel& dwconv_kernel(internal::Isa cap) { return internal::best_at_or_below(kKernels, cap); }

}  // namespace convkit::kernels
