// The gradient paths' vector kernels against their contracts, for every kernel the CPU runs:
// the transpose kernels that pack operands and the blas1 dot products and axpys of the direct
// (depthwise) paths, each against float64 sums or the elements they must (not) write.
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include "core/storage.h"
#include "kernels/blas1/blas1.h"
#include "kernels/transpose/transpose.h"
#include "test_util.h"

namespace convkit::test {
namespace {

TEST(Grad, TransposeKernelsFollowTheirContract) {
  // Every kernel the CPU runs, every row count up to 16, lengths around the 8/16 blocks, source
  // strides 1, 2 and 3, a wider ld: dst[k * ld + i] = src[i][k * ss], nothing else of dst written.
  int count = 0;
  const kernels::TransposeKernel* list = kernels::transpose_kernel_list(&count);
  std::vector<float> data(16 * 160);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<float>(i) + 0.5f;
  for (int n = 0; n < count; ++n) {
    if (list[n].isa > internal::detected_isa()) continue;
    for (int64_t ss : {1, 2, 3})
      for (int64_t rows = 1; rows <= kernels::kTransposeMaxRows; ++rows)
        for (int64_t len : {0, 1, 7, 8, 9, 15, 16, 17, 33, 40})
          for (int64_t ld : {rows, int64_t{19}}) {
            const float* src[kernels::kTransposeMaxRows];
            for (int64_t i = 0; i < rows; ++i) src[i] = data.data() + i * 160 + (i % 3);  // unaligned rows
            std::vector<float> dst(static_cast<std::size_t>(40 * 19 + 16), -1.0f);
            list[n].fn(src, ss, rows, len, dst.data(), ld);
            for (int64_t k = 0; k < 40; ++k)
              for (int64_t i = 0; i < ld; ++i) {
                const float want = k < len && i < rows ? src[i][k * ss] : -1.0f;
                ASSERT_EQ(dst[static_cast<std::size_t>(k * ld + i)], want) << list[n].name << " ss " << ss << " rows "
                                                                           << rows << " len " << len << " ld " << ld
                                                                           << " at " << k << "," << i;
              }
          }
  }
}

TEST(Grad, Blas1KernelsFollowTheirContract) {
  // dot: the sum over rows r and i of a[r * lda + i] * b[r * ldb + i * sb] (float64
  // reference, tolerance of its term count's roundings, the same bits on a second call);
  // axpy: y[i * sy] += alpha * x[i], nothing else written.
  int count = 0;
  const kernels::Blas1Kernel* list = kernels::blas1_kernel_list(&count);
  Generator gen(31);
  const auto a = randn({300}, kFloat32, &gen).to_vector(), b = randn({1200}, kFloat32, &gen).to_vector();
  std::vector<float> af(a.begin(), a.end()), bf(b.begin(), b.end());
  for (int k = 0; k < count; ++k) {
    if (list[k].isa > internal::detected_isa()) continue;
    for (int64_t n : {0, 1, 7, 8, 15, 16, 17, 33, 100})
      for (int64_t st : {1, 2, 3})
        for (int64_t rows : {1, 3}) {
          double exact = 0, mag = 0;
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t i = 0; i < n; ++i) {
              const double t = static_cast<double>(af[r * 100 + i]) * bf[r * 350 + i * st];
              exact += t;
              mag += std::abs(t);
            }
          const float d = list[k].dot(af.data(), 100, bf.data(), 350, st, n, rows);
          EXPECT_LE(std::abs(d - exact), (n * rows + 1) * 0x1p-24 * mag + 1e-30)
              << list[k].name << " n " << n << " sb " << st << " rows " << rows;
          EXPECT_EQ(d, list[k].dot(af.data(), 100, bf.data(), 350, st, n, rows)) << list[k].name;
        }
    // dot_taps: each tap's sum, for 1 to kDotTapsMax taps at offsets of up to 40 floats, and
    // (sum_a) the sum of a behind them, with the same tap sums.
    for (int64_t n : {0, 1, 7, 8, 15, 16, 17, 33, 100})
      for (int64_t taps : {1, 2, 3, 5, 8, 9, 12})
        for (int64_t rows : {1, 3}) {
          std::vector<int64_t> off;
          for (int64_t t = 0; t < taps; ++t) off.push_back(t * 37 % 41);
          float out[kernels::kDotTapsMax + 1], again[kernels::kDotTapsMax], with_sum[kernels::kDotTapsMax + 1];
          out[taps] = -1;  // untouched without sum_a
          list[k].dot_taps(af.data(), 100, bf.data(), 350, off.data(), taps, n, rows, out, false);
          list[k].dot_taps(af.data(), 100, bf.data(), 350, off.data(), taps, n, rows, again, false);
          list[k].dot_taps(af.data(), 100, bf.data(), 350, off.data(), taps, n, rows, with_sum, true);
          EXPECT_EQ(out[taps], -1) << list[k].name;
          for (int64_t t = 0; t < taps; ++t) {
            double exact = 0, mag = 0;
            for (int64_t r = 0; r < rows; ++r)
              for (int64_t i = 0; i < n; ++i) {
                const double v = static_cast<double>(af[r * 100 + i]) * bf[r * 350 + off[t] + i];
                exact += v;
                mag += std::abs(v);
              }
            EXPECT_LE(std::abs(out[t] - exact), (n * rows + 1) * 0x1p-24 * mag + 1e-30)
                << list[k].name << " dot_taps n " << n << " taps " << taps << " tap " << t << " rows " << rows;
            EXPECT_EQ(out[t], again[t]) << list[k].name;
            EXPECT_EQ(out[t], with_sum[t]) << list[k].name;
          }
          double exact = 0, mag = 0;
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t i = 0; i < n; ++i) exact += af[r * 100 + i], mag += std::abs(af[r * 100 + i]);
          EXPECT_LE(std::abs(with_sum[taps] - exact), (n * rows + 1) * 0x1p-24 * mag + 1e-30)
              << list[k].name << " dot_taps sum of a, n " << n << " taps " << taps << " rows " << rows;
        }
    for (int64_t n : {0, 1, 7, 8, 15, 16, 17, 33, 100})
      for (int64_t st : {1, 2, 3}) {
        std::vector<float> y(bf.begin(), bf.end());
        list[k].axpy(0.75f, af.data(), n, y.data(), st);
        for (int64_t i = 0; i < 400; ++i) {
          const bool hit = i % st == 0 && i / st < n;
          const float want = hit ? std::fma(0.75f, af[i / st], bf[i]) : bf[i];
          EXPECT_NEAR(y[i], want, hit ? 1e-6 * (1 + std::abs(want)) : 0.0) << list[k].name << " axpy n " << n << " at " << i;
        }
      }
    // dot_taps3x3: the 9 taps (kh, kw) at off[kw] + kh ldb of rows 1 to 5 (pairs and an odd
    // last row), against float64 sums within the rounding bound, and the sum of a (out[9]
    // untouched without it); a and b exactly as long as the rows read.
    for (int64_t n : {1, 7, 16, 17, 40})
      for (int64_t rows : {1, 2, 4, 5})
        for (bool sum_a : {false, true}) {
          const int64_t lda = n + 3, ldb = n + 6, off[3] = {0, 1, 2};
          std::vector<float> a(af.begin(), af.begin() + (rows - 1) * lda + n);
          std::vector<float> b(bf.begin(), bf.begin() + (rows + 1) * ldb + 2 + n);
          float out[10];
          out[9] = -7.0f;
          list[k].dot_taps3x3(a.data(), lda, b.data(), ldb, off, n, rows, out, sum_a);
          if (!sum_a) {
            EXPECT_EQ(out[9], -7.0f) << list[k].name;
          }
          for (int64_t t = 0; t <= (sum_a ? 9 : 8); ++t) {
            double exact = 0, mag = 0;
            for (int64_t r = 0; r < rows; ++r)
              for (int64_t i = 0; i < n; ++i) {
                const double v = t == 9 ? a[r * lda + i] : static_cast<double>(a[r * lda + i]) * b[r * ldb + t / 3 * ldb + off[t % 3] + i];
                exact += v, mag += std::abs(v);
              }
            EXPECT_LE(std::abs(out[t] - exact), (n * rows + 1) * 0x1p-24 * mag + 1e-30)
                << list[k].name << " dot_taps3x3 n " << n << " rows " << rows << " tap " << t;
          }
        }
    // taps_sum: out[i] = init + w[0] rows[0][i] + ... as a chain of fmaf, exactly; rows of
    // exactly n readable floats; nothing past out[n - 1] written; no taps gives init.
    for (int64_t n : {0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 100})
      for (int64_t taps : {0, 1, 2, 5}) {
        std::vector<std::vector<float>> rows;
        std::vector<const float*> ptrs;
        std::vector<float> w;
        for (int64_t t = 0; t < taps; ++t) {
          rows.emplace_back(bf.begin() + t * 37, bf.begin() + t * 37 + n);
          w.push_back(af[static_cast<std::size_t>(t)]);
        }
        for (const auto& r : rows) ptrs.push_back(r.data());
        std::vector<float> out(static_cast<std::size_t>(n) + 1, -7.0f);
        list[k].taps_sum(ptrs.data(), w.data(), taps, n, 0.5f, out.data());
        for (int64_t i = 0; i < n; ++i) {
          float want = 0.5f;
          for (int64_t t = 0; t < taps; ++t) want = std::fma(w[static_cast<std::size_t>(t)], rows[static_cast<std::size_t>(t)][static_cast<std::size_t>(i)], want);
          ASSERT_EQ(out[static_cast<std::size_t>(i)], want) << list[k].name << " taps_sum n " << n << " taps " << taps << " at " << i;
        }
        EXPECT_EQ(out[static_cast<std::size_t>(n)], -7.0f) << list[k].name;
      }
  }
}

