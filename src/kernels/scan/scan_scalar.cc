// Portable finiteness scan. inf and NaN are the floats whose exponent bits are all ones:
// adding one to the exponent field carries into the sign bit exactly for them. Integer
// and/add/or, so -O3 vectorizes the row loop with the baseline ISA.
#include <cstring>

#include "kernels/scan/scan.h"

namespace convkit::kernels {

bool finite_rows_f32_scalar(const float* p, int64_t ld, int64_t rows, int64_t n) {
  constexpr uint32_t kExp = 0x7f800000u, kOne = 0x00800000u, kSign = 0x80000000u;
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = p + r * ld;
    uint32_t acc = 0;
    for (int64_t i = 0; i < n; ++i) {
      uint32_t u;
      std::memcpy(&u, row + i, sizeof u);
      acc |= (u & kExp) + kOne;
    }
    if (acc & kSign) return false;
  }
  return true;
}

}  // namespace convkit::kernels
