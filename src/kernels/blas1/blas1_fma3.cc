// AVX2 row kernels: 8-lane fused multiply-adds (gathers for strided b), masked by element
// count at the end; the lanes are added in a fixed tree.
#include <immintrin.h>

#include <array>
#include <cmath>
#include <utility>

#include "kernels/blas1/blas1.h"

namespace convkit::kernels {

namespace {

inline float sum8(__m256 v) {
  const __m128 q = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));  // l, l + 4
  const __m128 d = _mm_add_ps(q, _mm_movehl_ps(q, q));
  return _mm_cvtss_f32(_mm_add_ss(d, _mm_movehdup_ps(d)));
}

}  // namespace

namespace {

// Row r's whole 8-column blocks: block k of each run of four goes to acc[k] (named
// accumulators, so they stay in registers: four FMA chains in flight); the last n % 8 columns
// lane by lane into tail. kUnit: b's columns are adjacent, else gathered.
template <bool kUnit>
float dot_rows(const float* a, int64_t lda, const float* b, int64_t ldb, int64_t sb, int64_t n, int64_t rows) {
  alignas(32) float tail[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  const __m256i idx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(static_cast<int>(sb)));
  auto load_b = [&](const float* br, int64_t i) {
    if constexpr (kUnit) return _mm256_loadu_ps(br + i);
    else return _mm256_i32gather_ps(br + i * sb, idx, 4);
  };
  const int64_t vec = n / 8 * 8;
  __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* ar = a + r * lda;
    const float* br = b + r * ldb;
    int64_t i = 0;
    for (; i + 32 <= vec; i += 32) {
      acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(ar + i), load_b(br, i), acc0);
      acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(ar + i + 8), load_b(br, i + 8), acc1);
      acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(ar + i + 16), load_b(br, i + 16), acc2);
      acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(ar + i + 24), load_b(br, i + 24), acc3);
    }
    if (i < vec) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(ar + i), load_b(br, i), acc0);
    if (i + 8 < vec) acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(ar + i + 8), load_b(br, i + 8), acc1);
    if (i + 16 < vec) acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(ar + i + 16), load_b(br, i + 16), acc2);
    for (int64_t k = vec; k < n; ++k) tail[k - vec] = std::fma(ar[k], br[k * sb], tail[k - vec]);
  }
  const __m256 sum = _mm256_add_ps(_mm256_add_ps(acc0, acc2), _mm256_add_ps(acc1, acc3));
  return sum8(_mm256_add_ps(sum, _mm256_load_ps(tail)));
}

}  // namespace

float blas1_f32_fma3_dot(const float* a, int64_t lda, const float* b, int64_t ldb, int64_t sb, int64_t n,
                         int64_t rows) {
  if (sb > (int64_t{1} << 26)) {  // 32-bit gather offsets (lane * sb) would overflow
    float s = 0;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t k = 0; k < n; ++k) s = std::fma(a[r * lda + k], b[r * ldb + k * sb], s);
    return s;
  }
  return sb == 1 ? dot_rows<true>(a, lda, b, ldb, sb, n, rows) : dot_rows<false>(a, lda, b, ldb, sb, n, rows);
}

namespace {

// T taps: per 8 columns of a row, a loaded once and T FMAs into T named accumulators (an
// array indexed by constants after unrolling: registers); the last n % 8 columns masked.
template <int T, bool kSumA>
void dot_taps_t(const float* a, int64_t lda, const float* b, int64_t ldb, const int64_t* off, int64_t n,
                int64_t rows, float* out) {
  __m256 acc[T], sa = _mm256_setzero_ps();
#pragma GCC unroll 12
  for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
  const int64_t rest = n % 8;
  const __m256i tail = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(rest)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  for (int64_t r = 0; r < rows; ++r) {
    const float* ar = a + r * lda;
    const float* br = b + r * ldb;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      const __m256 av = _mm256_loadu_ps(ar + i);
      if constexpr (kSumA) sa = _mm256_add_ps(sa, av);
#pragma GCC unroll 12
      for (int t = 0; t < T; ++t) acc[t] = _mm256_fmadd_ps(av, _mm256_loadu_ps(br + off[t] + i), acc[t]);
    }
    if (rest > 0) {
      const __m256 av = _mm256_maskload_ps(ar + i, tail);
      if constexpr (kSumA) sa = _mm256_add_ps(sa, av);
#pragma GCC unroll 12
      for (int t = 0; t < T; ++t) acc[t] = _mm256_fmadd_ps(av, _mm256_maskload_ps(br + off[t] + i, tail), acc[t]);
    }
  }
#pragma GCC unroll 12
  for (int t = 0; t < T; ++t) out[t] = sum8(acc[t]);
  if constexpr (kSumA) out[T] = sum8(sa);
}

