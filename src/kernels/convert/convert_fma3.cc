// AVX2 + F16C 16-bit conversions, 16 elements per step (the tail by the scalar rules).
#include <immintrin.h>

#include "convkit/dtype.h"
#include "kernels/convert/convert.h"

namespace convkit::kernels {

namespace {

// vcvtps2ph keeps a NaN's sign and top payload bits; the scalar rule makes every NaN sign | 0x7e00.
inline __m128i quiet_nans_f16(__m128i h) {
  const __m128i magnitude = _mm_and_si128(h, _mm_set1_epi16(0x7fff));
  const __m128i nan = _mm_cmpgt_epi16(magnitude, _mm_set1_epi16(0x7c00));
  const __m128i canonical = _mm_or_si128(_mm_and_si128(h, _mm_set1_epi16(static_cast<short>(0x8000))),
                                         _mm_set1_epi16(0x7e00));
  return _mm_blendv_epi8(h, canonical, nan);
}

// Eight floats rounded to bfloat16 (ties to even, NaN -> 0x7fc0), in the low 16 bits of each lane.
inline __m256i round_bf16(__m256 v) {
  const __m256i x = _mm256_castps_si256(v);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(1));
  const __m256i r = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(x, _mm256_set1_epi32(0x7fff)), lsb), 16);
  const __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  return _mm256_blendv_epi8(r, _mm256_set1_epi32(0x7fc0), nan);
}

}  // namespace

void convert_fma3_f16_to_f32(const uint16_t* src, int64_t n, float* dst) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    __m256 f = _mm256_cvtph_ps(h);
    // vcvtph2ps quiets a signaling NaN; the scalar rule keeps its bits: sign, all-ones exponent, payload.
    const __m128i nan16 = _mm_cmpgt_epi16(_mm_and_si128(h, _mm_set1_epi16(0x7fff)), _mm_set1_epi16(0x7c00));
    if (_mm_movemask_epi8(nan16) != 0) {
      const __m256i w = _mm256_cvtepu16_epi32(h);
      const __m256i bits = _mm256_or_si256(
          _mm256_or_si256(_mm256_slli_epi32(_mm256_and_si256(w, _mm256_set1_epi32(0x8000)), 16),
                          _mm256_slli_epi32(_mm256_and_si256(w, _mm256_set1_epi32(0x3ff)), 13)),
          _mm256_set1_epi32(0x7f800000));
      f = _mm256_blendv_ps(f, _mm256_castsi256_ps(bits), _mm256_castsi256_ps(_mm256_cvtepi16_epi32(nan16)));
    }
    _mm256_storeu_ps(dst + i, f);
  }
  for (; i < n; ++i) dst[i] = Half::to_float(src[i]);
}

void convert_fma3_f32_to_f16(const float* src, int64_t n, uint16_t* dst) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), quiet_nans_f16(h));
  }
  for (; i < n; ++i) dst[i] = Half::from_float(src[i]);
}

void convert_fma3_bf16_to_f32(const uint16_t* src, int64_t n, float* dst) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i)));
    _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
  }
  for (; i < n; ++i) dst[i] = BFloat16::to_float(src[i]);
}

void convert_fma3_f32_to_bf16(const float* src, int64_t n, uint16_t* dst) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    // packus interleaves the 128-bit halves: [a0-3 b0-3 a4-7 b4-7]; the permute puts them in order.
    const __m256i packed = _mm256_packus_epi32(round_bf16(_mm256_loadu_ps(src + i)), round_bf16(_mm256_loadu_ps(src + i + 8)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), _mm256_permute4x64_epi64(packed, 0xD8));
  }
  for (; i < n; ++i) dst[i] = BFloat16::from_float(src[i]);
}

void convert_fma3_pairs(const uint16_t* a, const uint16_t* b, int64_t stride, int64_t n, uint32_t* dst) {
  int64_t j = 0;
  for (; stride == 1 && j + 8 <= n; j += 8) {  // zero-extended a | b shifted up, 8 slots at a time
    const __m256i lo = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + j)));
    const __m256i hi = b ? _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + j))), 16)
                         : _mm256_setzero_si256();
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + j), _mm256_or_si256(lo, hi));
  }
  for (; j < n; ++j) dst[j] = a[j * stride] | (b ? static_cast<uint32_t>(b[j * stride]) << 16 : 0u);
}

}  // namespace convkit::kernels
