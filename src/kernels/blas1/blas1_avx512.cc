// AVX-512 row kernels: 16-lane fused multiply-adds (gathers for strided b) with a masked tail;
// the lanes are added in a fixed tree.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>

#include "kernels/blas1/blas1.h"
#include "kernels/dwconv/row_taps_avx512.h"

namespace convkit::kernels {

namespace {

inline __mmask16 first(int64_t k) { return static_cast<__mmask16>(k >= 16 ? 0xffff : (1u << k) - 1); }

inline float sum16(__m512 v) {
  alignas(64) float l[16];
  _mm512_store_ps(l, v);
  float s8[8];
  for (int i = 0; i < 8; ++i) s8[i] = l[i] + l[i + 8];
  const float s4[4] = {s8[0] + s8[4], s8[1] + s8[5], s8[2] + s8[6], s8[3] + s8[7]};
  return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

}  // namespace

namespace {

// Row r's columns in blocks of 16: block k of each run of four goes to acc[k] (named
// accumulators, so they stay in registers: four FMA chains in flight); the last partial run's
// blocks likewise, the last one masked. kUnit: b's columns are adjacent, else gathered.
template <bool kUnit>
float dot_rows(const float* a, int64_t lda, const float* b, int64_t ldb, int64_t sb, int64_t n, int64_t rows) {
  const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                         _mm512_set1_epi32(static_cast<int>(sb)));
  auto load_b = [&](const float* br, int64_t i, __mmask16 m) {
    if constexpr (kUnit) return _mm512_maskz_loadu_ps(m, br + i);
    else return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, br + i * sb, 4);
  };
  __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* ar = a + r * lda;
    const float* br = b + r * ldb;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
      acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(ar + i), load_b(br, i, 0xffff), acc0);
      acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(ar + i + 16), load_b(br, i + 16, 0xffff), acc1);
      acc2 = _mm512_fmadd_ps(_mm512_loadu_ps(ar + i + 32), load_b(br, i + 32, 0xffff), acc2);
      acc3 = _mm512_fmadd_ps(_mm512_loadu_ps(ar + i + 48), load_b(br, i + 48, 0xffff), acc3);
    }
    if (i < n) {
      const __mmask16 m = first(n - i);
      acc0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, ar + i), load_b(br, i, m), acc0);
    }
    if (i + 16 < n) {
      const __mmask16 m = first(n - i - 16);
      acc1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, ar + i + 16), load_b(br, i + 16, m), acc1);
    }
    if (i + 32 < n) {
      const __mmask16 m = first(n - i - 32);
      acc2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, ar + i + 32), load_b(br, i + 32, m), acc2);
    }
    if (i + 48 < n) {
      const __mmask16 m = first(n - i - 48);
      acc3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, ar + i + 48), load_b(br, i + 48, m), acc3);
    }
  }
  return sum16(_mm512_add_ps(_mm512_add_ps(acc0, acc2), _mm512_add_ps(acc1, acc3)));
}

}  // namespace

float blas1_f32_avx512_dot(const float* a, int64_t lda, const float* b, int64_t ldb, int64_t sb, int64_t n,
                           int64_t rows) {
  if (sb > (int64_t{1} << 26)) {  // 32-bit gather offsets (lane * sb) would overflow
    float s = 0;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < n; ++i) s = std::fma(a[r * lda + i], b[r * ldb + i * sb], s);
    return s;
  }
  return sb == 1 ? dot_rows<true>(a, lda, b, ldb, sb, n, rows) : dot_rows<false>(a, lda, b, ldb, sb, n, rows);
}

namespace {

// T taps: per 16 columns of a row, a loaded once and T FMAs into T named accumulators (an
// array indexed by constants after unrolling: registers).
template <int T, bool kSumA>
void dot_taps_t(const float* a, int64_t lda, const float* b, int64_t ldb, const int64_t* off, int64_t n,
                int64_t rows, float* out) {
  __m512 acc[T], sa = _mm512_setzero_ps();
#pragma GCC unroll 12
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t r = 0; r < rows; ++r) {
    const float* ar = a + r * lda;
    const float* br = b + r * ldb;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
      const __m512 av = _mm512_loadu_ps(ar + i);
      if constexpr (kSumA) sa = _mm512_add_ps(sa, av);
#pragma GCC unroll 12
      for (int t = 0; t < T; ++t) acc[t] = _mm512_fmadd_ps(av, _mm512_loadu_ps(br + off[t] + i), acc[t]);
    }
    if (i < n) {
      const __mmask16 m = first(n - i);
      const __m512 av = _mm512_maskz_loadu_ps(m, ar + i);
      if constexpr (kSumA) sa = _mm512_add_ps(sa, av);
#pragma GCC unroll 12
      for (int t = 0; t < T; ++t) acc[t] = _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(m, br + off[t] + i), acc[t]);
    }
  }