TEST(Grad, AddTapsKernelsFollowTheirContract) {
  // add_taps: y[off[t] + j st] += c[t ldc + j] inside [lo, hi), each element's terms in
  // increasing t, one rounding each (the bits of one axpy per row); no element outside [lo, hi)
  // or the rows' reach written. Rows at offsets before, inside and past the range, 1 to 9 of
  // them, overlapping (a 1-d layer's taps) or not, strides 1 to 3, spans of 1 to 5 blocks.
  int count = 0;
  const kernels::Blas1Kernel* list = kernels::blas1_kernel_list(&count);
  Generator gen(37);
  const auto cv = randn({9 * 90}, kFloat32, &gen).to_vector(), yv = randn({260}, kFloat32, &gen).to_vector();
  const std::vector<float> c(cv.begin(), cv.end());
  constexpr int64_t kMargin = 20;  // y[kMargin + p] holds element p; lo >= -kMargin
  for (int k = 0; k < count; ++k) {
    if (list[k].isa > internal::detected_isa()) continue;
    for (int64_t st : {1, 2, 3})
      for (int64_t n : {1, 5, 8, 17, 40, 80})
        for (int64_t taps : {1, 3, 4, 9})
          for (int64_t first_off : {-19, -3, 0, 2, 60})
            for (auto [lo, hi] : {std::pair<int64_t, int64_t>{0, 50}, {-5, 200}, {3, 9}, {0, 0}}) {
              std::vector<int64_t> off;
              for (int64_t t = 0; t < taps; ++t) off.push_back(first_off + (t * 5) % 7 - 1);
              std::vector<float> y(yv.begin(), yv.end()), want = y;
              for (int64_t t = 0; t < taps; ++t)
                for (int64_t j = 0; j < n; ++j) {
                  const int64_t p = off[t] + j * st;
                  if (p >= lo && p < hi) want[kMargin + p] = std::fma(1.0f, c[t * 90 + j], want[kMargin + p]);
                }
              list[k].add_taps(c.data(), 90, off.data(), taps, n, st, y.data() + kMargin, lo, hi);
              for (std::size_t i = 0; i < y.size(); ++i)
                ASSERT_EQ(std::bit_cast<uint32_t>(y[i]), std::bit_cast<uint32_t>(want[i]))
                    << list[k].name << " st " << st << " n " << n << " taps " << taps << " first offset " << first_off
                    << " range [" << lo << ", " << hi << ") at " << static_cast<int64_t>(i) - kMargin;
            }
  }
}

