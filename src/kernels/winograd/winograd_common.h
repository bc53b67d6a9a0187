// The transform code every winograd_<isa>.cc compiles with its own flags. Loops run over the
// 16 tiles (lanes) innermost with constant trip counts, so the compiler vectorizes them to
// the ISA of the including file. Only winograd_<isa>.cc files include this header.
#pragma once

#include <cstdint>

// The anonymous namespace gives each including file its own copy: the files are compiled for
// different ISAs, and one shared (inline) definition would let the linker pick any of them.
namespace convkit::kernels::winograd_common {
namespace {

constexpr int kLanes = 16;
constexpr int kCols = 4 * kLanes + 2;  // 66 strip columns

// o = B^T d for one 6-vector (every input transform stage; the AVX-512 build restates it as
// input_combine).
[[gnu::always_inline]] inline void bt6(float d0, float d1, float d2, float d3, float d4, float d5, float o[6]) {
  o[0] = 4 * d0 - 5 * d2 + d4;
  o[1] = -4 * d1 - 4 * d2 + d3 + d4;
  o[2] = 4 * d1 - 4 * d2 - d3 + d4;
  o[3] = -2 * d1 - d2 + 2 * d3 + d4;
  o[4] = 2 * d1 - d2 - 2 * d3 + d4;
  o[5] = 4 * d1 - 5 * d3 + d5;
}

// y = A^T m for one 6-vector (every output transform stage; output_combine in AVX-512).
[[gnu::always_inline]] inline void at6(float m0, float m1, float m2, float m3, float m4, float m5, float y[4]) {
  y[0] = m0 + m1 + m2 + m3 + m4;
  y[1] = m1 - m2 + 2 * m3 - 2 * m4;
  y[2] = m1 + m2 + 4 * m3 + 4 * m4;
  y[3] = m1 - m2 + 8 * m3 - 8 * m4 + m5;
}

inline void input_f43(const float* strip, int64_t ld, float* v, int64_t vstride, int64_t n) {
  // 0. The 4n + 2 readable columns of each row (the strip may be the input itself), zero after.
  alignas(64) float sr[6][kCols];
  const int64_t cols = 4 * n + 2;
  for (int k = 0; k < 6; ++k)
    for (int c = 0; c < kCols; ++c) sr[k][c] = c < cols ? strip[k * ld + c] : 0.0f;
  // 1. Rows: r[k] = (B^T strip)[k] over all 66 columns (contiguous, vectorized).
  alignas(64) float r[6][kCols + 2];  // 2 spare zero columns: tile 16's phases read them
  const float *s0 = sr[0], *s1 = sr[1], *s2 = sr[2], *s3 = sr[3], *s4 = sr[4], *s5 = sr[5];
  for (int c = 0; c < kCols; ++c) {
    float o[6];
    bt6(s0[c], s1[c], s2[c], s3[c], s4[c], s5[c], o);
    for (int k = 0; k < 6; ++k) r[k][c] = o[k];
  }
  for (int k = 0; k < 6; ++k) r[k][kCols] = r[k][kCols + 1] = 0.0f;
  // 2. Columns of each tile: tile t's column j is r[k][4t + j]; de-interleave by phase so
  //    the lanes are contiguous: ph[p][t] = r[k][4t + p], and column j = ph[j % 4][t + j / 4].
  for (int k = 0; k < 6; ++k) {
    alignas(64) float ph[4][kLanes + 1];
    for (int p = 0; p < 4; ++p)
      for (int t = 0; t <= kLanes; ++t) ph[p][t] = r[k][4 * t + p];
    alignas(64) float o[6][kLanes];
    for (int t = 0; t < kLanes; ++t) {
      float ot[6];
      bt6(ph[0][t], ph[1][t], ph[2][t], ph[3][t], ph[0][t + 1], ph[1][t + 1], ot);
      for (int j = 0; j < 6; ++j) o[j][t] = ot[j];
    }
    for (int j = 0; j < 6; ++j) {
      float* dst = v + (k * 6 + j) * vstride;
      if (n == kLanes) {
        for (int t = 0; t < kLanes; ++t) dst[t] = o[j][t];
      } else {  // (a constant trip count: a run-time one became a call to memcpy)
        for (int t = 0; t < kLanes; ++t)
          if (t < n) dst[t] = o[j][t];
      }
    }
  }
}

inline void output_f43(const float* m, int64_t mstride, float* out, int64_t ldo, int64_t n, float bias) {
  // 1. Columns: u[k][c][t] = (m_t A)[k][c] for the 6 rows k of each tile's 6x6 products.
  alignas(64) float u[6][4][kLanes];
  alignas(64) float mk[6][kLanes];
  for (int k = 0; k < 6; ++k) {
    for (int j = 0; j < 6; ++j) {
      const float* src = m + (k * 6 + j) * mstride;
      if (n == kLanes) {
        for (int t = 0; t < kLanes; ++t) mk[j][t] = src[t];
      } else {
        for (int t = 0; t < kLanes; ++t) mk[j][t] = t < n ? src[t] : 0.0f;
      }
    }
    for (int t = 0; t < kLanes; ++t) {
      float y[4];
      at6(mk[0][t], mk[1][t], mk[2][t], mk[3][t], mk[4][t], mk[5][t], y);
      for (int c = 0; c < 4; ++c) u[k][c][t] = y[c];
    }
  }
  // 2. Rows: y[i][c] = (A^T u)[i][c], plus the bias.
  alignas(64) float y[4][4][kLanes];  // [i][c][t]
  for (int c = 0; c < 4; ++c)
    for (int t = 0; t < kLanes; ++t) {
      float yt[4];
      at6(u[0][c][t], u[1][c][t], u[2][c][t], u[3][c][t], u[4][c][t], u[5][c][t], yt);
      for (int i = 0; i < 4; ++i) y[i][c][t] = bias + yt[i];
    }
  // 3. Each output row interleaved (column 4t + c), then its 4n columns written.
  for (int i = 0; i < 4; ++i) {
    alignas(64) float row[4 * kLanes];
    for (int t = 0; t < kLanes; ++t)
      for (int c = 0; c < 4; ++c) row[4 * t + c] = y[i][c][t];
    float* dst = out + i * ldo;
    for (int j = 0; j < 4 * kLanes; ++j)
      if (j < 4 * n) dst[j] = row[j];
  }
}

inline void weight_f43(const float* g, int64_t n, float* u, int64_t ldu) {
  // t = G g (6x3) then u = t G^T (6x6), kLanes kernels per lane-vector. G's 1/6, 1/12 and
  // 1/24 are multiplications by the rounded reciprocals: a division per element made the
  // transform of a 256 x 256 layer cost more than a forward.
  constexpr float q4 = 0.25f, q6 = 1.0f / 6, q12 = 1.0f / 12, q24 = 1.0f / 24;
  for (int64_t l0 = 0; l0 < n; l0 += kLanes) {
    const int64_t nl = n - l0 < kLanes ? n - l0 : kLanes;
    alignas(64) float gl[9][kLanes];
    for (int e = 0; e < 9; ++e) {
      const float* src = g + e * n + l0;
      if (nl == kLanes) {
        for (int l = 0; l < kLanes; ++l) gl[e][l] = src[l];
      } else {
        for (int l = 0; l < kLanes; ++l) gl[e][l] = l < nl ? src[l] : 0.0f;
      }
    }
    alignas(64) float t[6][3][kLanes];
    for (int j = 0; j < 3; ++j)
      for (int l = 0; l < kLanes; ++l) {
        const float g0 = gl[0 * 3 + j][l], g1 = gl[1 * 3 + j][l], g2 = gl[2 * 3 + j][l];
        t[0][j][l] = g0 * q4;
        t[1][j][l] = -(g0 + g1 + g2) * q6;
        t[2][j][l] = -(g0 - g1 + g2) * q6;
        t[3][j][l] = g0 * q24 + g1 * q12 + g2 * q6;
        t[4][j][l] = g0 * q24 - g1 * q12 + g2 * q6;
        t[5][j][l] = g2;
      }
    alignas(64) float o[36][kLanes];
    for (int i = 0; i < 6; ++i)
      for (int l = 0; l < kLanes; ++l) {
        const float r0 = t[i][0][l], r1 = t[i][1][l], r2 = t[i][2][l];
        o[i * 6 + 0][l] = r0 * q4;
        o[i * 6 + 1][l] = -(r0 + r1 + r2) * q6;
        o[i * 6 + 2][l] = -(r0 - r1 + r2) * q6;
        o[i * 6 + 3][l] = r0 * q24 + r1 * q12 + r2 * q6;
        o[i * 6 + 4][l] = r0 * q24 - r1 * q12 + r2 * q6;
        o[i * 6 + 5][l] = r2;
      }
    // Constant trip counts: a run-time count here became a string move per row, whose
    // start-up cost exceeded the transform.
    for (int xi = 0; xi < 36; ++xi) {
      float* dst = u + xi * ldu + l0;
      if (nl == kLanes) {
        for (int l = 0; l < kLanes; ++l) dst[l] = o[xi][l];
      } else {
        for (int l = 0; l < kLanes; ++l)
          if (l < nl) dst[l] = o[xi][l];
      }
    }
  }
}

// ---- F(4, 3), 1-d: one stage of each transform above, the same expressions. ----

// Lane t's offset from pos (winograd.h): t % q + 4 d (t / q), q = min(d, 16).
inline int64_t lane_offset_1d(int64_t t, int64_t d) {
  const int64_t q = d < kLanes ? d : kLanes;
  return t % q + 4 * d * (t / q);
}

inline void input_f4_1d(const float* x, int64_t xs, int64_t L, int64_t pos, int64_t d, int64_t n, float* v,
                        int64_t vstride) {
  alignas(64) float w[6][kLanes];
  for (int t = 0; t < kLanes; ++t)
    for (int j = 0; j < 6; ++j) {
      const int64_t i = pos + lane_offset_1d(t, d) + d * j;
      w[j][t] = t < n && i >= 0 && i < L ? x[i * xs] : 0.0f;
    }
  alignas(64) float o[6][kLanes];
  for (int t = 0; t < kLanes; ++t) {
    float ot[6];
    bt6(w[0][t], w[1][t], w[2][t], w[3][t], w[4][t], w[5][t], ot);
    for (int j = 0; j < 6; ++j) o[j][t] = ot[j];
  }
  for (int j = 0; j < 6; ++j) {
    float* dst = v + j * vstride;
    for (int t = 0; t < kLanes; ++t)
      if (t < n) dst[t] = o[j][t];
  }
}

inline void output_f4_1d(const float* m, int64_t mstride, float* y, int64_t Lo, int64_t pos, int64_t d, int64_t n,
                         float bias) {
  alignas(64) float mk[6][kLanes];
  for (int j = 0; j < 6; ++j)
    for (int t = 0; t < kLanes; ++t) mk[j][t] = t < n ? m[j * mstride + t] : 0.0f;
  alignas(64) float r[4][kLanes];
  for (int t = 0; t < kLanes; ++t) {
    float yt[4];
    at6(mk[0][t], mk[1][t], mk[2][t], mk[3][t], mk[4][t], mk[5][t], yt);
    for (int c = 0; c < 4; ++c) r[c][t] = bias + yt[c];
  }
  for (int64_t t = 0; t < n; ++t)
    for (int c = 0; c < 4; ++c) {
      const int64_t o = pos + lane_offset_1d(t, d) + d * c;
      if (o < Lo) y[o] = r[c][t];
    }
}

inline void weight_f4_1d(const float* g, int64_t n, float* u, int64_t ldu) {
  constexpr float q4 = 0.25f, q6 = 1.0f / 6, q12 = 1.0f / 12, q24 = 1.0f / 24;  // as weight_f43
  for (int64_t l = 0; l < n; ++l) {
    const float g0 = g[l], g1 = g[n + l], g2 = g[2 * n + l];
    u[0 * ldu + l] = g0 * q4;
    u[1 * ldu + l] = -(g0 + g1 + g2) * q6;
    u[2 * ldu + l] = -(g0 - g1 + g2) * q6;
    u[3 * ldu + l] = g0 * q24 + g1 * q12 + g2 * q6;
    u[4 * ldu + l] = g0 * q24 - g1 * q12 + g2 * q6;
    u[5 * ldu + l] = g2;
  }
}

}  // namespace
}  // namespace convkit::kernels::winograd_common
