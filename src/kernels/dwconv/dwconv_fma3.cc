// AVX2+FMA depthwise row kernel: 32 outputs (4 ymm accumulators) per sweep over the taps, so
// each broadcast weight feeds four independent FMA chains; then 8 at a time, then a scalar tail.
#include <immintrin.h>

#include <cmath>

#include "kernels/dwconv/dwconv.h"

namespace convkit::kernels {

namespace {

// One output row; tap t reads at taps[t] + off (off = the row's offset from row 0).
inline void row(const float* const* taps, int64_t off, const float* w, int64_t ntaps, float* y, int64_t wo,
                int64_t stride, float bias) {
  const __m256 vb = _mm256_set1_ps(bias);
  int64_t o = 0;
  if (stride != 1) {
    // Strided rows: 8 outputs per gather while the 32-bit gather offsets (lane * stride) fit;
    // the scalar tail below takes the rest (and every output for larger strides).
    if (stride <= (int64_t{1} << 27)) {
      const __m256i idx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                             _mm256_set1_epi32(static_cast<int>(stride)));
      for (; o + 8 <= wo; o += 8) {
        __m256 a0 = _mm256_setzero_ps();
        for (int64_t t = 0; t < ntaps; ++t)
          a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(w + t), _mm256_i32gather_ps(taps[t] + off + o * stride, idx, 4), a0);
        _mm256_storeu_ps(y + o, _mm256_add_ps(vb, a0));
      }
    }
  } else {
    for (; o + 32 <= wo; o += 32) {
      __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
      for (int64_t t = 0; t < ntaps; ++t) {
        const __m256 wt = _mm256_broadcast_ss(w + t);
        const float* x = taps[t] + off + o;
        a0 = _mm256_fmadd_ps(wt, _mm256_loadu_ps(x), a0);
        a1 = _mm256_fmadd_ps(wt, _mm256_loadu_ps(x + 8), a1);
        a2 = _mm256_fmadd_ps(wt, _mm256_loadu_ps(x + 16), a2);
        a3 = _mm256_fmadd_ps(wt, _mm256_loadu_ps(x + 24), a3);
      }
      _mm256_storeu_ps(y + o, _mm256_add_ps(vb, a0));
      _mm256_storeu_ps(y + o + 8, _mm256_add_ps(vb, a1));
      _mm256_storeu_ps(y + o + 16, _mm256_add_ps(vb, a2));
      _mm256_storeu_ps(y + o + 24, _mm256_add_ps(vb, a3));
    }
    for (; o + 8 <= wo; o += 8) {
      __m256 a0 = _mm256_setzero_ps();
      for (int64_t t = 0; t < ntaps; ++t) a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(w + t), _mm256_loadu_ps(taps[t] + off + o), a0);
      _mm256_storeu_ps(y + o, _mm256_add_ps(vb, a0));
    }
  }
  for (; o < wo; ++o) {
    float acc = 0.0f;
    for (int64_t t = 0; t < ntaps; ++t) acc = std::fma(w[t], taps[t][off + o * stride], acc);
    y[o] = bias + acc;
  }
}

}  // namespace

void dwconv_f32_row_c32_fma3(const float* const* taps, const float* w, int64_t ntaps, float* y, int64_t wo, int64_t stride,
                             float bias, int64_t rows, int64_t row_step) {
  for (int64_t r = 0; r < rows; ++r) row(taps, r * row_step, w, ntaps, y + r * wo, wo, stride, bias);
}

}  // namespace convkit::kernels
