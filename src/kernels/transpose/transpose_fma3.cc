// AVX2 transposing pack: 8x8 blocks in registers (unpack, shuffle, 128-bit lane permute; strided
// sources gathered); rows past a multiple of 8 and the last len % 8 columns go element by element.
#include "kernels/transpose/transpose.h"
#include "kernels/transpose/transpose_avx_8x8.h"

namespace convkit::kernels {

void transpose_f32_8x8_fma3(const float* const* src, int64_t ss, int64_t rows, int64_t len, float* dst, int64_t ld) {
  transpose_by_8(src, ss, rows, len, dst, ld);
}

}  // namespace convkit::kernels
