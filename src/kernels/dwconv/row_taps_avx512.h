// The three tap vectors of a 3 x 3 window's input row, made in AVX-512 registers from the
// unpadded row (zeros padding): shared by the depthwise forward (dwconv) and weight gradient
// (blas1) kernels that read input planes in place. Included by AVX-512 kernel files only.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace convkit::kernels {
namespace row_taps {

// Lanes for the columns [c, c + 16) below n: zero when none are.
inline __mmask16 below(int64_t n, int64_t c) {
  return n - c <= 0 ? 0 : n - c >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << (n - c)) - 1);
}

// Lane l of concat(hi : lo) shifted down by S lanes: lo[l + S] or hi[l + S - 16].
template <int S>
inline __m512 shift(__m512 hi, __m512 lo) {
  // (maskz form: GCC 12 warns that the plain one's pass-through operand is uninitialized)
  return _mm512_castsi512_ps(_mm512_maskz_alignr_epi32(0xffff, _mm512_castps_si512(hi), _mm512_castps_si512(lo), S));
}

// The load masks of one block of 16 outputs at column i (the same for every row of a pass):
// the columns below w of the loads next() makes.
struct BlockMasks {
  __mmask16 m0, m1, m2;
};
template <int SW, int PW>
BlockMasks block_masks(int64_t w, int64_t i) {
  if constexpr (SW == 1) return {below(w, i + 16), 0, 0};
  else return {below(w, 2 * i), below(w, 2 * i + 16), static_cast<__mmask16>(below(w, 2 * i + 32) & 1)};
}

// One input row's three tap vectors for the output columns [i, i + 16): t[kw] lane l holds
// X(row, (i + l) sw + kw - pw), zero past the row's ends. Called for i = 0, 16, 32 ... in
// order after start(); it keeps what the next block reuses (the previous or current block),
// so each input element is loaded once per row pass and shifted in registers (an unaligned
// load per tap split cache lines and ran 1.7x slower).
template <int SW, int PW>
struct RowTaps {
  // SW 1: the current block (cur) and, for PW 1, the previous one (keep); SW 2, PW 1: the
  // previous block's odd columns (keep).
  __m512 keep = _mm512_setzero_ps(), cur = _mm512_setzero_ps();
  void start(const float* row, int64_t w) {
    keep = _mm512_setzero_ps();
    if constexpr (SW == 1) cur = _mm512_maskz_loadu_ps(below(w, 0), row);
  }
  void next(const float* row, int64_t i, const BlockMasks& bm, __m512 t[3]) {
    if constexpr (SW == 1) {
      const __m512 nx = _mm512_maskz_loadu_ps(bm.m0, row + i + 16);
      if constexpr (PW == 1) t[0] = shift<15>(cur, keep), t[1] = cur, t[2] = shift<1>(nx, cur);
      else t[0] = cur, t[1] = shift<1>(nx, cur), t[2] = shift<2>(nx, cur);
      keep = cur;
      cur = nx;
    } else {
      const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
      const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
      const int64_t c = 2 * i;
      const __m512 lo = _mm512_maskz_loadu_ps(bm.m0, row + c), hi = _mm512_maskz_loadu_ps(bm.m1, row + c + 16);
      const __m512 e = _mm512_permutex2var_ps(lo, even, hi), o = _mm512_permutex2var_ps(lo, odd, hi);
      if constexpr (PW == 1) {
        t[0] = shift<15>(o, keep), t[1] = e, t[2] = o;
        keep = o;
      } else {  // X(2 (i + l) + 2): the even columns one lane on, the last from the next block
        t[0] = e, t[1] = o, t[2] = shift<1>(_mm512_maskz_loadu_ps(bm.m2, row + c + 32), e);
      }
    }
  }
};

// The Q input rows of one pass, rows ir0 .. ir0 + Q - 1 of an h-row plane (pitch floats
// apart): rows[q] null where the row is outside the plane or unused (q >= 3 without a second
// output row), the others' taps started.
template <int SW, int PW, int Q>
inline void start_pass(const float* x, int64_t pitch, int64_t h, int64_t w, int64_t ir0, bool two,
                       const float* (&rows)[Q], RowTaps<SW, PW> (&taps)[Q]) {
#pragma GCC unroll 5
  for (int q = 0; q < Q; ++q) {
    const int64_t ir = ir0 + q;
    rows[q] = (q < 3 || two) && ir >= 0 && ir < h ? x + ir * pitch : nullptr;
    if (rows[q] != nullptr) taps[q].start(rows[q], w);
  }
}

}  // namespace row_taps
}  // namespace convkit::kernels