TEST(Grad, Window3x3KernelsFollowTheirContract) {
  // dot_window3x3 of every kernel the CPU runs that has one, over planes from 1 x 1 to 9 x 57 with each
  // column stride (1, 2), padding before the columns (0, 1) and rows (0 to 4: passes reading
  // only padding rows), row stride (1 to 3, the paired and the single-row passes) and padding
  // after (0, 1): the nine sums against
  // float64 within their rounding bound, out[9] the sum of a (untouched without sum_a), the
  // same bits on a second call. Every input element no valid window reads is NaN and must not
  // reach a sum; a and x are exactly as long as the plane.
  int count = 0;
  const kernels::Blas1Kernel* list = kernels::blas1_kernel_list(&count);
  Generator gen(32);
  const auto pool = randn({600 + 9 * 57}, kFloat32, &gen).to_vector();  // a from the start, x from 600 on
  for (int k = 0; k < count; ++k) {
    if (list[k].isa > internal::detected_isa() || list[k].dot_window3x3 == nullptr) continue;
    for (int64_t h : {1, 2, 5, 9})
      for (int64_t w : {1, 2, 15, 16, 17, 33, 56, 57})
        for (int64_t sw : {1, 2})
          for (int64_t pw : {0, 1})
            for (int64_t ph : {0, 1, 2, 3, 4})
              for (int64_t sh : {1, 2, 3})
                for (int64_t hi : {0, 1}) {
                  const int64_t ho = (h + ph + hi - 3) / sh + 1, wo = (w + 2 * pw - 3) / sw + 1;
                  if (h + ph + hi < 3 || w + 2 * pw < 3 || ho <= 0 || wo <= 0) continue;
                  std::vector<float> x(static_cast<std::size_t>(h * w), std::nanf("")), a(pool.begin(), pool.begin() + ho * wo);
                  auto at = [&](int64_t oh, int64_t ow, int64_t t) -> int64_t {  // x index tap t reads, or -1
                    const int64_t i = oh * sh + t / 3 - ph, j = ow * sw + t % 3 - pw;
                    return i >= 0 && i < h && j >= 0 && j < w ? i * w + j : -1;
                  };
                  for (int64_t oh = 0; oh < ho; ++oh)
                    for (int64_t ow = 0; ow < wo; ++ow)
                      for (int64_t t = 0; t < 9; ++t)
                        if (const int64_t e = at(oh, ow, t); e >= 0) x[static_cast<std::size_t>(e)] = pool[static_cast<std::size_t>(e + 600)];
                  const kernels::Window3x3 p{a.data(), x.data(), h, w, ho, wo, sh, sw, ph, pw};
                  float out[10], again[10];
                  out[9] = -7.0f;
                  list[k].dot_window3x3(p, out, false);
                  EXPECT_EQ(out[9], -7.0f) << list[k].name;
                  list[k].dot_window3x3(p, again, true);
                  for (int64_t t = 0; t < 10; ++t) {
                    double exact = 0, mag = 0;
                    for (int64_t oh = 0; oh < ho; ++oh)
                      for (int64_t ow = 0; ow < wo; ++ow) {
                        const int64_t e = t < 9 ? at(oh, ow, t) : 0;
                        if (e < 0) continue;
                        const double v = static_cast<double>(a[static_cast<std::size_t>(oh * wo + ow)]) * (t < 9 ? x[static_cast<std::size_t>(e)] : 1.0f);
                        exact += v, mag += std::abs(v);
                      }
                    const float got = t < 9 ? out[t] : again[9];
                    ASSERT_LE(std::abs(got - exact), (ho * wo + 1) * 0x1p-24 * mag + 1e-30)
                        << list[k].name << " h " << h << " w " << w << " sw " << sw << " pw " << pw << " ph " << ph << " sh " << sh
                        << " hi " << hi << " tap " << t;
                    if (t < 9) {
                      EXPECT_EQ(out[t], again[t]) << list[k].name;
                    }
                  }
                  // An inf in the last read element: each tap's sum is inf or NaN exactly where
                  // its terms make it so (no term of a missing output row, or of a lane past
                  // wo, may add 0 * inf).
                  std::size_t last = 0;
                  for (std::size_t e = 0; e < x.size(); ++e)
                    if (!std::isnan(x[e])) last = e;
                  std::vector<float> xi(x);
                  xi[last] = INFINITY;
                  const kernels::Window3x3 pi{a.data(), xi.data(), h, w, ho, wo, sh, sw, ph, pw};
                  list[k].dot_window3x3(pi, out, false);
                  for (int64_t t = 0; t < 9; ++t) {
                    double exact = 0;
                    for (int64_t oh = 0; oh < ho; ++oh)
                      for (int64_t ow = 0; ow < wo; ++ow)
                        if (const int64_t e = at(oh, ow, t); e >= 0)
                          exact += static_cast<double>(a[static_cast<std::size_t>(oh * wo + ow)]) * xi[static_cast<std::size_t>(e)];
                    ASSERT_EQ(std::isnan(out[t]), std::isnan(exact))
                        << list[k].name << " inf, tap " << t << " h " << h << " w " << w << " sw " << sw << " pw " << pw
                        << " ph " << ph << " sh " << sh << " hi " << hi;
                    ASSERT_EQ(std::isinf(out[t]), std::isinf(exact)) << list[k].name << " inf, tap " << t;
                  }
                }
  }
}

