// Plain C++ row kernels: eight partial sums (element i goes to sum i % 8), added in a fixed
// tree, so the compiler may vectorize the loop without changing the result.
#include <cmath>

#include "kernels/blas1/blas1.h"

namespace convkit::kernels {

float blas1_f32_scalar_dot(const float* a, int64_t lda, const float* b, int64_t ldb, int64_t sb, int64_t n,
                           int64_t rows) {
  float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int64_t r = 0; r < rows; ++r) {
    const float* ar = a + r * lda;
    const float* br = b + r * ldb;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
      for (int l = 0; l < 8; ++l) s[l] += ar[i + l] * br[(i + l) * sb];
    for (int l = 0; i + l < n; ++l) s[l] += ar[i + l] * br[(i + l) * sb];
  }
  return ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
}

void blas1_f32_scalar_dot_taps(const float* a, int64_t lda, const float* b, int64_t ldb, const int64_t* off,
                               int64_t taps, int64_t n, int64_t rows, float* out, bool sum_a) {
  for (int64_t t = 0; t < taps; ++t) out[t] = blas1_f32_scalar_dot(a, lda, b + off[t], ldb, 1, n, rows);
  if (!sum_a) return;
  float s = 0;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < n; ++i) s += a[r * lda + i];
  out[taps] = s;
}

void blas1_f32_scalar_axpy(float alpha, const float* x, int64_t n, float* y, int64_t sy) {
  for (int64_t i = 0; i < n; ++i) y[i * sy] += alpha * x[i];
}

void blas1_f32_scalar_add_taps(const float* c, int64_t ldc, const int64_t* off, int64_t taps, int64_t n, int64_t st,
                               float* y, int64_t lo, int64_t hi) {
  for (int64_t t = 0; t < taps; ++t) {
    int64_t j0 = 0, j1 = 0;
    tap_range(off[t], n, st, lo, hi, j0, j1);
    for (int64_t j = j0; j < j1; ++j) y[off[t] + j * st] += c[t * ldc + j];
  }
}

void blas1_f32_scalar_taps_sum(const float* const* rows, const float* w, int64_t taps, int64_t n, float init,
                               float* out) {
  for (int64_t i = 0; i < n; ++i) {
    float v = init;
    for (int64_t t = 0; t < taps; ++t) v = std::fma(w[t], rows[t][i], v);
    out[i] = v;
  }
}

// (Without the shared loads: dot_taps over the 9 offsets.)
void blas1_f32_scalar_dot_taps3x3(const float* a, int64_t lda, const float* b, int64_t ldb, const int64_t* off, int64_t n,
                          int64_t rows, float* out, bool sum_a) {
  const int64_t taps[9] = {off[0], off[1], off[2], off[0] + ldb, off[1] + ldb, off[2] + ldb,
                           off[0] + 2 * ldb, off[1] + 2 * ldb, off[2] + 2 * ldb};
  blas1_f32_scalar_dot_taps(a, lda, b, ldb, taps, 9, n, rows, out, sum_a);
}

// Per tap, the terms in row-major order of the outputs, padding terms left out.
void blas1_f32_scalar_dot_window3x3(const Window3x3& p, float* out, bool sum_a) {
  for (int64_t t = 0; t < 9; ++t) {
    const int64_t kh = t / 3, kw = t % 3;
    float s = 0;
    for (int64_t oh = 0; oh < p.ho; ++oh) {
      const int64_t i = oh * p.sh + kh - p.ph;
      if (i < 0 || i >= p.h) continue;
      for (int64_t ow = 0; ow < p.wo; ++ow) {
        const int64_t j = ow * p.sw + kw - p.pw;
        if (j >= 0 && j < p.w) s += p.a[oh * p.wo + ow] * p.x[i * p.w + j];
      }
    }
    out[t] = s;
  }
  if (!sum_a) return;
  float s = 0;
  for (int64_t k = 0; k < p.ho * p.wo; ++k) s += p.a[k];
  out[9] = s;
}

void blas1_f32_scalar_input_window3x3(const InputWindow3x3& g) {
  for (int64_t i = g.i0; i < g.i1; ++i)
    for (int64_t j = 0; j < g.w; ++j) {
      float acc = g.init;
      for (int64_t t = 0; t < 9; ++t) {
        const int64_t dh = i + g.ph - t / 3, dw = j + g.pw - t % 3;
        if (dh < 0 || dw < 0 || dh % g.sh != 0 || dw % 2 != 0 || dh / g.sh >= g.ho || dw / 2 >= g.wo) continue;
        acc = std::fma(g.wt[t], g.dy[dh / g.sh * g.wo + dw / 2], acc);
      }
      g.dx[(i - g.i0) * g.w + j] = acc;
    }
}

}  // namespace convkit::kernels