#pragma GCC unroll 12
  for (int t = 0; t < T; ++t) out[t] = sum16(acc[t]);
  if constexpr (kSumA) out[T] = sum16(sa);
}

template <bool kSumA, int... T>
constexpr auto dot_taps_table(std::integer_sequence<int, T...>) {
  return std::array<void (*)(const float*, int64_t, const float*, int64_t, const int64_t*, int64_t, int64_t, float*),
                    sizeof...(T)>{dot_taps_t<T + 1, kSumA>...};
}

}  // namespace

void blas1_f32_avx512_dot_taps(const float* a, int64_t lda, const float* b, int64_t ldb, const int64_t* off,
                               int64_t taps, int64_t n, int64_t rows, float* out, bool sum_a) {
  static constexpr auto kTable = dot_taps_table<false>(std::make_integer_sequence<int, kDotTapsMax>());
  static constexpr auto kTableSum = dot_taps_table<true>(std::make_integer_sequence<int, kDotTapsMax>());
  (sum_a ? kTableSum : kTable)[static_cast<std::size_t>(taps - 1)](a, lda, b, ldb, off, n, rows, out);
}

void blas1_f32_avx512_dot_taps3x3(const float* a, int64_t lda, const float* b, int64_t ldb, const int64_t* off,
                                  int64_t n, int64_t rows, float* out, bool sum_a) {
  __m512 acc[9], sa = _mm512_setzero_ps();
#pragma GCC unroll 9
  for (int t = 0; t < 9; ++t) acc[t] = _mm512_setzero_ps();
  const int64_t o0 = off[0], o1 = off[1], o2 = off[2];
  // Rows r and r + 1 (16 columns at a time): b row q = 0..3 below r feeds kernel row q of
  // output row r and kernel row q - 1 of output row r + 1.
  int64_t r = 0;
  for (; r + 2 <= rows; r += 2) {
    const float* a0 = a + r * lda;
    const float* a1 = a0 + lda;
    const float* br = b + r * ldb;
    for (int64_t i = 0; i < n; i += 16) {
      const __mmask16 m = first(n - i);
      const __m512 v0 = _mm512_maskz_loadu_ps(m, a0 + i), v1 = _mm512_maskz_loadu_ps(m, a1 + i);
      if (sum_a) sa = _mm512_add_ps(sa, _mm512_add_ps(v0, v1));
#pragma GCC unroll 4
      for (int q = 0; q < 4; ++q) {
        const float* bq = br + q * ldb + i;
        const __m512 p[3] = {_mm512_maskz_loadu_ps(m, bq + o0), _mm512_maskz_loadu_ps(m, bq + o1), _mm512_maskz_loadu_ps(m, bq + o2)};
#pragma GCC unroll 3
        for (int kw = 0; kw < 3; ++kw) {
          if (q < 3) acc[q * 3 + kw] = _mm512_fmadd_ps(v0, p[kw], acc[q * 3 + kw]);
          if (q > 0) acc[(q - 1) * 3 + kw] = _mm512_fmadd_ps(v1, p[kw], acc[(q - 1) * 3 + kw]);
        }
      }
    }
  }
  for (; r < rows; ++r) {  // an odd last row alone
    const float* br = b + r * ldb;
    for (int64_t i = 0; i < n; i += 16) {
      const __mmask16 m = first(n - i);
      const __m512 v0 = _mm512_maskz_loadu_ps(m, a + r * lda + i);
      if (sum_a) sa = _mm512_add_ps(sa, v0);
#pragma GCC unroll 9
      for (int t = 0; t < 9; ++t)
        acc[t] = _mm512_fmadd_ps(v0, _mm512_maskz_loadu_ps(m, br + t / 3 * ldb + off[t % 3] + i), acc[t]);
    }
  }
#pragma GCC unroll 9
  for (int t = 0; t < 9; ++t) out[t] = sum16(acc[t]);
  if (sum_a) out[9] = sum16(sa);
}

