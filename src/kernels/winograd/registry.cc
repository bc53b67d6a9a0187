#include "kernels/winograd/winograd.h"

namespace convkit::kernels {

namespace {
constexpr WinogradKernels kKernels[] = {
#define CONVKIT_WINOGRAD_ISA(isa, suffix) \
  {#suffix,                                                                                              \
   internal::Isa::isa,                                                                                   \
   winograd_f43_input_##suffix,                                                                          \
   winograd_f43_output_##suffix,                                                                         \
   winograd_f43_weight_##suffix,                                                                         \
   winograd_f4_input_1d_##suffix,                                                                        \
   winograd_f4_output_1d_##suffix,                                                                       \
   winograd_f4_weight_1d_##suffix},
#include "kernels/winograd/kernels.inc"
#undef CONVKIT_WINOGRAD_ISA
};
}  // namespace

const WinogradKernels* winograd_kernel_list(int* count) {
  *count = static_cast<int>(sizeof(kKernels) / sizeof(kKernels[0]));
  return kKernels;
}

const WinogradKernels& winograd_kernels(internal::Isa cap) { return internal::best_at_or_below(kKernels, cap); }

}  // namespace convkit::kernels
