// Winograd F(4x4, 3x3) and F(4, 3) transforms for the avx512 build. The weight transforms are
// the shared code of winograd_common.h. The input and output transforms compute the same expressions in
// the same order as winograd_common.h (so the bits agree with every other ISA), but move data
// with explicit shuffles: compiled from the plain code, the tile de-interleave re-read freshly
// stored rows at other offsets (store-forwarding stalls) and the output interleave became 256
// scalar stores per call — together more time than the GEMMs on a 64-channel layer.
#include <immintrin.h>

#include <algorithm>

#include "kernels/winograd/winograd.h"
#include "kernels/winograd/winograd_common.h"

namespace convkit::kernels {

namespace {

inline __mmask16 lanes_mask(int64_t lanes) {
  return static_cast<__mmask16>(lanes >= 16 ? 0xffff : lanes <= 0 ? 0 : (1u << lanes) - 1);
}

inline __m512 mul(float c, __m512 x) { return _mm512_mul_ps(_mm512_set1_ps(c), x); }

// Lanes first .. first + count - 1 (first < 16, count >= 1).
inline __mmask16 run_mask(int64_t first, int64_t count) {
  return static_cast<__mmask16>(lanes_mask(first + count) & ~lanes_mask(first));
}

// d[j] = row[4t + j] in lane t for j = 0..5 (column j of every tile); columns past cols are
// never read (masked loads give zeros).
inline void tile_columns(const float* s, int64_t cols, __m512 d[6]) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  // Lanes 1..15 of the first operand, then lane 0 (column 64) or 1 (column 65) of the second.
  const __m512i next64 = _mm512_setr_epi32(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);
  const __m512i next65 = _mm512_setr_epi32(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17);
  __m512 l[5];
  for (int q = 0; q < 5; ++q) l[q] = _mm512_maskz_loadu_ps(lanes_mask(cols - 16 * q), s + 16 * q);
  const __m512 e = _mm512_permutex2var_ps(l[0], even, l[1]), e2 = _mm512_permutex2var_ps(l[2], even, l[3]);
  const __m512 o = _mm512_permutex2var_ps(l[0], odd, l[1]), o2 = _mm512_permutex2var_ps(l[2], odd, l[3]);
  d[0] = _mm512_permutex2var_ps(e, even, e2);  // columns 4t
  d[2] = _mm512_permutex2var_ps(e, odd, e2);   // 4t + 2
  d[1] = _mm512_permutex2var_ps(o, even, o2);  // 4t + 1
  d[3] = _mm512_permutex2var_ps(o, odd, o2);   // 4t + 3
  // 4t + 4 and 4t + 5: columns 4t and 4t + 1 one tile on, the last lane from columns 64, 65.
  d[4] = _mm512_permutex2var_ps(d[0], next64, l[4]);
  d[5] = _mm512_permutex2var_ps(d[1], next65, l[4]);
}

// o = B^T c, lane-wise (winograd_common.h's input expressions, same order).
inline void input_combine(const __m512 c[6], __m512 o[6]) {
  o[0] = _mm512_add_ps(_mm512_sub_ps(mul(4, c[0]), mul(5, c[2])), c[4]);
  o[1] = _mm512_add_ps(_mm512_add_ps(_mm512_sub_ps(mul(-4, c[1]), mul(4, c[2])), c[3]), c[4]);
  o[2] = _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(mul(4, c[1]), mul(4, c[2])), c[3]), c[4]);
  o[3] = _mm512_add_ps(_mm512_add_ps(_mm512_sub_ps(mul(-2, c[1]), c[2]), mul(2, c[3])), c[4]);
  o[4] = _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(mul(2, c[1]), c[2]), mul(2, c[3])), c[4]);
  o[5] = _mm512_add_ps(_mm512_sub_ps(mul(4, c[1]), mul(5, c[3])), c[5]);
}

// y = A^T r, lane-wise (winograd_common.h's output expressions, same order; no bias).
inline void output_combine(const __m512 r[6], __m512 y[4]) {
  const __m512 d12 = _mm512_sub_ps(r[1], r[2]), s12 = _mm512_add_ps(r[1], r[2]);
  y[0] = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(_mm512_add_ps(r[0], r[1]), r[2]), r[3]), r[4]);
  y[1] = _mm512_sub_ps(_mm512_add_ps(d12, mul(2, r[3])), mul(2, r[4]));
  y[2] = _mm512_add_ps(_mm512_add_ps(s12, mul(4, r[3])), mul(4, r[4]));
  y[3] = _mm512_add_ps(_mm512_sub_ps(_mm512_add_ps(d12, mul(8, r[3])), mul(8, r[4])), r[5]);
}

