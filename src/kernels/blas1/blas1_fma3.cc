// AVX2 row kernels: 8-lane fused multiply-adds (gathers for strided b), masked by element
// count at the end; the lanes are added in a fixed tree.
#include <immintrin.h>

#include <cmath>

#include "kernels/blas1/blas1.h"

namespace convkit::kernels {

namespace {

inline float sum8(__m256 v) {
  const __m128 q = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));  // l, l + 4
  const __m128 d = _mm_add_ps(q, _mm_movehl_ps(q, q));
  return _mm_cvtss_f32(_mm_add_ss(d, _mm_movehdup_ps(d)));
}

}  // namespace

float blas1_f32_fma3_dot(const float* a, int64_t lda, const float* b, int64_t ldb, int64_t sb, int64_t n,
                         int64_t rows) {
  __m256 acc = _mm256_setzero_ps();
  alignas(32) float tail[8] = {0, 0, 0, 0, 0, 0, 0, 0};  // the last n % 8 columns, lane by lane
  const bool gather = sb != 1 && sb <= (int64_t{1} << 26);  // 32-bit offsets (lane * sb) fit
  const int64_t vec = sb == 1 || gather ? n / 8 * 8 : 0;
  const __m256i idx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(static_cast<int>(sb)));
  // Four accumulators (column block c of a row goes to accs[c % 4]): four FMA chains in flight.
  __m256 accs[4] = {acc, _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t r = 0; r < rows; ++r) {
    const float* ar = a + r * lda;
    const float* br = b + r * ldb;
    for (int64_t i = 0, c = 0; i < vec; i += 8, c = (c + 1) & 3) {
      const __m256 bv = sb == 1 ? _mm256_loadu_ps(br + i) : _mm256_i32gather_ps(br + i * sb, idx, 4);
      accs[c] = _mm256_fmadd_ps(_mm256_loadu_ps(ar + i), bv, accs[c]);
    }
    for (int64_t i = vec; i < n; ++i) tail[(i - vec) % 8] = std::fma(ar[i], br[i * sb], tail[(i - vec) % 8]);
  }
  const __m256 sum = _mm256_add_ps(_mm256_add_ps(accs[0], accs[2]), _mm256_add_ps(accs[1], accs[3]));
  return sum8(_mm256_add_ps(sum, _mm256_load_ps(tail)));
}

void blas1_f32_fma3_axpy(float alpha, const float* x, int64_t n, float* y, int64_t sy) {
  int64_t i = 0;
  if (sy == 1) {
    const __m256 a = _mm256_set1_ps(alpha);
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(a, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  }
  for (; i < n; ++i) y[i * sy] = std::fma(alpha, x[i], y[i * sy]);
}

}  // namespace convkit::kernels
