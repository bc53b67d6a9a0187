// AVX2 transposing pack: 8x8 blocks in registers (unpack, shuffle, 128-bit lane permute);
// rows past a multiple of 8 and the last len % 8 columns go element by element.
#include "kernels/transpose/transpose.h"
#include "kernels/transpose/transpose_avx_8x8.h"

namespace convkit::kernels {

void transpose_f32_8x8_fma3(const float* const* src, int64_t rows, int64_t len, float* dst, int64_t ld) {
  const int64_t rows8 = rows / 8 * 8, len8 = len / 8 * 8;
  for (int64_t i = 0; i < rows8; i += 8)
    for (int64_t k = 0; k < len8; k += 8) transpose_block8(src + i, k, dst + k * ld + i, ld);
  transpose_rest(src, rows8, len8, rows, len, dst, ld);
}

}  // namespace convkit::kernels