// out[4t + c] = y[c] lane t, for 4t + c < cols: the four columns of every tile interleaved
// (pairs of columns by float, then the pairs by two floats; two-source permutes only: GCC 12
// flags the unpack and shuffle intrinsics as uninitialized at -O3).
inline void store_interleaved(const __m512 y[4], float* out, int64_t cols) {
  const __m512i lo1 = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi1 = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const __m512i lo2 = _mm512_setr_epi32(0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
  const __m512i hi2 = _mm512_setr_epi32(8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31);
  const __m512 p01l = _mm512_permutex2var_ps(y[0], lo1, y[1]), p01h = _mm512_permutex2var_ps(y[0], hi1, y[1]);
  const __m512 p23l = _mm512_permutex2var_ps(y[2], lo1, y[3]), p23h = _mm512_permutex2var_ps(y[2], hi1, y[3]);
  const __m512 row[4] = {_mm512_permutex2var_ps(p01l, lo2, p23l), _mm512_permutex2var_ps(p01l, hi2, p23l),
                         _mm512_permutex2var_ps(p01h, lo2, p23h), _mm512_permutex2var_ps(p01h, hi2, p23h)};
  for (int v = 0; v < 4 && 16 * v < cols; ++v) _mm512_mask_storeu_ps(out + 16 * v, lanes_mask(cols - 16 * v), row[v]);
}

}  // namespace

void winograd_f43_input_avx512(const WinogradSrc* runs, int64_t nruns, float* v, int64_t vstride) {
  // d[r][j]: column j of every tile from strip row r; a later run's tiles are moved up to its
  // lanes (rotated by its base, merged under its lane mask).
  __m512 d[6][6];
  int64_t n = 0;
  for (int64_t q = 0; q < nruns; n += runs[q].n, ++q) {
    const WinogradSrc& run = runs[q];
    if (q == 0) {
      for (int r = 0; r < 6; ++r) tile_columns(run.p + r * run.ld, 4 * run.n + 2, d[r]);
      continue;
    }
    const __m512i up = _mm512_and_si512(_mm512_sub_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                                         _mm512_set1_epi32(static_cast<int32_t>(n))),
                                        _mm512_set1_epi32(15));
    const __mmask16 mine = run_mask(n, run.n);
    for (int r = 0; r < 6; ++r) {
      __m512 e[6];
      tile_columns(run.p + r * run.ld, 4 * run.n + 2, e);
      for (int j = 0; j < 6; ++j) d[r][j] = _mm512_mask_permutexvar_ps(d[r][j], mine, up, e[j]);
    }
  }
  // Rows: r[j][k] = (B^T d)[k] at tile column j (winograd_common.h's stage 1, lane-wise).
  __m512 r[6][6];
  for (int j = 0; j < 6; ++j) {
    const __m512 col[6] = {d[0][j], d[1][j], d[2][j], d[3][j], d[4][j], d[5][j]};
    input_combine(col, r[j]);
  }
  const __mmask16 store = lanes_mask(n);
  for (int k = 0; k < 6; ++k) {
    // Columns: o[j] = (r_k B)[j] (stage 2).
    const __m512 c[6] = {r[0][k], r[1][k], r[2][k], r[3][k], r[4][k], r[5][k]};
    __m512 o[6];
    input_combine(c, o);
    for (int j = 0; j < 6; ++j) _mm512_mask_storeu_ps(v + (k * 6 + j) * vstride, store, o[j]);
  }
}

void winograd_f43_output_avx512(const float* m, int64_t mstride, const WinogradDst* runs, int64_t nruns, float bias) {
  int64_t n = 0;
  for (int64_t q = 0; q < nruns; ++q) n += runs[q].n;
  const __mmask16 lanes = lanes_mask(n);
  // Columns: u[k][c] = (m A)[k][c] (winograd_common.h's stage 1; lanes past n read as zero).
  __m512 u[6][4];
  for (int k = 0; k < 6; ++k) {
    __m512 mk[6];
    for (int j = 0; j < 6; ++j) mk[j] = _mm512_maskz_loadu_ps(lanes, m + (k * 6 + j) * mstride);
    output_combine(mk, u[k]);
  }
  // Rows: y[i][c] = bias + (A^T u)[i][c] (stage 2), each output row written interleaved.
  const __m512 b = _mm512_set1_ps(bias);
  __m512 y[4][4];
  for (int c = 0; c < 4; ++c) {
    const __m512 r[6] = {u[0][c], u[1][c], u[2][c], u[3][c], u[4][c], u[5][c]};
    __m512 yc[4];
    output_combine(r, yc);
    for (int i = 0; i < 4; ++i) y[i][c] = _mm512_add_ps(b, yc[i]);
  }
  // Each run's lanes moved down to lane 0 (rotated by its base), its rows written interleaved.
  for (int64_t q = 0, base = 0; q < nruns; base += runs[q].n, ++q) {
    const WinogradDst& run = runs[q];
    const __m512i down = _mm512_and_si512(_mm512_add_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                                           _mm512_set1_epi32(static_cast<int32_t>(base))),
                                          _mm512_set1_epi32(15));
    for (int i = 0; i < 4; ++i) {
      __m512 yi[4];
      for (int c = 0; c < 4; ++c) yi[c] = base == 0 ? y[i][c] : _mm512_permutex2var_ps(y[i][c], down, y[i][c]);
      store_interleaved(yi, run.p + i * run.ld, 4 * run.n);
    }
  }
}

