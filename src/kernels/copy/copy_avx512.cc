// AVX-512 strided copy: stride 1 copies whole vectors and a masked tail, stride 2 picks the
// even elements of two loads with one permute (the common strided convolution); other strides
// use masked gathers.
#include <immintrin.h>

#include "kernels/copy/copy.h"

namespace convkit::kernels {

namespace {

[[gnu::always_inline]] inline void strided(const float* src, int64_t stride, int64_t n, float* dst) {
  int64_t t = 0;
  if (stride == 1) {  // a padded row's in-range run: 16 at a time, the tail masked, no call
    for (; t + 16 <= n; t += 16) _mm512_storeu_ps(dst + t, _mm512_loadu_ps(src + t));
    if (t < n) {
      const auto m = static_cast<__mmask16>((1u << (n - t)) - 1);
      _mm512_mask_storeu_ps(dst + t, m, _mm512_maskz_loadu_ps(m, src + t));
    }
    return;
  }
  if (stride == 2) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    // 16 outputs read src[2t .. 2t + 31]; the last of those must stay within the 2n - 1 readable.
    for (; t + 16 <= n - 1; t += 16) {
      const float* s = src + 2 * t;
      _mm512_storeu_ps(dst + t, _mm512_permutex2var_ps(_mm512_loadu_ps(s), even, _mm512_loadu_ps(s + 16)));
    }
    // The last r <= 16 outputs read the 2r - 1 elements from src[2t] on, through masked loads
    // (masked-off lanes are not read): short rows, such as a small layer's phase rows, stay
    // one vector step instead of a scalar loop.
    if (const int64_t r = n - t; r > 0) {
      const float* s = src + 2 * t;
      const int64_t m = 2 * r - 1;
      const auto lo = static_cast<__mmask16>(m >= 16 ? 0xffffu : (1u << m) - 1);
      const auto hi = static_cast<__mmask16>(m > 16 ? (1u << (m - 16)) - 1 : 0u);
      const __m512 v = _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(lo, s), even, _mm512_maskz_loadu_ps(hi, s + 16));
      _mm512_mask_storeu_ps(dst + t, static_cast<__mmask16>(r >= 16 ? 0xffffu : (1u << r) - 1), v);
    }
    return;
  }
  if (stride > (int64_t{1} << 26)) {  // 32-bit gather offsets (lane * stride) would overflow
    for (; t < n; ++t) dst[t] = src[t * stride];
    return;
  }
  const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                         _mm512_set1_epi32(static_cast<int>(stride)));
  for (; t < n; t += 16) {
    const __mmask16 mask = static_cast<__mmask16>(n - t >= 16 ? 0xffff : (1u << (n - t)) - 1);
    _mm512_mask_storeu_ps(dst + t, mask, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mask, idx, src + t * stride, 4));
  }
}

}  // namespace

void copy_f32_strided_avx512(const float* src, int64_t stride, int64_t n, float* dst) { strided(src, stride, n, dst); }

void copy_f32_strided_avx512_rows(const float* src, int64_t stride, int64_t n, int64_t rows, int64_t src_rs, float* dst,
                                  int64_t dst_rs) {
  for (int64_t r = 0; r < rows; ++r) strided(src + r * src_rs, stride, n, dst + r * dst_rs);
}

