#include "kernels/gemm/gemm.h"

namespace convkit::kernels {

namespace {
constexpr GemmKernel kKernels[] = {
#define CONVKIT_GEMM_KERNEL(isa, name, mr, nr, arows_fn) {#name, internal::Isa::isa, mr, nr, name, name##_rows, nullptr, nullptr, arows_fn},
#define CONVKIT_GEMM_ACOLS_KERNEL(isa, name, mr, nr)
#include "kernels/gemm/kernels.inc"
#undef CONVKIT_GEMM_KERNEL
#undef CONVKIT_GEMM_ACOLS_KERNEL
};
constexpr GemmKernel kAcols[] = {
#define CONVKIT_GEMM_KERNEL(isa, name, mr, nr, arows_fn)
#define CONVKIT_GEMM_ACOLS_KERNEL(isa, name, mr, nr) {#name, internal::Isa::isa, mr, nr, nullptr, nullptr, nullptr, nullptr, nullptr, name},
#include "kernels/gemm/kernels.inc"
#undef CONVKIT_GEMM_KERNEL
#undef CONVKIT_GEMM_ACOLS_KERNEL
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

const GemmKernel* gemm_arows_kernel(internal::Isa cap) {
  const internal::Isa best = internal::best_at_or_below(kKernels, cap).isa;
  for (const auto& k : kKernels)
    if (k.isa == best && k.arows != nullptr) return &k;
  return nullptr;
}

const GemmKernel* gemm_acols_kernel_list(int* count) {
  *count = static_cast<int>(sizeof(kAcols) / sizeof(kAcols[0]));
  return kAcols;
}

const GemmKernel& gemm_acols_kernel(internal::Isa cap, int64_t width) {
  const internal::Isa best = internal::best_at_or_below(kAcols, cap).isa;
  auto padding = [&](const GemmKernel& k) { return (width + k.mr - 1) / k.mr * k.mr - width; };
  const GemmKernel* pick = nullptr;
  for (const auto& k : kAcols)  // (taller tiles later: ties go to them)
    if (k.isa == best && (pick == nullptr || padding(k) <= padding(*pick))) pick = &k;
  return *pick;
}

const GemmKernel& gemm_kernel_for(internal::Isa cap, int64_t m, int64_t n, int64_t nc, int64_t max_nr, bool wide_on_ties) {
  const GemmKernel& def = gemm_kernel(cap);
  auto padded = [](int64_t v, int64_t t) { return (v + t - 1) / t * t; };
  auto cost = [&](const GemmKernel& k) {
    return static_cast<double>(padded(m, k.mr)) * static_cast<double>(n / nc * padded(nc, k.nr) + padded(n % nc, k.nr));
  };
  const GemmKernel* best = &def;
  for (const auto& k : kKernels)
    if (k.isa == def.isa && k.nr <= max_nr &&
        (cost(k) < cost(*best) || (wide_on_ties && cost(k) == cost(*best) && k.nr > best->nr)))
      best = &k;
  return *best;
}

}  // namespace convkit::kernels