template <bool kSumA, int... T>
constexpr auto dot_taps_table(std::integer_sequence<int, T...>) {
  return std::array<void (*)(const float*, int64_t, const float*, int64_t, const int64_t*, int64_t, int64_t, float*),
                    sizeof...(T)>{dot_taps_t<T + 1, kSumA>...};
}

}  // namespace

void blas1_f32_fma3_dot_taps(const float* a, int64_t lda, const float* b, int64_t ldb, const int64_t* off,
                             int64_t taps, int64_t n, int64_t rows, float* out, bool sum_a) {
  static constexpr auto kTable = dot_taps_table<false>(std::make_integer_sequence<int, kDotTapsMax>());
  static constexpr auto kTableSum = dot_taps_table<true>(std::make_integer_sequence<int, kDotTapsMax>());
  (sum_a ? kTableSum : kTable)[static_cast<std::size_t>(taps - 1)](a, lda, b, ldb, off, n, rows, out);
}

void blas1_f32_fma3_taps_sum(const float* const* rows, const float* w, int64_t taps, int64_t n, float init,
                             float* out) {
  // 16 outputs per pass in two accumulators (two FMA chains), then the rest one at a time.
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256 a0 = _mm256_set1_ps(init), a1 = a0;
    for (int64_t t = 0; t < taps; ++t) {
      const __m256 wt = _mm256_set1_ps(w[t]);
      a0 = _mm256_fmadd_ps(wt, _mm256_loadu_ps(rows[t] + i), a0);
      a1 = _mm256_fmadd_ps(wt, _mm256_loadu_ps(rows[t] + i + 8), a1);
    }
    _mm256_storeu_ps(out + i, a0);
    _mm256_storeu_ps(out + i + 8, a1);
  }
  for (; i < n; ++i) {
    float v = init;
    for (int64_t t = 0; t < taps; ++t) v = std::fma(w[t], rows[t][i], v);
    out[i] = v;
  }
}

void blas1_f32_fma3_axpy(float alpha, const float* x, int64_t n, float* y, int64_t sy) {
  int64_t i = 0;
  if (sy == 1) {
    const __m256 a = _mm256_set1_ps(alpha);
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(a, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  }
  for (; i < n; ++i) y[i * sy] = std::fma(alpha, x[i], y[i * sy]);
}

// One axpy per row (vectorized for stride 1).
void blas1_f32_fma3_add_taps(const float* c, int64_t ldc, const int64_t* off, int64_t taps, int64_t n, int64_t st,
                             float* y, int64_t lo, int64_t hi) {
  for (int64_t t = 0; t < taps; ++t) {
    int64_t j0 = 0, j1 = 0;
    tap_range(off[t], n, st, lo, hi, j0, j1);
    if (j1 > j0) blas1_f32_fma3_axpy(1.0f, c + t * ldc + j0, j1 - j0, y + off[t] + j0 * st, st);
  }
}

// (Without the shared loads: dot_taps over the 9 offsets.)
void blas1_f32_fma3_dot_taps3x3(const float* a, int64_t lda, const float* b, int64_t ldb, const int64_t* off, int64_t n,
                          int64_t rows, float* out, bool sum_a) {
  const int64_t taps[9] = {off[0], off[1], off[2], off[0] + ldb, off[1] + ldb, off[2] + ldb,
                           off[0] + 2 * ldb, off[1] + 2 * ldb, off[2] + 2 * ldb};
  blas1_f32_fma3_dot_taps(a, lda, b, ldb, taps, 9, n, rows, out, sum_a);
}

}  // namespace convkit::kernels