void copy_f32_strided_avx512_scatter(const float* src, int64_t n, float* dst, int64_t stride) {
  int64_t t = 0;
  if (stride == 1) {
    strided(src, 1, n, dst);
    return;
  }
  if (stride == 2) {
    // 16 values at a time: each half permuted into the even lanes of a vector, stored under
    // the even-lane mask (the odd elements, another phase's, are not touched).
    constexpr __mmask16 even = 0x5555;
    const __m512i lo_half = _mm512_setr_epi32(0, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0);
    const __m512i hi_half = _mm512_setr_epi32(8, 0, 9, 0, 10, 0, 11, 0, 12, 0, 13, 0, 14, 0, 15, 0);
    for (; t + 16 <= n; t += 16) {
      const __m512 v = _mm512_loadu_ps(src + t);
      _mm512_mask_storeu_ps(dst + 2 * t, even, _mm512_maskz_permutexvar_ps(even, lo_half, v));
      _mm512_mask_storeu_ps(dst + 2 * t + 16, even, _mm512_maskz_permutexvar_ps(even, hi_half, v));
    }
    if (const int64_t r = n - t; r > 0) {  // r < 16 values: 2r - 1 elements from dst[2t] on
      const __m512 v = _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << r) - 1), src + t);
      const int64_t m = 2 * r - 1;
      const auto lo = static_cast<__mmask16>(even & (m >= 16 ? 0xffffu : (1u << m) - 1));
      const auto hi = static_cast<__mmask16>(even & (m > 16 ? (1u << (m - 16)) - 1 : 0u));
      _mm512_mask_storeu_ps(dst + 2 * t, lo, _mm512_maskz_permutexvar_ps(even, lo_half, v));
      if (hi) _mm512_mask_storeu_ps(dst + 2 * t + 16, hi, _mm512_maskz_permutexvar_ps(even, hi_half, v));
    }
    return;
  }
  for (; t < n; ++t) dst[t * stride] = src[t];
}

void copy_f32_strided_avx512_interleave(const float* a, int64_t na, const float* b, int64_t nb, float* dst) {
  const int64_t n = nb;  // pairs; a's lone last element after them
  // Lanes 0-15 of a and b as (a0 b0 a1 b1 ... a7 b7) and (a8 b8 ... a15 b15).
  const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  for (int64_t t = 0; t < n; t += 16) {
    const int64_t r = n - t;  // the last step's r < 16 pairs: masked loads and stores
    const auto m = static_cast<__mmask16>(r >= 16 ? 0xffffu : (1u << r) - 1);
    const __m512 va = _mm512_maskz_loadu_ps(m, a + t), vb = _mm512_maskz_loadu_ps(m, b + t);
    const auto m0 = static_cast<__mmask16>(r >= 8 ? 0xffffu : (1u << (2 * r)) - 1);
    const auto m1 = static_cast<__mmask16>(r >= 16 ? 0xffffu : r <= 8 ? 0u : (1u << (2 * (r - 8))) - 1);
    _mm512_mask_storeu_ps(dst + 2 * t, m0, _mm512_permutex2var_ps(va, lo, vb));
    if (m1 != 0) _mm512_mask_storeu_ps(dst + 2 * t + 16, m1, _mm512_permutex2var_ps(va, hi, vb));
  }
  if (na > nb) dst[2 * nb] = a[nb];
}


// Runs of at most 16 with stride 1 or 2: the in-range columns of each row compacted into the
// first lanes (an expanding load, or the even elements of two loads) and expanded to their
// lanes, one masked store per row; other runs as the strided copy with zeros around.
void copy_f32_strided_avx512_windows(const float* const* rows, int64_t nrows, int64_t iw0, int64_t st, int64_t S,
                                     int64_t run, float* dst) {
  int64_t a = 0, z = 0;
  window_inside(iw0, st, S, run, a, z);
  if (run <= 16 && st <= 2) {
    const auto lanes = [](int64_t n) { return static_cast<__mmask16>(n <= 0 ? 0 : n >= 16 ? 0xffff : (1u << n) - 1); };
    const __mmask16 inside = static_cast<__mmask16>(lanes(z) & ~lanes(a)), all = lanes(run);
    const int64_t span = 2 * (z - a) - 1;  // stride 2: the elements from the first read to the last
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    for (int64_t r = 0; r < nrows; ++r) {
      __m512 v = _mm512_setzero_ps();
      if (rows[r] != nullptr && z > a) {
        const float* p = rows[r] + iw0 + a * st;
        if (st == 1) {
          v = _mm512_maskz_expandloadu_ps(inside, p);
        } else {
          const __m512 c = _mm512_maskz_permutex2var_ps(0xffff, _mm512_maskz_loadu_ps(lanes(span), p), even,
                                                        _mm512_maskz_loadu_ps(lanes(span - 16), p + 16));
          v = _mm512_maskz_expand_ps(inside, c);
        }
      }
      _mm512_mask_storeu_ps(dst + r * run, all, v);
    }
    return;
  }
  windows_by_rows(rows, nrows, iw0, st, S, run, dst,
                  [](const float* s, int64_t k, int64_t n, float* d) { strided(s, k, n, d); });
}

}  // namespace convkit::kernels