void blas1_f32_avx512_taps_sum(const float* const* rows, const float* w, int64_t taps, int64_t n, float init,
                               float* out) {
  // 32 outputs per pass in two accumulators (two FMA chains), then a masked 16-wide tail.
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m512 a0 = _mm512_set1_ps(init), a1 = a0;
    for (int64_t t = 0; t < taps; ++t) {
      const __m512 wt = _mm512_set1_ps(w[t]);
      a0 = _mm512_fmadd_ps(wt, _mm512_loadu_ps(rows[t] + i), a0);
      a1 = _mm512_fmadd_ps(wt, _mm512_loadu_ps(rows[t] + i + 16), a1);
    }
    _mm512_storeu_ps(out + i, a0);
    _mm512_storeu_ps(out + i + 16, a1);
  }
  for (; i < n; i += 16) {
    const __mmask16 m = first(n - i);
    __m512 a = _mm512_set1_ps(init);
    for (int64_t t = 0; t < taps; ++t) a = _mm512_fmadd_ps(_mm512_set1_ps(w[t]), _mm512_maskz_loadu_ps(m, rows[t] + i), a);
    _mm512_mask_storeu_ps(out + i, m, a);
  }
}

namespace {

// y[i sy] += alpha x[i] for i < n: vectorized for sy 1 and 2 (x[i .. i + 7] spread to the even
// lanes of y[2i .. 2i + 15], the odd lanes kept), element by element otherwise.
inline void axpy_row(float alpha, const float* x, int64_t n, float* y, int64_t sy) {
  const __m512 a = _mm512_set1_ps(alpha);
  if (sy == 2) {
    const __m512i spread = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      // (maskz forms: GCC 12 warns that the plain ones' pass-through operand is uninitialized)
      const __m512 xe = _mm512_maskz_permutexvar_ps(0xffff, spread, _mm512_maskz_loadu_ps(0x00ff, x + i));
      // The last element written is y[2i + 14]: load and store only through it.
      const __m512 yv = _mm512_maskz_loadu_ps(0x7fff, y + 2 * i);
      _mm512_mask_storeu_ps(y + 2 * i, 0x5555, _mm512_fmadd_ps(a, xe, yv));
    }
    for (; i < n; ++i) y[2 * i] = std::fma(alpha, x[i], y[2 * i]);
    return;
  }
  if (sy != 1) {
    for (int64_t i = 0; i < n; ++i) y[i * sy] = std::fma(alpha, x[i], y[i * sy]);
    return;
  }
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = first(n - i);
    _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(a, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i)));
  }
}

}  // namespace

void blas1_f32_avx512_axpy(float alpha, const float* x, int64_t n, float* y, int64_t sy) { axpy_row(alpha, x, n, y, sy); }

// Blocks of 16 y elements over the rows' reach: each block loaded once, every row's terms added
// to it in row order (masked adds of the lanes the row reaches), stored once, so rows sharing
// elements never reload what the previous row stored (a masked store does not forward to a
// load). Stride 2: 8 consecutive elements of a row spread to the lanes of one parity. Each
// block costs a mask per row: meant for short spans (a 2-d layer's kernel row over one output
// row of a few blocks); a stride the lanes do not follow takes one axpy per row.
void blas1_f32_avx512_add_taps(const float* c, int64_t ldc, const int64_t* off, int64_t taps, int64_t n, int64_t st,
                               float* y, int64_t lo, int64_t hi) {
  if (n <= 0 || taps <= 0) return;
  if (st != 1 && st != 2) {
    for (int64_t t = 0; t < taps; ++t) {
      int64_t j0 = 0, j1 = 0;
      tap_range(off[t], n, st, lo, hi, j0, j1);
      if (j1 > j0) axpy_row(1.0f, c + t * ldc + j0, j1 - j0, y + off[t] + j0 * st, st);
    }
    return;
  }
  int64_t p_lo = off[0], p_hi = off[0];
  for (int64_t t = 0; t < taps; ++t) {
    p_lo = std::min(p_lo, off[t]);
    p_hi = std::max(p_hi, off[t] + (n - 1) * st + 1);
  }
  p_lo = std::max(p_lo, lo);
  p_hi = std::min(p_hi, hi);
  // Lane k takes element k / 2 (a row whose even terms start at lane 0) or (k - 1) / 2 (lane 1).
  const __m512i spread0 = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7),
                spread1 = _mm512_setr_epi32(0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7);
  // Lanes k with lo <= k < hi (made in general registers: AVX-512 compares into mask registers
  // share a port with the permutes).
  auto lanes = [](int64_t l, int64_t h) {
    const auto below = [](int64_t k) { return (1u << std::clamp<int64_t>(k, 0, 16)) - 1; };
    return static_cast<__mmask16>(below(h) & ~below(l));
  };
  for (int64_t p0 = p_lo; p0 < p_hi; p0 += 16) {
    const __mmask16 in = first(p_hi - p0);
    __m512 acc = _mm512_maskz_loadu_ps(in, y + p0);
    for (int64_t t = 0; t < taps; ++t) {
      // Lane k is term (d + k) / st of row t when d + k is in [0, n st) and a multiple of st.
      const int64_t d = p0 - off[t];
      if (d >= n * st || d <= -16) continue;
      const float* row = c + t * ldc;
      if (st == 1) {
        const __mmask16 m = in & lanes(-d, n - d);
        acc = _mm512_mask_add_ps(acc, m, acc, _mm512_maskz_loadu_ps(m, row + d));
        continue;
      }
      const int64_t par = d & 1, jb = (d + par) / 2;  // lane par takes term jb, lane par + 2i term jb + i
      const __mmask16 m = in & lanes(-d, 2 * n - d) & static_cast<__mmask16>(par ? 0xaaaa : 0x5555);
      const __m512i spread = _mm512_mask_blend_epi32(static_cast<__mmask16>(-par), spread0, spread1);
      const __m512 v = _mm512_maskz_permutexvar_ps(0xffff, spread, _mm512_maskz_loadu_ps(lanes(-jb, n - jb) & 0xff, row + jb));
      acc = _mm512_mask_add_ps(acc, m, acc, v);
    }
    _mm512_mask_storeu_ps(y + p0, in, acc);
  }
}

