// Kernel family "scan": whether float data holds an inf or NaN (the check that sends a
// Winograd call to the direct path, and a non-finite weight to the reference).
//
// Contract of finite_rows_f32_<isa>(p, ld, rows, n):
//   true when p[r * ld + i] is finite for every r < rows and i < n, false otherwise. Reads only
//   those elements (edge vectors are masked or scalar). n, rows >= 0; ld may be anything when
//   rows <= 1.
#pragma once

#include <cstdint>

#include "cpu/isa.h"

namespace convkit::kernels {

using FiniteRowsF32Fn = bool (*)(const float* p, int64_t ld, int64_t rows, int64_t n);

struct ScanKernel {
  const char* name;
  internal::Isa isa;
  FiniteRowsF32Fn finite_rows;
};

#define CONVKIT_SCAN_KERNEL(isa, name) bool name(const float* p, int64_t ld, int64_t rows, int64_t n);
#include "kernels/scan/kernels.inc"
#undef CONVKIT_SCAN_KERNEL

const ScanKernel* scan_kernel_list(int* count);
const ScanKernel& scan_kernel(internal::Isa cap);

}  // namespace convkit::kernels
