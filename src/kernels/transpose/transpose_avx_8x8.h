// The 8 x 8 AVX block of the transposing pack, shared by the AVX2 and AVX-512 files (both
// compiled with AVX2 enabled; AVX-512 uses it for 8-row panels).
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace convkit::kernels {

// Eight elements p[0], p[ss], ..., p[7 ss]: a load; for ss = 2 the even elements of p[0 .. 7]
// and p[7 .. 14] (two loads that stop at the last element read); else a gather (ss <= 2^26:
// 32-bit offsets).
inline __m256 load8(const float* p, int64_t ss) {
  if (ss == 1) return _mm256_loadu_ps(p);
  if (ss == 2) {
    const __m256 lo = _mm256_loadu_ps(p), hi = _mm256_loadu_ps(p + 7);
    const __m256 e = _mm256_shuffle_ps(lo, hi, 0xD8);  // p0 p2 p8 p10 | p4 p6 p12 p14
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8));
  }
  const __m256i idx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(static_cast<int>(ss)));
  return _mm256_i32gather_ps(p, idx, 4);
}

// dst[k * ld + i] = s[i][(k0 + k) * ss] for i < rows (1 <= rows <= 8) and k < 8: rows past
// `rows` load the last row again and are not stored (masked stores of the first rows lanes).
inline void transpose_block8(const float* const* s, int64_t ss, int64_t rows, int64_t k0, float* dst, int64_t ld) {
  __m256 r[8], t[8];
  for (int i = 0; i < 8; ++i) r[i] = load8(s[i < rows ? i : rows - 1] + k0 * ss, ss);
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
    r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  // r[c] (rows 0-3) and r[4 + c] (rows 4-7) hold columns c (low lane) and 4 + c (high lane).
  const __m256i keep = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(rows)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  for (int c = 0; c < 4; ++c) {
    const __m256 lo = _mm256_permute2f128_ps(r[c], r[c + 4], 0x20), hi = _mm256_permute2f128_ps(r[c], r[c + 4], 0x31);
    if (rows == 8) {
      _mm256_storeu_ps(dst + c * ld, lo);
      _mm256_storeu_ps(dst + (c + 4) * ld, hi);
    } else {
      _mm256_maskstore_ps(dst + c * ld, keep, lo);
      _mm256_maskstore_ps(dst + (c + 4) * ld, keep, hi);
    }
  }
}

// The element-by-element rest: rows [i0, rows) for every k, and columns [k0, len) of rows < i0.
inline void transpose_rest(const float* const* src, int64_t ss, int64_t i0, int64_t k0, int64_t rows, int64_t len,
                           float* dst, int64_t ld) {
  for (int64_t k = k0; k < len; ++k)
    for (int64_t i = 0; i < i0; ++i) dst[k * ld + i] = src[i][k * ss];
  for (int64_t i = i0; i < rows; ++i)
    for (int64_t k = 0; k < len; ++k) dst[k * ld + i] = src[i][k * ss];
}

// Blocks of 8 rows and 8 columns; a last block of 4-7 rows masked (the 6-row panels of the
// AVX2 gemm kernel went element by element, 3x slower), 1-3 rows and the last len % 8 columns
// element by element (both AVX files; sources strided beyond 2^26 go element by element).
inline void transpose_by_8(const float* const* src, int64_t ss, int64_t rows, int64_t len, float* dst, int64_t ld) {
  const int64_t blocked = ss > (int64_t{1} << 26) ? 0 : rows % 8 >= 4 ? rows : rows / 8 * 8, len8 = len / 8 * 8;
  for (int64_t i = 0; i < blocked; i += 8)
    for (int64_t k = 0; k < len8; k += 8)
      transpose_block8(src + i, ss, blocked - i < 8 ? blocked - i : 8, k, dst + k * ld + i, ld);
  transpose_rest(src, ss, blocked, len8, rows, len, dst, ld);
}

}  // namespace convkit::kernels
