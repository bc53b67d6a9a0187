// AVX2 strided copy: stride 1 copies whole vectors, stride 2 picks the even elements of two
// loads with one shuffle and one lane permute (the common strided convolution); tails and other
// strides are element loops (AVX2's gathers are no faster than them).
#include <immintrin.h>

#include "kernels/copy/copy.h"

namespace convkit::kernels {

namespace {

// [a0 a2 a4 a6 b0 b2 b4 b6] of a = src[0 .. 8) and b = src[8 .. 16).
inline __m256 evens(const float* s) {
  const __m256 e = _mm256_shuffle_ps(_mm256_loadu_ps(s), _mm256_loadu_ps(s + 8), _MM_SHUFFLE(2, 0, 2, 0));
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
}

[[gnu::always_inline]] inline void strided(const float* src, int64_t stride, int64_t n, float* dst) {
  int64_t t = 0;
  if (stride == 1) {
    for (; t + 8 <= n; t += 8) _mm256_storeu_ps(dst + t, _mm256_loadu_ps(src + t));
  } else if (stride == 2) {
    // 8 outputs read src[2t .. 2t + 15]; the last of those must stay within the 2n - 1 readable.
    for (; t + 8 <= n - 1; t += 8) _mm256_storeu_ps(dst + t, evens(src + 2 * t));
  }
  for (; t < n; ++t) dst[t] = src[t * stride];
}

}  // namespace

void copy_f32_strided_fma3(const float* src, int64_t stride, int64_t n, float* dst) { strided(src, stride, n, dst); }

void copy_f32_strided_fma3_rows(const float* src, int64_t stride, int64_t n, int64_t rows, int64_t src_rs, float* dst,
                                int64_t dst_rs) {
  for (int64_t r = 0; r < rows; ++r) strided(src + r * src_rs, stride, n, dst + r * dst_rs);
}

void copy_f32_strided_fma3_scatter(const float* src, int64_t n, float* dst, int64_t stride) {
  if (stride == 1) {
    strided(src, 1, n, dst);
    return;
  }
  for (int64_t t = 0; t < n; ++t) dst[t * stride] = src[t];
}

void copy_f32_strided_fma3_interleave(const float* a, int64_t na, const float* b, int64_t nb, float* dst) {
  int64_t t = 0;
  // 8 pairs at a time: (a0 b0 a1 b1 | a4 b4 a5 b5) and (a2 b2 a3 b3 | a6 b6 a7 b7) put in order.
  for (; t + 8 <= nb; t += 8) {
    const __m256 va = _mm256_loadu_ps(a + t), vb = _mm256_loadu_ps(b + t);
    const __m256 lo = _mm256_unpacklo_ps(va, vb), hi = _mm256_unpackhi_ps(va, vb);
    _mm256_storeu_ps(dst + 2 * t, _mm256_permute2f128_ps(lo, hi, 0x20));
    _mm256_storeu_ps(dst + 2 * t + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
  }
  for (; t < nb; ++t) {
    dst[2 * t] = a[t];
    dst[2 * t + 1] = b[t];
  }
  if (na > nb) dst[2 * nb] = a[nb];
}

void copy_f32_strided_fma3_windows(const float* const* rows, int64_t nrows, int64_t iw0, int64_t st, int64_t S,
                                   int64_t run, float* dst) {
  windows_by_rows(rows, nrows, iw0, st, S, run, dst,
                  [](const float* s, int64_t k, int64_t n, float* d) { strided(s, k, n, d); });
}

}  // namespace convkit::kernels