TEST(Grad, DepthwiseThreeByThreeGradientsWithDepthPaddingKeepTheCopies) {
  // A 3-d depthwise layer of one input plane whose single output plane reads the depth padding
  // (kernel depth 1, depth stride 3, padding 1 before and after): dW and dX are zero, which
  // the paths that read planes in place would miss. Weight and input gradients (column stride
  // 1 and 2) against the reference under every ISA cap.
  Generator gen(35);
  const Tensor x = randn({2, 3, 1, 9, 17}, kFloat32, &gen), w = randn({3, 1, 1, 3, 3}, kFloat32, &gen);
  for (int64_t sw : {1, 2}) {
    const auto o = F::Conv3dFuncOptions().stride({3, 1, sw}).padding(1).groups(3);
    const Tensor gy = randn(F::conv3d(x, w, Tensor(), o).sizes(), kFloat32, &gen);
    ASSERT_EQ(gy.sizes()[2], 1);
    const auto want = F::conv_backward(gy, x, w, F::Conv3dFuncOptions(o).algorithm("reference"));
    for (internal::Isa isa : isas()) {
      IsaCap cap(isa);
      const auto got = F::conv_backward(gy, x, w, o);
      EXPECT_TRUE(all_close(got.grad_weight, want.grad_weight, dtype_tolerance(kFloat32))) << internal::name_of(isa) << " sw " << sw;
      EXPECT_TRUE(all_close(got.grad_input, want.grad_input, dtype_tolerance(kFloat32))) << internal::name_of(isa) << " sw " << sw;
    }
  }
}

