// AVX-512 16-bit conversions, 16 elements per step, the tail masked.
#include <immintrin.h>

#include <algorithm>

#include "kernels/convert/convert.h"

namespace convkit::kernels {

namespace {

// The maskz forms with a full mask are the plain instructions; GCC 12 warns that the plain
// intrinsics' pass-through operand is uninitialized.
constexpr __mmask16 kAll = 0xffff;

inline __mmask16 tail_mask(int64_t left) {
  return static_cast<__mmask16>(left >= 16 ? 0xffff : (1u << left) - 1);
}

// vcvtps2ph keeps a NaN's sign and top payload bits; the scalar rule makes every NaN sign | 0x7e00.
inline __m256i quiet_nans_f16(__m256i h) {
  const __m256i magnitude = _mm256_and_si256(h, _mm256_set1_epi16(0x7fff));
  const __mmask16 nan = _mm256_cmpgt_epi16_mask(magnitude, _mm256_set1_epi16(0x7c00));
  const __m256i canonical = _mm256_or_si256(_mm256_and_si256(h, _mm256_set1_epi16(static_cast<short>(0x8000))),
                                            _mm256_set1_epi16(0x7e00));
  return _mm256_mask_blend_epi16(nan, h, canonical);
}

// Sixteen floats rounded to bfloat16 (ties to even, NaN -> 0x7fc0).
inline __m256i round_bf16(__m512 v) {
  const __m512i x = _mm512_castps_si512(v);
  const __m512i lsb = _mm512_maskz_and_epi32(kAll, _mm512_maskz_srli_epi32(kAll, x, 16), _mm512_set1_epi32(1));
  const __m512i sum = _mm512_maskz_add_epi32(kAll, _mm512_maskz_add_epi32(kAll, x, _mm512_set1_epi32(0x7fff)), lsb);
  __m512i r = _mm512_maskz_srli_epi32(kAll, sum, 16);
  r = _mm512_mask_mov_epi32(r, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), _mm512_set1_epi32(0x7fc0));
  return _mm512_maskz_cvtepi32_epi16(kAll, r);
}

}  // namespace

void convert_avx512_f16_to_f32(const uint16_t* src, int64_t n, float* dst) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    const __m256i h = _mm256_maskz_loadu_epi16(m, src + i);
    __m512 f = _mm512_maskz_cvtph_ps(kAll, h);
    // vcvtph2ps quiets a signaling NaN; the scalar rule keeps its bits: sign, all-ones exponent, payload.
    const __mmask16 nan = _mm256_cmpgt_epi16_mask(_mm256_and_si256(h, _mm256_set1_epi16(0x7fff)), _mm256_set1_epi16(0x7c00));
    if (nan != 0) {
      const __m512i w = _mm512_maskz_cvtepu16_epi32(kAll, h);
      const __m512i sign = _mm512_maskz_slli_epi32(kAll, _mm512_maskz_and_epi32(kAll, w, _mm512_set1_epi32(0x8000)), 16);
      const __m512i payload = _mm512_maskz_slli_epi32(kAll, _mm512_maskz_and_epi32(kAll, w, _mm512_set1_epi32(0x3ff)), 13);
      const __m512i bits = _mm512_maskz_or_epi32(kAll, _mm512_maskz_or_epi32(kAll, sign, payload), _mm512_set1_epi32(0x7f800000));
      f = _mm512_mask_mov_ps(f, nan, _mm512_castsi512_ps(bits));
    }
    _mm512_mask_storeu_ps(dst + i, m, f);
  }
}

void convert_avx512_f32_to_f16(const float* src, int64_t n, uint16_t* dst) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    const __m256i h = _mm512_maskz_cvtps_ph(kAll, _mm512_maskz_loadu_ps(m, src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm256_mask_storeu_epi16(dst + i, m, quiet_nans_f16(h));
  }
}

void convert_avx512_bf16_to_f32(const uint16_t* src, int64_t n, float* dst) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    const __m512i w = _mm512_maskz_cvtepu16_epi32(kAll, _mm256_maskz_loadu_epi16(m, src + i));
    _mm512_mask_storeu_ps(dst + i, m, _mm512_castsi512_ps(_mm512_maskz_slli_epi32(kAll, w, 16)));
  }
}

void convert_avx512_f32_to_bf16(const float* src, int64_t n, uint16_t* dst) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    _mm256_mask_storeu_epi16(dst + i, m, round_bf16(_mm512_maskz_loadu_ps(m, src + i)));
  }
}

void convert_avx512_pairs(const uint16_t* a, const uint16_t* b, int64_t stride, int64_t n, uint32_t* dst) {
  if (stride == 1) {  // zero-extended a | b shifted up
    for (int64_t j = 0; j < n; j += 16) {
      const __mmask16 m = tail_mask(n - j);
      const __m512i lo = _mm512_maskz_cvtepu16_epi32(kAll, _mm256_maskz_loadu_epi16(m, a + j));
      const __m512i hi = b ? _mm512_maskz_slli_epi32(kAll, _mm512_maskz_cvtepu16_epi32(kAll, _mm256_maskz_loadu_epi16(m, b + j)), 16)
                           : _mm512_setzero_si512();
      _mm512_mask_storeu_epi32(dst + j, m, _mm512_maskz_or_epi32(kAll, lo, hi));
    }
    return;
  }
  if (stride == 2) {  // 32-bit loads: the even element is the low half (a's kept, b's shifted up)
    for (int64_t j = 0; j < n; j += 16) {
      const int64_t left = n - j;
      const __mmask16 m = tail_mask(left);
      // a[2t] for t < min(left, 16): the odd element after the last is not read.
      const __mmask32 m16 = static_cast<__mmask32>((1ull << (2 * std::min<int64_t>(left, 16) - 1)) - 1);
      const __m512i av = _mm512_maskz_loadu_epi16(m16, a + 2 * j);
      const __m512i lo = _mm512_maskz_and_epi32(kAll, av, _mm512_set1_epi32(0xffff));
      const __m512i hi = b ? _mm512_maskz_slli_epi32(kAll, _mm512_maskz_loadu_epi16(m16, b + 2 * j), 16) : _mm512_setzero_si512();
      _mm512_mask_storeu_epi32(dst + j, m, _mm512_maskz_or_epi32(kAll, lo, hi));
    }
    return;
  }
  for (int64_t j = 0; j < n; ++j) dst[j] = a[j * stride] | (b ? static_cast<uint32_t>(b[j * stride]) << 16 : 0u);
}

}  // namespace convkit::kernels
