// Portable 16-bit conversions: the rules of dtype.h, element by element.
#include "convkit/dtype.h"
#include "kernels/convert/convert.h"

namespace convkit::kernels {

void convert_scalar_f16_to_f32(const uint16_t* src, int64_t n, float* dst) {
  for (int64_t i = 0; i < n; ++i) dst[i] = Half::to_float(src[i]);
}
void convert_scalar_f32_to_f16(const float* src, int64_t n, uint16_t* dst) {
  for (int64_t i = 0; i < n; ++i) dst[i] = Half::from_float(src[i]);
}
void convert_scalar_bf16_to_f32(const uint16_t* src, int64_t n, float* dst) {
  for (int64_t i = 0; i < n; ++i) dst[i] = BFloat16::to_float(src[i]);
}
void convert_scalar_f32_to_bf16(const float* src, int64_t n, uint16_t* dst) {
  for (int64_t i = 0; i < n; ++i) dst[i] = BFloat16::from_float(src[i]);
}

void convert_scalar_pairs(const uint16_t* a, const uint16_t* b, int64_t stride, int64_t n, uint32_t* dst) {
  for (int64_t j = 0; j < n; ++j)
    dst[j] = a[j * stride] | (b ? static_cast<uint32_t>(b[j * stride]) << 16 : 0u);
}

}  // namespace convkit::kernels
