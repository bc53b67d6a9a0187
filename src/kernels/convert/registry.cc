#include "kernels/convert/convert.h"

namespace convkit::kernels {

namespace {
constexpr ConvertKernel kKernels[] = {
#define CONVKIT_CONVERT_KERNEL(isa, name) \
  {#name, internal::Isa::isa, name##_f16_to_f32, name##_f32_to_f16, name##_bf16_to_f32, name##_f32_to_bf16, name##_pairs},
#include "kernels/convert/kernels.inc"
#undef CONVKIT_CONVERT_KERNEL
};
}  // namespace

const ConvertKernel* convert_kernel_list(int* count) {
  *count = static_cast<int>(sizeof(kKernels) / sizeof(kKernels[0]));
  return kKernels;
}

const ConvertKernel& convert_kernel(internal::Isa cap) { return internal::best_at_or_below(kKernels, cap); }

}  // namespace convkit::kernels