namespace {

using row_taps::below, row_taps::BlockMasks, row_taps::block_masks, row_taps::RowTaps;

// dY rows in pairs (r, r + 1) when SH, the row stride, is 1 or 2: their input rows overlap, so
// each of the 3 + SH rows is loaded and shifted once for both. SH 0: one dY row per pass (any
// sh). acc[kh 3 + kw] per lane; terms of dY lanes past wo are masked off.
template <int SW, int PW, int SH>
void window3x3(const Window3x3& p, float* out, bool sum_a) {
  constexpr int Q = SH == 0 ? 3 : 3 + SH;  // input rows per pass
  const __m512 z = _mm512_setzero_ps();
  __m512 acc[9], sa = z;
#pragma GCC unroll 9
  for (int t = 0; t < 9; ++t) acc[t] = z;
  const int64_t step = SH == 0 ? 1 : 2;
  for (int64_t r = 0; r < p.ho; r += step) {
    const bool two = SH != 0 && r + 1 < p.ho;
    const float* rows[Q];
    RowTaps<SW, PW> taps[Q];
    row_taps::start_pass(p.x, p.w, p.h, p.w, r * p.sh - p.ph, two, rows, taps);
    const float* a0 = p.a + r * p.wo;
    const float* a1 = a0 + p.wo;
    for (int64_t i = 0; i < p.wo; i += 16) {
      // (m1: no second row past the last one, whose zero dY would still add 0 * x, NaN for an inf.)
      const __mmask16 m = below(p.wo, i), m1 = two ? m : 0;
      const BlockMasks bm = block_masks<SW, PW>(p.w, i);
      const __m512 y0 = _mm512_maskz_loadu_ps(m, a0 + i), y1 = _mm512_maskz_loadu_ps(m1, a1 + i);
      if (sum_a) sa = _mm512_add_ps(sa, _mm512_add_ps(y0, y1));
#pragma GCC unroll 5
      for (int q = 0; q < Q; ++q) {
        if (rows[q] == nullptr) continue;
        __m512 t[3];
        taps[q].next(rows[q], i, bm, t);
#pragma GCC unroll 3
        for (int kw = 0; kw < 3; ++kw) {
          if (q < 3) acc[q * 3 + kw] = _mm512_mask3_fmadd_ps(y0, t[kw], acc[q * 3 + kw], m);
          if (SH != 0 && q >= SH && q - SH < 3) acc[(q - SH) * 3 + kw] = _mm512_mask3_fmadd_ps(y1, t[kw], acc[(q - SH) * 3 + kw], m1);
        }
      }
    }
  }
#pragma GCC unroll 9
  for (int t = 0; t < 9; ++t) out[t] = sum16(acc[t]);
  if (sum_a) out[9] = sum16(sa);
}

template <int SW, int PW>
void window3x3_rows(const Window3x3& p, float* out, bool sum_a) {
  if (p.sh == 1) window3x3<SW, PW, 1>(p, out, sum_a);
  else if (p.sh == 2) window3x3<SW, PW, 2>(p, out, sum_a);
  else window3x3<SW, PW, 0>(p, out, sum_a);
}

}  // namespace