void winograd_f43_weight_avx512(const float* g, int64_t n, float* u, int64_t ldu) {
  winograd_common::weight_f43(g, n, u, ldu);
}

void winograd_f4_input_1d_avx512(const float* x, int64_t xs, int64_t L, int64_t pos, int64_t d, int64_t n, float* v,
                                 int64_t vstride) {
  const __mmask16 lanes = lanes_mask(n);
  const int64_t q = d < 16 ? d : 16;
  const int64_t reach = 4 * d * ((n - 1) / q) + (n - 1) % q + 5 * d;  // the last lane's last index, from pos
  __m512 w[6];
  if (xs == 1 && pos >= 0 && pos + reach < L) {
    // Every window inside the input, unit stride. d = 1 de-interleaves 4n + 2 consecutive
    // floats; otherwise a window column is runs of q consecutive floats (lanes s q .. s q + q - 1
    // at pos + 4 d s + d j), each one masked load into its lanes (one run for d >= 16).
    if (d == 1) {
      tile_columns(x + pos, 4 * n + 2, w);
    } else {
      for (int j = 0; j < 6; ++j) {
        w[j] = _mm512_setzero_ps();
        for (int64_t s = 0; s * q < n; ++s)
          w[j] = _mm512_mask_loadu_ps(w[j], lanes & run_mask(s * q, q), x + pos + 4 * d * s + d * j - s * q);
      }
    }
  } else if (pos > -(int64_t{1} << 30) && pos + 69 * d < (int64_t{1} << 31) && L + 69 * d < (int64_t{1} << 31) &&
             (L + 69 * d) * xs < (int64_t{1} << 31)) {
    // Gathers of the in-range indices (32-bit element offsets from x).
    __m512i off = _mm512_setzero_si512();
    alignas(64) int32_t o[16];
    for (int t = 0; t < 16; ++t) o[t] = static_cast<int32_t>(pos + t % q + 4 * d * (t / q));
    off = _mm512_load_si512(o);
    const __m512i len = _mm512_set1_epi32(static_cast<int32_t>(L)), step = _mm512_set1_epi32(static_cast<int32_t>(d));
    const __m512i stride = _mm512_set1_epi32(static_cast<int32_t>(xs));
    for (int j = 0; j < 6; ++j, off = _mm512_add_epi32(off, step)) {
      const __mmask16 in = lanes & _mm512_cmpge_epi32_mask(off, _mm512_setzero_si512()) & _mm512_cmplt_epi32_mask(off, len);
      w[j] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), in, _mm512_mullo_epi32(off, stride), x, 4);
    }
  } else {  // offsets past 32 bits: the plain code
    winograd_common::input_f4_1d(x, xs, L, pos, d, n, v, vstride);
    return;
  }
  __m512 o[6];
  input_combine(w, o);
  for (int j = 0; j < 6; ++j) _mm512_mask_storeu_ps(v + j * vstride, lanes, o[j]);
}

void winograd_f4_output_1d_avx512(const float* m, int64_t mstride, float* y, int64_t Lo, int64_t pos, int64_t d,
                                  int64_t n, float bias) {
  const __mmask16 lanes = lanes_mask(n);
  __m512 mk[6], r[4];
  for (int j = 0; j < 6; ++j) mk[j] = _mm512_maskz_loadu_ps(lanes, m + j * mstride);
  output_combine(mk, r);
  const __m512 b = _mm512_set1_ps(bias);
  for (int c = 0; c < 4; ++c) r[c] = _mm512_add_ps(b, r[c]);
  if (d == 1) {  // consecutive tiles: 4n consecutive outputs
    store_interleaved(r, y + pos, std::min<int64_t>(4 * n, Lo - pos));
    return;
  }
  // Output c of the lanes s q .. s q + q - 1 is q consecutive floats from pos + 4 d s + d c: one
  // masked store per run, cut at Lo (one run for d >= 16).
  const int64_t q = d < 16 ? d : 16;
  for (int c = 0; c < 4; ++c)
    for (int64_t s = 0; s * q < n; ++s) {
      const int64_t first = pos + 4 * d * s + d * c;  // output of lane s q
      if (first >= Lo) break;
      _mm512_mask_storeu_ps(y + first - s * q, lanes & run_mask(s * q, std::min(q, Lo - first)), r[c]);
    }
}

void winograd_f4_weight_1d_avx512(const float* g, int64_t n, float* u, int64_t ldu) {
  winograd_common::weight_f4_1d(g, n, u, ldu);
}

}  // namespace convkit::kernels