TEST(Grad, InputWindow3x3KernelsFollowTheirContract) {
  // input_window3x3 of every kernel the CPU runs that has one, over dY planes and input widths
  // around the 16-pair blocks (odd and even), each padding before the columns (0, 1) and rows
  // (0 to 2), row strides 1 to 3, rows from the first or the second on: the sums of the
  // contract in its order (fmaf from init, increasing taps, no terms of missing dY columns)
  // bit for bit, and nothing written past the rows.
  int count = 0;
  const kernels::Blas1Kernel* list = kernels::blas1_kernel_list(&count);
  Generator gen(33);
  const auto pool = randn({1200}, kFloat32, &gen).to_vector();
  const float wt[9] = {0.5f, -1.25f, 0.75f, 2.0f, -0.5f, 1.5f, -2.25f, 0.25f, 1.0f};
  for (int k = 0; k < count; ++k) {
    if (list[k].isa > internal::detected_isa() || list[k].input_window3x3 == nullptr) continue;
    for (int64_t h : {1, 3, 8})
      for (int64_t w : {1, 2, 15, 31, 32, 33, 64, 67})
        for (int64_t sh : {1, 2, 3})
          for (int64_t ph : {0, 1, 2})
            for (int64_t pw : {0, 1})
              for (int64_t i0 : {0, 1}) {
                const int64_t ho = (h + 2 * ph - 3) / sh + 1, wo = (w + 2 * pw - 3) / 2 + 1;
                if (h + 2 * ph < 3 || w + 2 * pw < 3 || i0 >= h) continue;
                const std::vector<float> dy(pool.begin(), pool.begin() + ho * wo);
                std::vector<float> dx(static_cast<std::size_t>((h - i0) * w + 20), 9.0f);
                list[k].input_window3x3(kernels::InputWindow3x3{dy.data(), wt, dx.data(), h, w, ho, wo, i0, h, sh, ph, pw, 0.125f});
                for (int64_t i = i0; i < h; ++i)
                  for (int64_t j = 0; j < w; ++j) {
                    float want = 0.125f;
                    for (int64_t t = 0; t < 9; ++t) {
                      const int64_t dh = i + ph - t / 3, dw = j + pw - t % 3;
                      if (dh >= 0 && dw >= 0 && dh % sh == 0 && dw % 2 == 0 && dh / sh < ho && dw / 2 < wo)
                        want = std::fma(wt[t], dy[static_cast<std::size_t>(dh / sh * wo + dw / 2)], want);
                    }
                    const float got = dx[static_cast<std::size_t>((i - i0) * w + j)];
                    ASSERT_EQ(std::memcmp(&got, &want, sizeof got), 0)
                        << list[k].name << " h " << h << " w " << w << " sh " << sh << " ph " << ph << " pw " << pw << " at " << i << "," << j;
                  }
                for (std::size_t e = static_cast<std::size_t>((h - i0) * w); e < dx.size(); ++e) ASSERT_EQ(dx[e], 9.0f) << list[k].name;
              }
  }
}

