#include "kernels/scan/scan.h"

namespace convkit::kernels {

namespace {
constexpr ScanKernel kKernels[] = {
#define CONVKIT_SCAN_KERNEL(isa, name) {#name, internal::Isa::isa, name},
#include "kernels/scan/kernels.inc"
#undef CONVKIT_SCAN_KERNEL
};
}  // namespace

const ScanKernel* scan_kernel_list(int* count) {
  *count = static_cast<int>(sizeof(kKernels) / sizeof(kKernels[0]));
  return kKernels;
}

const ScanKernel& scan_kernel(internal::Isa cap) { return internal::best_at_or_below(kKernels, cap); }

}  // namespace convkit::kernels
