// The gradient paths' vector kernels against their contracts, for every kernel the CPU runs:
// the transpose kernels that pack operands and the blas1 dot products and axpys of the direct
// (depthwise) paths, each against float64 sums or the elements they must (not) write.
#include <cmath>

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

}  // namespace
}  // namespace convkit::test