TEST(Grad, DepthwiseThreeByThreeWeightGradientReadsTheInputInPlace) {
  // The depthwise 3 x 3 weight gradients dot_window3x3 serves (column stride 1 or 2, padding of
  // at most one column before the input; MobileNet's layers and TensorFlow's 'same' with the
  // padding after), with a multiplier, conv_mode=convolution, widths around the 16-lane blocks
  // and a row stride of 3: against the reference under every ISA cap, the same bits for 1 and 3
  // threads. An inf in dY where the windows read padding lands where the reference puts it.
  struct Case {
    Shape x;
    int64_t mult, sh, sw;
    std::vector<std::pair<int64_t, int64_t>> pad;  // (lo, hi) per dim
    bool mirrored;
  };
  const Case cases[] = {
      {{2, 4, 9, 17}, 1, 1, 1, {{1, 1}, {1, 1}}, false},
      {{2, 3, 10, 33}, 2, 2, 2, {{1, 1}, {1, 1}}, true},
      {{1, 3, 8, 16}, 1, 2, 2, {{0, 1}, {0, 1}}, false},
      {{2, 2, 11, 56}, 1, 1, 1, {{0, 0}, {0, 0}}, false},
      {{1, 2, 12, 31}, 1, 3, 1, {{2, 0}, {1, 1}}, true},
      {{1, 5, 7, 57}, 1, 2, 1, {{1, 1}, {1, 0}}, false},
  };
  // Within the float32 tolerance where the reference is finite, the same inf or NaN elsewhere.
  auto matches = [](const Tensor& got, const Tensor& want) -> ::testing::AssertionResult {
    const auto g = got.to_vector(), r = want.to_vector();
    for (std::size_t i = 0; i < r.size(); ++i)
      if (!(std::isnan(r[i]) ? std::isnan(g[i]) : std::isinf(r[i]) ? g[i] == r[i] : std::abs(g[i] - r[i]) <= dtype_tolerance(kFloat32) * (1 + std::abs(r[i]))))
        return ::testing::AssertionFailure() << "[" << i << "] " << g[i] << " vs " << r[i];
    return ::testing::AssertionSuccess();
  };
  Generator gen(23);
  for (const Case& c : cases) {
    SCOPED_TRACE(shape_str(c.x));
    const int64_t C = c.x[1];
    Tensor x = randn(c.x, kFloat32, &gen);
    const Tensor w = randn({C * c.mult, 1, 3, 3}, kFloat32, &gen);
    const auto o = F::Conv2dFuncOptions().stride({c.sh, c.sw}).padding(c.pad).groups(C).conv_mode(c.mirrored ? "convolution" : "cross_correlation");
    for (bool inf : {false, true}) {
      Tensor gy = randn(F::conv2d(x, w, Tensor(), o).sizes(), kFloat32, &gen);
      if (inf) internal::mutable_data<float>(gy)[0] = std::numeric_limits<float>::infinity();  // reads padding
      auto grads = [&](Algorithm a) { return F::conv_backward(gy, x, w, F::Conv2dFuncOptions(o).algorithm(a), {false, true, true}); };
      const auto want = grads(Algorithm::Reference);
      for (internal::Isa isa : isas()) {
        IsaCap cap(isa);
        const int before = get_num_threads();
        set_num_threads(1);
        const auto one = grads(Algorithm::Auto);
        set_num_threads(3);
        const auto three = grads(Algorithm::Auto);
        set_num_threads(before);
        EXPECT_TRUE(matches(one.grad_weight, want.grad_weight)) << internal::name_of(isa) << " inf " << inf;
        EXPECT_TRUE(matches(one.grad_bias, want.grad_bias)) << internal::name_of(isa) << " inf " << inf;
        EXPECT_TRUE(bitwise_equal(one.grad_weight, three.grad_weight)) << internal::name_of(isa);
        EXPECT_TRUE(bitwise_equal(one.grad_bias, three.grad_bias)) << internal::name_of(isa);
      }
    }
  }
}

}  // namespace
}  // namespace convkit::test
