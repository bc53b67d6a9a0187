// AVX-512 depthwise row kernel: 64 outputs (4 zmm accumulators) per sweep over the taps,
// then 16 at a time, then one masked vector for the tail.
#include <immintrin.h>

#include "kernels/dwconv/dwconv.h"

namespace convkit::kernels {

namespace {

// One output row; tap t reads at taps[t] + off (off = the row's offset from row 0).
inline void row(const float* const* taps, int64_t off, const float* w, int64_t ntaps, float* y, int64_t wo,
                int64_t stride, float bias) {
  const __m512 vb = _mm512_set1_ps(bias);
  int64_t o = 0;
  if (stride == 2) {  // even elements of 32 consecutive floats, picked by one permute
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    for (; o < wo; o += 16) {
      const __mmask16 mask = static_cast<__mmask16>(wo - o >= 16 ? 0xffff : (1u << (wo - o)) - 1);
      __m512 a0 = _mm512_setzero_ps();
      for (int64_t t = 0; t < ntaps; ++t) {
        const float* x = taps[t] + off + 2 * o;  // 32 floats readable: the contract's slack
        const __m512 v = _mm512_permutex2var_ps(_mm512_loadu_ps(x), even, _mm512_loadu_ps(x + 16));
        a0 = _mm512_fmadd_ps(_mm512_set1_ps(w[t]), v, a0);
      }
      _mm512_mask_storeu_ps(y + o, mask, _mm512_add_ps(vb, a0));
    }
    return;
  }
  if (stride > (int64_t{1} << 26)) {  // 32-bit gather offsets would overflow: plain loop
    for (; o < wo; ++o) {
      float acc = 0.0f;
      for (int64_t t = 0; t < ntaps; ++t) acc += w[t] * taps[t][off + o * stride];
      y[o] = bias + acc;
    }
    return;
  }
  if (stride != 1) {  // other strides: 16 outputs per gather
    const __m512i idx = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(static_cast<int>(stride)));
    for (; o < wo; o += 16) {
      const __mmask16 mask = static_cast<__mmask16>(wo - o >= 16 ? 0xffff : (1u << (wo - o)) - 1);
      __m512 a0 = _mm512_setzero_ps();
      for (int64_t t = 0; t < ntaps; ++t)
        a0 = _mm512_fmadd_ps(_mm512_set1_ps(w[t]),
                             _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mask, idx, taps[t] + off + o * stride, 4), a0);
      _mm512_mask_storeu_ps(y + o, mask, _mm512_add_ps(vb, a0));
    }
    return;
  }
  for (; o + 64 <= wo; o += 64) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t t = 0; t < ntaps; ++t) {
      const __m512 wt = _mm512_set1_ps(w[t]);
      const float* x = taps[t] + off + o;
      a0 = _mm512_fmadd_ps(wt, _mm512_loadu_ps(x), a0);
      a1 = _mm512_fmadd_ps(wt, _mm512_loadu_ps(x + 16), a1);
      a2 = _mm512_fmadd_ps(wt, _mm512_loadu_ps(x + 32), a2);
      a3 = _mm512_fmadd_ps(wt, _mm512_loadu_ps(x + 48), a3);
    }
    _mm512_storeu_ps(y + o, _mm512_add_ps(vb, a0));
    _mm512_storeu_ps(y + o + 16, _mm512_add_ps(vb, a1));
    _mm512_storeu_ps(y + o + 32, _mm512_add_ps(vb, a2));
    _mm512_storeu_ps(y + o + 48, _mm512_add_ps(vb, a3));
  }
  for (; o < wo; o += 16) {
    const __mmask16 mask = static_cast<__mmask16>(wo - o >= 16 ? 0xffff : (1u << (wo - o)) - 1);
    __m512 a0 = _mm512_setzero_ps();
    for (int64_t t = 0; t < ntaps; ++t)
      a0 = _mm512_fmadd_ps(_mm512_set1_ps(w[t]), _mm512_maskz_loadu_ps(mask, taps[t] + off + o), a0);
    _mm512_mask_storeu_ps(y + o, mask, _mm512_add_ps(vb, a0));
  }
}

}  // namespace

void dwconv_f32_row_c64_avx512(const float* const* taps, const float* w, int64_t ntaps, float* y, int64_t wo, int64_t stride,
                               float bias, int64_t rows, int64_t row_step) {
  for (int64_t r = 0; r < rows; ++r) row(taps, r * row_step, w, ntaps, y + r * wo, wo, stride, bias);
}

}  // namespace convkit::kernels
