// AVX-512 transposing pack: 16x16 blocks in registers (unpack, shuffle, two 128-bit lane
// shuffles; stride-2 sources compacted with one permute, other strides gathered), fewer rows
// masked; 8 rows use the 8x8 AVX form.
#include <immintrin.h>

#include <algorithm>

#include "kernels/transpose/transpose.h"
#include "kernels/transpose/transpose_avx_8x8.h"

namespace convkit::kernels {

namespace {

// The maskz forms with a full mask are the plain instructions; GCC 12 warns that the plain
// intrinsics' pass-through operand (_mm512_undefined_ps) is uninitialized.
constexpr __mmask16 kAll = 0xffff;
inline __m512 unpacklo(__m512 a, __m512 b) { return _mm512_maskz_unpacklo_ps(kAll, a, b); }
inline __m512 unpackhi(__m512 a, __m512 b) { return _mm512_maskz_unpackhi_ps(kAll, a, b); }
template <int Imm>
inline __m512 shuffle(__m512 a, __m512 b) { return _mm512_maskz_shuffle_ps(kAll, a, b, Imm); }
template <int Imm>
inline __m512 lanes(__m512 a, __m512 b) { return _mm512_maskz_shuffle_f32x4(kAll, a, b, Imm); }

inline __mmask16 first(int64_t k) { return static_cast<__mmask16>(k >= 16 ? 0xffff : k <= 0 ? 0 : (1u << k) - 1); }

// p[k * ss] for k < n <= 16 (zeros past n): a load; for ss = 2 the even elements of two loads
// covering p[0 .. 2n - 2]; else a gather (ss <= 2^26: 32-bit offsets).
inline __m512 load16(const float* p, int64_t ss, int64_t n) {
  if (ss == 1) return _mm512_maskz_loadu_ps(first(n), p);
  if (ss == 2) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512 lo = _mm512_maskz_loadu_ps(first(2 * n - 1), p), hi = _mm512_maskz_loadu_ps(first(2 * n - 17), p + 16);
    return _mm512_maskz_permutex2var_ps(first(n), lo, even, hi);
  }
  const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                         _mm512_set1_epi32(static_cast<int>(ss)));
  return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), first(n), idx, p, 4);
}

// dst[k * ld + i] = s[i][(k0 + k) * ss] for i < rows and k < n (n <= 16: a short block stores
// its first n rows; rows <= 16: fewer sources are zeros in registers, masked off at the store).
// kSs 1 or 2: rows of that source stride and 16 columns, loaded without branches (rows past
// `rows` masked off, read from the last row's address) — the branches of the general load,
// kSs 0, kept the 16 vectors on the stack: 1.5x slower on cached rows.
template <int kSs>
[[gnu::always_inline]] inline void block16(const float* const* s, int64_t ss, int64_t rows, int64_t k0, int64_t n, float* dst, int64_t ld) {
  __m512 r[16], t[16];
  if constexpr (kSs == 1) {
    for (int i = 0; i < 16; ++i) r[i] = _mm512_maskz_loadu_ps(i < rows ? kAll : 0, s[i < rows ? i : rows - 1] + k0);
  } else if constexpr (kSs == 2) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    for (int i = 0; i < 16; ++i) {
      // Elements p[0 .. 30]: the second load stops at p[30].
      const float* p = s[i < rows ? i : rows - 1] + 2 * k0;
      const __mmask16 m = i < rows ? kAll : 0;
      r[i] = _mm512_maskz_permutex2var_ps(m, _mm512_maskz_loadu_ps(m, p), even, _mm512_maskz_loadu_ps(m & 0x7fff, p + 16));
    }
  } else {
    for (int i = 0; i < 16; ++i) r[i] = i < rows ? load16(s[i] + k0 * ss, ss, n) : _mm512_setzero_ps();
  }
  const __mmask16 cols = first(rows);
  for (int i = 0; i < 16; i += 2) {
    t[i] = unpacklo(r[i], r[i + 1]);
    t[i + 1] = unpackhi(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = shuffle<0x44>(t[i], t[i + 2]);
    r[i + 1] = shuffle<0xEE>(t[i], t[i + 2]);
    r[i + 2] = shuffle<0x44>(t[i + 1], t[i + 3]);
    r[i + 3] = shuffle<0xEE>(t[i + 1], t[i + 3]);
  }
  // r[4q + c] holds, in 128-bit lane L, column 4L + c of rows 4q .. 4q + 3.
  for (int c = 0; c < 4; ++c) {
    // Lanes {0,1} of quads 0 and 1, {2,3} likewise; then of quads 2 and 3.
    const __m512 a01 = lanes<0x44>(r[c], r[4 + c]);   // q0.L0 q0.L1 q1.L0 q1.L1
    const __m512 a23 = lanes<0xEE>(r[c], r[4 + c]);   // q0.L2 q0.L3 q1.L2 q1.L3
    const __m512 b01 = lanes<0x44>(r[8 + c], r[12 + c]);
    const __m512 b23 = lanes<0xEE>(r[8 + c], r[12 + c]);
    // Column 4L + c: lane L of q0, q1, q2, q3.
    const __m512 out[4] = {lanes<0x88>(a01, b01), lanes<0xDD>(a01, b01), lanes<0x88>(a23, b23),
                           lanes<0xDD>(a23, b23)};
    for (int L = 0; L < 4; ++L)
      if (4 * L + c < n) _mm512_mask_storeu_ps(dst + (4 * L + c) * ld, cols, out[L]);
  }
}

}  // namespace

void transpose_f32_16x16_avx512(const float* const* src, int64_t ss, int64_t rows, int64_t len, float* dst,
                                int64_t ld) {
  // 16 rows, or any count but the 8 the AVX form takes whole (the 6- and 12-row panels of the
  // gemm kernels would otherwise go element by element).
  if (rows <= 0) return;  // (the branch-free loads read the last row's address)
  if (rows != 8 && ss <= (int64_t{1} << 26)) {
    int64_t k = 0;
    if (ss == 1)
      for (; k + 16 <= len; k += 16) block16<1>(src, 1, rows, k, 16, dst + k * ld, ld);
    if (ss == 2)
      for (; k + 16 <= len; k += 16) block16<2>(src, 2, rows, k, 16, dst + k * ld, ld);
    for (; k < len; k += 16) block16<0>(src, ss, rows, k, std::min<int64_t>(16, len - k), dst + k * ld, ld);
    return;
  }
  transpose_by_8(src, ss, rows, len, dst, ld);
}

}  // namespace convkit::kernels