namespace {

// Input row i's columns 2m, 2m + 1 for m in blocks of 16: the even ones (E) and the odd ones
// (O) as sums over the dY rows the row's taps read, then interleaved into two stores. dY
// column m + 1 (PW 1) or m - 1 (PW 0) is the block shifted by a lane in registers.
template <int PW>
void input_window3x3(const InputWindow3x3& g) {
  const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
  __m512 wt[9];
#pragma GCC unroll 9
  for (int t = 0; t < 9; ++t) wt[t] = _mm512_set1_ps(g.wt[t]);
  const __m512 init = _mm512_set1_ps(g.init), z = _mm512_setzero_ps();
  const int64_t pairs = (g.w + 1) / 2;  // column pairs (the last may be half)
  for (int64_t i = g.i0; i < g.i1; ++i) {
    const float* rows[3];  // the dY row tap row kh reads, or null
    __m512 cur[3], prev[3];
#pragma GCC unroll 3
    for (int kh = 0; kh < 3; ++kh) {
      const int64_t d = i + g.ph - kh;
      rows[kh] = d >= 0 && d % g.sh == 0 && d / g.sh < g.ho ? g.dy + d / g.sh * g.wo : nullptr;
      cur[kh] = rows[kh] != nullptr ? _mm512_maskz_loadu_ps(row_taps::below(g.wo, 0), rows[kh]) : z;
      prev[kh] = z;
    }
    float* out = g.dx + (i - g.i0) * g.w;
    for (int64_t m0 = 0; m0 < pairs; m0 += 16) {
      const __mmask16 mn = row_taps::below(g.wo, m0 + 16);
      // The lanes whose dY column m (m + 1, m - 1) exists: only those terms are added, as the
      // contract's chain has them (a zero lane would add w * 0).
      const __mmask16 at = row_taps::below(g.wo, m0), after = row_taps::below(g.wo - 1, m0),
                      before = static_cast<__mmask16>(row_taps::below(g.wo + 1, m0) & (m0 == 0 ? 0xfffe : 0xffff));
      __m512 e = init, o = init;
#pragma GCC unroll 3
      for (int kh = 0; kh < 3; ++kh) {
        if (rows[kh] == nullptr) continue;
        const __m512 nx = _mm512_maskz_loadu_ps(mn, rows[kh] + m0 + 16);
        if constexpr (PW == 1) {  // kw 0 reads column m + 1, kw 1 and 2 column m
          o = _mm512_mask3_fmadd_ps(wt[kh * 3], row_taps::shift<1>(nx, cur[kh]), o, after);
          e = _mm512_mask3_fmadd_ps(wt[kh * 3 + 1], cur[kh], e, at);
          o = _mm512_mask3_fmadd_ps(wt[kh * 3 + 2], cur[kh], o, at);
        } else {  // kw 0 and 1 read column m, kw 2 column m - 1
          e = _mm512_mask3_fmadd_ps(wt[kh * 3], cur[kh], e, at);
          o = _mm512_mask3_fmadd_ps(wt[kh * 3 + 1], cur[kh], o, at);
          e = _mm512_mask3_fmadd_ps(wt[kh * 3 + 2], row_taps::shift<15>(cur[kh], prev[kh]), e, before);
        }
        prev[kh] = cur[kh];
        cur[kh] = nx;
      }
      _mm512_mask_storeu_ps(out + 2 * m0, row_taps::below(g.w, 2 * m0), _mm512_permutex2var_ps(e, lo, o));
      _mm512_mask_storeu_ps(out + 2 * m0 + 16, row_taps::below(g.w, 2 * m0 + 16), _mm512_permutex2var_ps(e, hi, o));
    }
  }
}

}  // namespace

void blas1_f32_avx512_input_window3x3(const InputWindow3x3& g) {
  if (g.pw == 1) input_window3x3<1>(g);
  else input_window3x3<0>(g);
}

void blas1_f32_avx512_dot_window3x3(const Window3x3& p, float* out, bool sum_a) {
  if (p.sw == 1) {
    if (p.pw == 1) window3x3_rows<1, 1>(p, out, sum_a);
    else window3x3_rows<1, 0>(p, out, sum_a);
  } else {
    if (p.pw == 1) window3x3_rows<2, 1>(p, out, sum_a);
    else window3x3_rows<2, 0>(p, out, sum_a);
  }
}

}  // namespace convkit::kernels
