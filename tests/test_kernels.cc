// The forward engine's microkernels against their contracts, for every kernel the CPU runs:
// the GEMM tiles and edges and the depthwise rows against naive loops, the Winograd
// transforms against the published matrices, the strided copies against what they may read
// and write, the 16-bit conversions against the rules of dtype.h.
#include <cstring>
#include <random>

#include "kernels/convert/convert.h"
#include "kernels/copy/copy.h"
#include "kernels/dwconv/dwconv.h"
#include "kernels/gemm/gemm.h"
#include "kernels/gemm_bf16/gemm_bf16.h"
#include "kernels/gemm_f64/gemm_f64.h"
#include "kernels/winograd/winograd.h"
#include "test_util.h"

namespace convkit::test {
namespace {

using internal::Isa;

TEST(GemmKernels, EveryTileAndEdgeMatchesNaive) {
  // Every ISA has one kernel with the A-rows form (the weight gradient of 1x1 layers needs it).
  for (internal::Isa isa : isas()) EXPECT_NE(kernels::gemm_arows_kernel(isa), nullptr) << internal::name_of(isa);
  int count = 0;
  const kernels::GemmKernel* ks = kernels::gemm_kernel_list(&count);
  std::mt19937 rng(1);
  std::normal_distribution<float> nd;
  for (int ki = 0; ki < count; ++ki) {
    const auto& k = ks[ki];
    if (k.isa > internal::detected_isa()) continue;
    SCOPED_TRACE(k.name);
    for (int64_t kk : {0, 1, 7, 64}) {
      std::vector<float> a(static_cast<std::size_t>(kk * k.mr) + 1), bias(static_cast<std::size_t>(k.mr));
      Tensor b = Tensor::zeros({kk * k.nr + 1});
      for (auto& v : a) v = nd(rng);
      for (auto& v : bias) v = nd(rng);
      for (int64_t i = 0; i < kk * k.nr; ++i) b.data<float>()[i] = nd(rng);
      for (int64_t m = 1; m <= k.mr; ++m)
        for (int64_t n = 1; n <= k.nr; ++n)
          for (int mode = 0; mode < 3; ++mode) {  // 0: C = AB, 1: C = bias + AB, 2: C += AB
            const int64_t ldc = k.nr + 3;
            std::vector<float> c(static_cast<std::size_t>(k.mr * ldc), 0.5f), expect = c;
            for (int64_t i = 0; i < m; ++i)
              for (int64_t j = 0; j < n; ++j) {
                double s = 0;
                for (int64_t p = 0; p < kk; ++p) s += double(a[p * k.mr + i]) * b.data<float>()[p * k.nr + j];
                const double init = mode == 2 ? 0.5 : mode == 1 ? bias[static_cast<std::size_t>(i)] : 0.0;
                expect[static_cast<std::size_t>(i * ldc + j)] = static_cast<float>(init + s);
              }
            k.fn(kk, a.data(), b.data<float>(), k.nr, c.data(), ldc, m, n, mode == 2, mode == 1 ? bias.data() : nullptr);
            for (std::size_t i = 0; i < c.size(); ++i)
              ASSERT_NEAR(c[i], expect[i], 1e-4) << "m=" << m << " n=" << n << " k=" << kk << " mode=" << mode << " at " << i;
            if (kk == 0) continue;
            // Unpacked B: leading dimension past NR, and the last row holds only n values, so
            // any read beyond column n runs off the allocation (ASan would report it).
            const int64_t ldb = k.nr + 5;
            std::vector<float> b2(static_cast<std::size_t>((kk - 1) * ldb + n));
            for (int64_t p = 0; p < kk; ++p)
              for (int64_t j = 0; j < n; ++j) b2[static_cast<std::size_t>(p * ldb + j)] = b.data<float>()[p * k.nr + j];
            std::vector<float> c2(static_cast<std::size_t>(k.mr * ldc), 0.5f);
            k.fn(kk, a.data(), b2.data(), ldb, c2.data(), ldc, m, n, mode == 2, mode == 1 ? bias.data() : nullptr);
            for (std::size_t i = 0; i < c2.size(); ++i) ASSERT_NEAR(c2[i], expect[i], 1e-4) << "unpacked B, at " << i;
            // B rows through pointers: each row its own allocation of off + n floats (reads past
            // column n run off it), listed in reverse allocation order.
            const int64_t off = 3;
            std::vector<std::vector<float>> rows(static_cast<std::size_t>(kk));
            std::vector<const float*> ptrs(static_cast<std::size_t>(kk));
            for (int64_t p = kk - 1; p >= 0; --p) {
              auto& r = rows[static_cast<std::size_t>(p)];
              r.assign(static_cast<std::size_t>(off + n), -7.0f);
              for (int64_t j = 0; j < n; ++j) r[static_cast<std::size_t>(off + j)] = b.data<float>()[p * k.nr + j];
              ptrs[static_cast<std::size_t>(p)] = r.data();
            }
            std::vector<float> c3(static_cast<std::size_t>(k.mr * ldc), 0.5f);
            k.rows(kk, a.data(), ptrs.data(), off, c3.data(), ldc, m, n, mode == 2, mode == 1 ? bias.data() : nullptr);
            for (std::size_t i = 0; i < c3.size(); ++i) ASSERT_NEAR(c3[i], expect[i], 1e-4) << "B row pointers, at " << i;
            if (k.arows == nullptr) continue;
            // A rows read in place: only m row pointers (a list of m entries), each row its own
            // allocation of aoff + kk floats (reads past step kk or of rows past m run off it).
            const int64_t aoff = 2;
            std::vector<std::vector<float>> arows(static_cast<std::size_t>(m));
            std::vector<const float*> aptrs;
            for (int64_t i = 0; i < m; ++i) {
              auto& r = arows[static_cast<std::size_t>(i)];
              r.assign(static_cast<std::size_t>(aoff + kk), -3.0f);
              for (int64_t p = 0; p < kk; ++p) r[static_cast<std::size_t>(aoff + p)] = a[static_cast<std::size_t>(p * k.mr + i)];
              aptrs.push_back(r.data());
            }
            std::vector<float> c4(static_cast<std::size_t>(k.mr * ldc), 0.5f);
            k.arows(kk, aptrs.data(), aoff, b2.data(), ldb, c4.data(), ldc, m, n, mode == 2, mode == 1 ? bias.data() : nullptr);
            for (std::size_t i = 0; i < c4.size(); ++i) ASSERT_NEAR(c4[i], expect[i], 1e-4) << "A row pointers, at " << i;
          }
    }
  }
}

TEST(GemmKernels, AColumnsTilesMatchNaive) {
  // The A-columns form (A[i, p] = acols[p][aoff + i], the bias per column) of every ISA on every
  // edge: each k step's column its own allocation of aoff + m floats, listed in reverse
  // allocation order (reads of rows past m run off it), B unpacked with its last row n values
  // long.
  std::mt19937 rng(3);
  std::normal_distribution<float> nd;
  int count = 0;
  const kernels::GemmKernel* list = kernels::gemm_acols_kernel_list(&count);
  for (internal::Isa isa : isas()) {
    // Each ISA's tiles cover 7 to 14 rows, and rows of 33 go to 11-row tiles, of 56 to 14.
    EXPECT_EQ(kernels::gemm_acols_kernel(isa, 33).mr, 11) << internal::name_of(isa);
    EXPECT_EQ(kernels::gemm_acols_kernel(isa, 56).mr, 14) << internal::name_of(isa);
    EXPECT_EQ(kernels::gemm_acols_kernel(isa, 33).isa, isa);
  }
  for (int ki = 0; ki < count; ++ki) {
    const kernels::GemmKernel& k = list[ki];
    if (k.isa > internal::detected_isa()) continue;
    SCOPED_TRACE(k.name);
    ASSERT_NE(k.acols, nullptr);
    for (int64_t kk : {0, 1, 7, 64}) {
      std::vector<float> a(static_cast<std::size_t>(kk * k.mr)), bias(static_cast<std::size_t>(k.nr));  // per column
      for (auto& v : a) v = nd(rng);
      for (auto& v : bias) v = nd(rng);
      for (int64_t m = 1; m <= k.mr; ++m)
        for (int64_t n = 1; n <= k.nr; ++n) {
          const int64_t aoff = 3, ldb = k.nr + 5, ldc = k.nr + 3;
          std::vector<std::vector<float>> cols(static_cast<std::size_t>(kk));
          std::vector<const float*> ptrs(static_cast<std::size_t>(kk));
          for (int64_t p = kk - 1; p >= 0; --p) {
            auto& col = cols[static_cast<std::size_t>(p)];
            col.assign(static_cast<std::size_t>(aoff + m), -7.0f);
            for (int64_t i = 0; i < m; ++i) col[static_cast<std::size_t>(aoff + i)] = a[static_cast<std::size_t>(p * k.mr + i)];
            ptrs[static_cast<std::size_t>(p)] = col.data();
          }
          std::vector<float> b(static_cast<std::size_t>(kk > 0 ? (kk - 1) * ldb + n : 1));
          for (auto& v : b) v = nd(rng);
          for (int mode = 0; mode < 3; ++mode) {  // 0: C = AB, 1: C = bias + AB, 2: C += AB
            std::vector<float> c(static_cast<std::size_t>(k.mr * ldc), 0.5f), expect = c;
            for (int64_t i = 0; i < m; ++i)
              for (int64_t j = 0; j < n; ++j) {
                double sum = 0;
                for (int64_t p = 0; p < kk; ++p) sum += double(a[static_cast<std::size_t>(p * k.mr + i)]) * b[static_cast<std::size_t>(p * ldb + j)];
                const double init = mode == 2 ? 0.5 : mode == 1 ? bias[static_cast<std::size_t>(j)] : 0.0;
                expect[static_cast<std::size_t>(i * ldc + j)] = static_cast<float>(init + sum);
              }
            k.acols(kk, ptrs.data(), aoff, b.data(), ldb, c.data(), ldc, m, n, mode == 2, mode == 1 ? bias.data() : nullptr);
            for (std::size_t i = 0; i < c.size(); ++i)
              ASSERT_NEAR(c[i], expect[i], 1e-4) << "m=" << m << " n=" << n << " k=" << kk << " mode=" << mode << " at " << i;
          }
        }
    }
  }
}

// One dwconv kernel (float32 or float64) on every tile shape, against a double-precision sum.
template <typename T>
void check_dwconv(void (*fn)(const kernels::DwRows<T>&), double tol) {
  std::mt19937 rng(2);
  std::normal_distribution<T> nd;
  std::vector<T> w(7 * 40), bias(7);
  for (auto& v : w) v = nd(rng);
  for (auto& v : bias) v = nd(rng);
  for (int64_t ntaps : {1, 3, 9, 40})
    for (int64_t orows : {1, 2, 3})
      for (int64_t mo : {1, 2, 3, 4, 7})
        for (int64_t wo : {1, 7, 8, 16, 17, 33, 64, 65, 100, 130}) {
          SCOPED_TRACE("taps " + std::to_string(ntaps) + " rows " + std::to_string(orows) + " mo " +
                       std::to_string(mo) + " wo " + std::to_string(wo));
          // Output row j reads each tap j * step further on; every tap's buffer ends exactly
          // where the contract's readable span does, so reads past it run off the allocation
          // (ASan reports them).
          const int64_t span = wo - 1 + kernels::kDwRowSlack, step = span + 5;
          std::vector<std::vector<T>> data(static_cast<std::size_t>(ntaps),
                                           std::vector<T>(static_cast<std::size_t>((orows - 1) * step + span)));
          std::vector<const T*> taps;
          for (auto& d : data) {
            for (auto& v : d) v = nd(rng);
            taps.push_back(d.data());
          }
          // Output rows ys_r = wo + 2 apart, channels ys_c further: the gaps must stay 9.
          const int64_t ys_r = wo + 2, ys_c = orows * ys_r + 3;
          std::vector<T> y(static_cast<std::size_t>(mo * ys_c), T{9});
          const T* bp = mo % 2 ? bias.data() : nullptr;
          fn(kernels::DwRows<T>{taps.data(), ntaps, w.data(), bp, y.data(), ys_c, ys_r, wo, mo, orows, step});
          std::vector<T> expect(y.size(), T{9});
          for (int64_t m = 0; m < mo; ++m)
            for (int64_t j = 0; j < orows; ++j)
              for (int64_t o = 0; o < wo; ++o) {
                long double sum = bp ? bias[static_cast<std::size_t>(m)] : 0.0;
                for (int64_t t = 0; t < ntaps; ++t)
                  sum += static_cast<long double>(w[static_cast<std::size_t>(m * ntaps + t)]) *
                         taps[static_cast<std::size_t>(t)][j * step + o];
                expect[static_cast<std::size_t>(m * ys_c + j * ys_r + o)] = static_cast<T>(sum);
              }
          for (std::size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], expect[i], tol) << "at " << i;
        }
}

TEST(DwconvKernels, EveryShapeMatchesNaive) {
  int count = 0;
  const kernels::DwconvKernel* ks = kernels::dwconv_kernel_list(&count);
  for (int ki = 0; ki < count; ++ki) {
    if (ks[ki].isa > internal::detected_isa()) continue;
    SCOPED_TRACE(ks[ki].name);
    check_dwconv<float>(ks[ki].fn, 1e-4);
    check_dwconv<double>(ks[ki].fn64, 1e-12);
  }
}

TEST(DwconvKernels, ChannelsLastRowFollowsItsContract) {
  // Every kernel's channels-last row over channel counts around each vector width, kernel
  // sizes 1-5 (rows of zero padding left out), column strides, dilations and paddings (columns
  // of padding skipped, whole windows in it too), with the input's pixels wider than its
  // channels and every unread element NaN (between pixels, and two pixels before and after the
  // row): a double-precision sum of the same terms, and nothing written past the row's
  // channels or after its last column.
  int count = 0;
  const kernels::DwconvKernel* ks = kernels::dwconv_kernel_list(&count);
  std::mt19937 rng(6);
  std::normal_distribution<float> nd;
  for (int ki = 0; ki < count; ++ki) {
    if (ks[ki].isa > internal::detected_isa()) continue;
    SCOPED_TRACE(ks[ki].name);
    for (int64_t C : {1, 7, 8, 9, 16, 17, 40})
      for (int64_t W : {1, 3, 20})
        for (int64_t kh : {1, 3})
          for (int64_t kw : {1, 3, 5})
            for (int64_t sw : {1, 2})
              for (int64_t dw : {1, 2})
                for (int64_t pw : {0, 1, 6}) {
                  const int64_t span = (kw - 1) * dw + 1, wo = W + 2 * pw >= span ? (W + 2 * pw - span) / sw + 1 : 0;
                  if (wo == 0) continue;
                  SCOPED_TRACE(internal::str_cat("C ", C, " W ", W, " kh ", kh, " kw ", kw, " sw ", sw, " dw ", dw, " pw ", pw));
                  const int64_t xs = C + 3, ys = C + 5;  // pixel gaps: NaN in x, a sentinel in y
                  const int64_t margin = 2 * xs;  // NaN pixels before column 0 and after column W - 1
                  std::vector<std::vector<float>> rows(static_cast<std::size_t>(kh), std::vector<float>(static_cast<std::size_t>(W * xs + 2 * margin), std::nanf("")));
                  std::vector<const float*> taps;
                  for (int64_t r = 0; r < kh; ++r) {
                    float* row = rows[static_cast<std::size_t>(r)].data() + margin;
                    for (int64_t j = 0; j < W; ++j)
                      for (int64_t c = 0; c < C; ++c) row[j * xs + c] = nd(rng);
                    taps.push_back(r == 1 ? nullptr : row);  // row 1 is padding
                  }
                  std::vector<float> w(static_cast<std::size_t>(kh * kw * C)), bias(static_cast<std::size_t>(C));
                  for (float& v : w) v = nd(rng);
                  for (float& v : bias) v = nd(rng);
                  std::vector<float> y(static_cast<std::size_t>((wo + 2) * ys), 7.0f);  // two columns of sentinels after
                  ks[ki].nhwc_row(kernels::DwNhwcRow{taps.data(), kh, kw, w.data(), bias.data(), C, W, xs, wo, sw, dw, pw, y.data(), ys});
                  for (int64_t o = 0; o < wo + 2; ++o)
                    for (int64_t c = 0; c < ys; ++c) {
                      const float got = y[static_cast<std::size_t>(o * ys + c)];
                      if (c >= C || o >= wo) {
                        ASSERT_EQ(got, 7.0f) << "written past the channels at column " << o;
                        continue;
                      }
                      double want = bias[static_cast<std::size_t>(c)];
                      for (int64_t r = 0; r < kh; ++r)
                        for (int64_t t = 0; t < kw && taps[static_cast<std::size_t>(r)]; ++t) {
                          const int64_t iw = o * sw + t * dw - pw;
                          if (iw >= 0 && iw < W)
                            want += static_cast<double>(w[static_cast<std::size_t>((r * kw + t) * C + c)]) *
                                    taps[static_cast<std::size_t>(r)][iw * xs + c];
                        }
                      ASSERT_NEAR(got, want, 1e-5 * (1 + std::abs(want))) << "column " << o << " channel " << c;
                    }
                }
  }
}

TEST(DwconvKernels, WindowGivesTheRowsKernelsBitsOnThePlaneInPlace) {
  // Every kernel with a window3x3, over planes from 1 x 1 to 9 x 57 (rows 3 floats apart, the
  // gap NaN: never read), each column stride, padding before the columns (0, 1) and rows (0 to
  // 2), row stride (1 to 3) and padding after (0, 1), all output rows or from the second on:
  // bit for bit the rows kernel of the same ISA over each tap's gathered values (zeros for the
  // padding), and nothing written past the rows.
  int count = 0;
  const kernels::DwconvKernel* ks = kernels::dwconv_kernel_list(&count);
  std::mt19937 rng(5);
  std::normal_distribution<float> nd;
  float w9[9];
  for (float& v : w9) v = nd(rng);
  for (int ki = 0; ki < count; ++ki) {
    if (ks[ki].isa > internal::detected_isa() || ks[ki].window3x3 == nullptr) continue;
    SCOPED_TRACE(ks[ki].name);
    for (int64_t h : {1, 2, 5, 9})
      for (int64_t w : {1, 2, 15, 16, 17, 33, 57})
        for (int64_t sw : {1, 2})
          for (int64_t pw : {0, 1})
            for (int64_t ph : {0, 1, 2})
              for (int64_t sh : {1, 2, 3})
                for (int64_t hi : {0, 1}) {
                  const int64_t ho = (h + ph + hi - 3) / sh + 1, wo = (w + 2 * pw - 3) / sw + 1, xs = w + 3;
                  if (h + ph + hi < 3 || w + 2 * pw < 3) continue;
                  std::vector<float> x(static_cast<std::size_t>(h * xs), std::nanf(""));
                  for (int64_t i = 0; i < h; ++i)
                    for (int64_t j = 0; j < w; ++j) x[static_cast<std::size_t>(i * xs + j)] = nd(rng);
                  for (int64_t oh0 : {int64_t{0}, std::min<int64_t>(1, ho - 1)}) {
                    SCOPED_TRACE(internal::str_cat("h ", h, " w ", w, " sw ", sw, " pw ", pw, " ph ", ph, " sh ", sh, " hi ", hi, " oh0 ", oh0));
                    const int64_t rows = ho - oh0, step = wo + kernels::kDwRowSlack;
                    std::vector<std::vector<float>> tap(9, std::vector<float>(static_cast<std::size_t>(rows * step), 0.0f));
                    std::vector<const float*> taps;
                    for (int64_t t = 0; t < 9; ++t) {
                      for (int64_t j = 0; j < rows; ++j)
                        for (int64_t o = 0; o < wo; ++o) {
                          const int64_t i = (oh0 + j) * sh + t / 3 - ph, c = o * sw + t % 3 - pw;
                          if (i >= 0 && i < h && c >= 0 && c < w) tap[static_cast<std::size_t>(t)][static_cast<std::size_t>(j * step + o)] = x[static_cast<std::size_t>(i * xs + c)];
                        }
                      taps.push_back(tap[static_cast<std::size_t>(t)].data());
                    }
                    const float bias = 0.25f;
                    std::vector<float> want(static_cast<std::size_t>(rows * wo + 16), 9.0f), got(want);
                    ks[ki].fn(kernels::DwRows<float>{taps.data(), 9, w9, &bias, want.data(), rows * wo, wo, wo, 1, rows, step});
                    ks[ki].window3x3(kernels::DwWindow3x3{x.data(), h, w, xs, w9, bias, got.data(), wo, oh0, ho, sh, sw, ph, pw});
                    ASSERT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * sizeof(float)));
                  }
                }
  }
}

// Winograd F(4x4, 3x3) and F(4, 3) transforms of every ISA against the published matrices (Lavin & Gray,
// arXiv:1509.09308) in double, and bit for bit against the scalar build. Reads past the
// contract hit NaN sentinels (and would poison the result); writes past it change sentinels.
TEST(WinogradKernels, TransformsMatchTheMatricesAndAgreeAcrossIsas) {
  const double BT[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                           {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
  const double AT[4][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};
  const double G[6][3] = {{1 / 4.0, 0, 0},           {-1 / 6.0, -1 / 6.0, -1 / 6.0}, {-1 / 6.0, 1 / 6.0, -1 / 6.0},
                          {1 / 24.0, 1 / 12.0, 1 / 6.0}, {1 / 24.0, -1 / 12.0, 1 / 6.0}, {0, 0, 1}};
  const float nan = std::numeric_limits<float>::quiet_NaN();
  int count = 0;
  const kernels::WinogradKernels* ks = kernels::winograd_kernel_list(&count);
  const kernels::WinogradKernels& scalar = kernels::winograd_kernels(Isa::Scalar);
  std::mt19937 rng(3);
  std::normal_distribution<float> nd;
  for (int ki = 0; ki < count; ++ki) {
    const auto& k = ks[ki];
    if (k.isa > internal::detected_isa()) continue;
    SCOPED_TRACE(k.isa_name);
    for (int64_t n = 1; n <= 16; ++n)
      for (int64_t split : {n, std::max<int64_t>(1, (n + 2) / 3)}) {  // (body not re-indented)
      SCOPED_TRACE("n " + std::to_string(n) + " in runs of " + std::to_string(split));
      // The n tiles as runs of `split` (the last shorter), each a view of the same rows from
      // its first tile on: lane t is still the window at columns 4t .. 4t+5.
      auto runs_of = [&](auto* base, int64_t ld_) {
        using Run = std::conditional_t<std::is_const_v<std::remove_pointer_t<decltype(base)>>, kernels::WinogradSrc,
                                       kernels::WinogradDst>;
        std::vector<Run> runs;
        for (int64_t t = 0; t < n; t += split) runs.push_back({base + 4 * t, ld_, std::min(split, n - t)});
        return runs;
      };
      // Input: 6 rows of 4n + 2 values, ld 4n + 5 (three NaN columns between rows).
      const int64_t ld = 4 * n + 5, vstride = 19;
      std::vector<float> strip(static_cast<std::size_t>(5 * ld + 4 * n + 2), nan);
      for (int64_t r = 0; r < 6; ++r)
        for (int64_t c = 0; c < 4 * n + 2; ++c) strip[static_cast<std::size_t>(r * ld + c)] = nd(rng);
      std::vector<float> v(36 * vstride, 7.0f), vs = v;
      const auto src = runs_of(static_cast<const float*>(strip.data()), ld);
      k.input(src.data(), static_cast<int64_t>(src.size()), v.data(), vstride);
      scalar.input(src.data(), static_cast<int64_t>(src.size()), vs.data(), vstride);
      for (int64_t t = 0; t < vstride; ++t)
        for (int xi = 0; xi < 36; ++xi) {
          const float got = v[static_cast<std::size_t>(xi * vstride + t)];
          if (t >= n) {
            ASSERT_EQ(got, 7.0f) << "lane " << t << " written";
            continue;
          }
          double e = 0;
          for (int r = 0; r < 6; ++r)
            for (int c = 0; c < 6; ++c) e += BT[xi / 6][r] * strip[static_cast<std::size_t>(r * ld + 4 * t + c)] * BT[xi % 6][c];
          ASSERT_NEAR(got, e, 1e-4 * (1 + std::fabs(e))) << "input xi " << xi << " tile " << t;
          ASSERT_EQ(std::memcmp(&got, &vs[static_cast<std::size_t>(xi * vstride + t)], 4), 0) << "input xi " << xi << " tile " << t;
        }
      // Output: lanes past n are NaN (never read); rows of 4n columns, ldo 4n + 3.
      const int64_t mstride = 17, ldo = 4 * n + 3;
      std::vector<float> m(36 * mstride, nan);
      for (int xi = 0; xi < 36; ++xi)
        for (int64_t t = 0; t < n; ++t) m[static_cast<std::size_t>(xi * mstride + t)] = nd(rng);
      const float bias = nd(rng);
      std::vector<float> out(static_cast<std::size_t>(4 * ldo), 7.0f), outs = out;
      const auto dst = runs_of(out.data(), ldo), dsts = runs_of(outs.data(), ldo);
      k.output(m.data(), mstride, dst.data(), static_cast<int64_t>(dst.size()), bias);
      scalar.output(m.data(), mstride, dsts.data(), static_cast<int64_t>(dsts.size()), bias);
      for (int64_t i = 0; i < 4; ++i)
        for (int64_t col = 0; col < ldo; ++col) {
          const float got = out[static_cast<std::size_t>(i * ldo + col)];
          if (col >= 4 * n) {
            ASSERT_EQ(got, 7.0f) << "column " << col << " written";
            continue;
          }
          const int64_t t = col / 4, c = col % 4;
          double e = bias;
          for (int a = 0; a < 6; ++a)
            for (int b = 0; b < 6; ++b) e += AT[i][a] * m[static_cast<std::size_t>((a * 6 + b) * mstride + t)] * AT[c][b];
          ASSERT_NEAR(got, e, 1e-4 * (1 + std::fabs(e))) << "output row " << i << " column " << col;
          ASSERT_EQ(std::memcmp(&got, &outs[static_cast<std::size_t>(i * ldo + col)], 4), 0) << "output row " << i << " column " << col;
        }
    }
    // F(4, 3), 1-d, dilation d: lane t's window starts at pos + t % q + 4 d (t / q), q =
    // min(d, 16). Inputs of exactly (L - 1) * xs + 1 floats (an over-read leaves the
    // allocation), windows reaching past both ends (zeros), outputs cut at Lo.
    for (int64_t d : {1, 2, 3, 8, 16, 20})
      for (int64_t n : {1, 5, 15, 16})
        for (int64_t xs : {1, 3})
          for (int where = 0; where < 3; ++where) {
            const int64_t q = std::min<int64_t>(d, 16), L = 40 * d + 70;
            auto lane = [&](int64_t t) { return t % q + 4 * d * (t / q); };
            const int64_t pos = where == 0 ? -3 * d - 1 : where == 1 ? 2 : L - 2 * d;
            SCOPED_TRACE("1-d d " + std::to_string(d) + " n " + std::to_string(n) + " xs " + std::to_string(xs) +
                         " pos " + std::to_string(pos));
            // NaN for 64 floats on each side: a read outside [0, L) would poison the result.
            std::vector<float> guarded(static_cast<std::size_t>((L - 1) * xs + 1 + 128), nan);
            const std::span<float> x(guarded.data() + 64, static_cast<std::size_t>((L - 1) * xs + 1));
            for (auto& e : x) e = nd(rng);
            const int64_t vstride = 19;
            std::vector<float> v(6 * vstride, 7.0f), vs = v;
            k.input_1d(x.data(), xs, L, pos, d, n, v.data(), vstride);
            scalar.input_1d(x.data(), xs, L, pos, d, n, vs.data(), vstride);
            for (int j = 0; j < 6; ++j)
              for (int64_t t = 0; t < vstride; ++t) {
                const float got = v[static_cast<std::size_t>(j * vstride + t)];
                if (t >= n) {
                  ASSERT_EQ(got, 7.0f) << "lane " << t << " written";
                  continue;
                }
                double e = 0;
                for (int c = 0; c < 6; ++c) {
                  const int64_t at = pos + lane(t) + d * c;
                  if (at >= 0 && at < L) e += BT[j][c] * x[static_cast<std::size_t>(at * xs)];
                }
                ASSERT_NEAR(got, e, 1e-4 * (1 + std::fabs(e))) << "input j " << j << " lane " << t;
                ASSERT_EQ(std::memcmp(&got, &vs[static_cast<std::size_t>(j * vstride + t)], 4), 0);
              }
            const int64_t mstride = 17, Lo = std::max<int64_t>(1, pos + 9 * d), opos = std::max<int64_t>(0, pos);
            std::vector<float> m(6 * mstride, nan);
            for (int j = 0; j < 6; ++j)
              for (int64_t t = 0; t < n; ++t) m[static_cast<std::size_t>(j * mstride + t)] = nd(rng);
            const float bias = nd(rng);
            std::vector<float> y(static_cast<std::size_t>(Lo), 7.0f), ys = y, expect = y;
            for (int64_t t = 0; t < n; ++t)
              for (int c = 0; c < 4; ++c) {
                const int64_t at = opos + lane(t) + d * c;
                if (at >= Lo) continue;
                double e = bias;
                for (int j = 0; j < 6; ++j) e += AT[c][j] * m[static_cast<std::size_t>(j * mstride + t)];
                expect[static_cast<std::size_t>(at)] = static_cast<float>(e);
              }
            k.output_1d(m.data(), mstride, y.data(), Lo, opos, d, n, bias);
            scalar.output_1d(m.data(), mstride, ys.data(), Lo, opos, d, n, bias);
            for (int64_t at = 0; at < Lo; ++at) {
              const float got = y[static_cast<std::size_t>(at)];
              ASSERT_NEAR(got, expect[static_cast<std::size_t>(at)], 1e-4 * (1 + std::fabs(expect[static_cast<std::size_t>(at)])))
                  << "output " << at;
              ASSERT_EQ(std::memcmp(&got, &ys[static_cast<std::size_t>(at)], 4), 0) << "output " << at;
            }
          }
    for (int64_t n : {1, 8, 33}) {
      std::vector<float> g(static_cast<std::size_t>(3 * n));
      for (auto& x : g) x = nd(rng);
      const int64_t ldu = n + 2;
      std::vector<float> u(static_cast<std::size_t>(6 * ldu), 7.0f), us = u;
      k.weight_1d(g.data(), n, u.data(), ldu);
      scalar.weight_1d(g.data(), n, us.data(), ldu);
      for (int j = 0; j < 6; ++j)
        for (int64_t l = 0; l < ldu; ++l) {
          const float got = u[static_cast<std::size_t>(j * ldu + l)];
          if (l >= n) {
            ASSERT_EQ(got, 7.0f);
            continue;
          }
          double e = 0;
          for (int a = 0; a < 3; ++a) e += G[j][a] * g[static_cast<std::size_t>(a * n + l)];
          ASSERT_NEAR(got, e, 1e-5 * (1 + std::fabs(e))) << "1-d weight j " << j << " kernel " << l;
          ASSERT_EQ(std::memcmp(&got, &us[static_cast<std::size_t>(j * ldu + l)], 4), 0);
        }
    }
    // Weights: n kernels tap-major, ldu n + 2.
    for (int64_t n : {1, 8, 17, 24, 33}) {
      std::vector<float> g(static_cast<std::size_t>(9 * n));
      for (auto& x : g) x = nd(rng);
      const int64_t ldu = n + 2;
      std::vector<float> u(static_cast<std::size_t>(36 * ldu), 7.0f), us = u;
      k.weight(g.data(), n, u.data(), ldu);
      scalar.weight(g.data(), n, us.data(), ldu);
      for (int xi = 0; xi < 36; ++xi)
        for (int64_t l = 0; l < ldu; ++l) {
          const float got = u[static_cast<std::size_t>(xi * ldu + l)];
          if (l >= n) {
            ASSERT_EQ(got, 7.0f);
            continue;
          }
          double e = 0;
          for (int a = 0; a < 3; ++a)
            for (int b = 0; b < 3; ++b) e += G[xi / 6][a] * g[static_cast<std::size_t>((a * 3 + b) * n + l)] * G[xi % 6][b];
          ASSERT_NEAR(got, e, 1e-5 * (1 + std::fabs(e))) << "weight xi " << xi << " kernel " << l << " of " << n;
          ASSERT_EQ(std::memcmp(&got, &us[static_cast<std::size_t>(xi * ldu + l)], 4), 0);
        }
    }
  }
}

TEST(CopyKernels, WindowsCopyTheInRangeColumnsAndZeroTheRest) {
  // The windows form: rows of exactly S readable floats (one null: a padding row), windows
  // starting before, at and after column 0, strides 1-3, runs around the 16-lane blocks and
  // past the row's end; every element as the contract says, nothing past the runs written.
  int count = 0;
  const kernels::CopyKernel* ks = kernels::copy_kernel_list(&count);
  for (int ki = 0; ki < count; ++ki) {
    if (ks[ki].isa > internal::detected_isa()) continue;
    SCOPED_TRACE(ks[ki].name);
    for (int64_t S : {1, 5, 16, 40})
      for (int64_t st : {1, 2, 3})
        for (int64_t iw0 : {-4, -1, 0, 2, 7})
          for (int64_t run : {1, 7, 8, 16, 17, 33}) {
            std::vector<std::vector<float>> data(3, std::vector<float>(static_cast<std::size_t>(S)));
            for (std::size_t r = 0; r < data.size(); ++r)
              for (int64_t i = 0; i < S; ++i) data[r][static_cast<std::size_t>(i)] = static_cast<float>(r * 100 + i) + 0.5f;
            const float* rows[4] = {data[0].data(), nullptr, data[1].data(), data[2].data()};
            std::vector<float> dst(static_cast<std::size_t>(4 * run + 1), -1.0f);
            ks[ki].windows(rows, 4, iw0, st, S, run, dst.data());
            for (int64_t r = 0; r < 4; ++r)
              for (int64_t t = 0; t < run; ++t) {
                const int64_t c = iw0 + t * st;
                const float want = rows[r] != nullptr && c >= 0 && c < S ? rows[r][c] : 0.0f;
                ASSERT_EQ(dst[static_cast<std::size_t>(r * run + t)], want)
                    << "S " << S << " st " << st << " iw0 " << iw0 << " run " << run << " at " << r << "," << t;
              }
            EXPECT_EQ(dst.back(), -1.0f);
          }
  }
}

TEST(CopyKernels, StridedCopyReadsOnlyWhatItMay) {
  int count = 0;
  const kernels::CopyKernel* ks = kernels::copy_kernel_list(&count);
  for (int ki = 0; ki < count; ++ki) {
    if (ks[ki].isa > internal::detected_isa()) continue;
    SCOPED_TRACE(ks[ki].name);
    for (int64_t stride : {1, 2, 3, 7})
      for (int64_t n : {1, 2, 9, 15, 16, 17, 25, 31, 32, 33, 100}) {
        // Exactly (n-1) * stride + 1 readable floats: an over-read runs off the allocation.
        std::vector<float> src(static_cast<std::size_t>((n - 1) * stride + 1));
        for (std::size_t i = 0; i < src.size(); ++i) src[i] = static_cast<float>(i) * 0.5f;
        std::vector<float> dst(static_cast<std::size_t>(n) + 1, -1.0f);
        ks[ki].fn(src.data(), stride, n, dst.data());
        for (int64_t t = 0; t < n; ++t) ASSERT_EQ(dst[static_cast<std::size_t>(t)], src[static_cast<std::size_t>(t * stride)]);
        EXPECT_EQ(dst[static_cast<std::size_t>(n)], -1.0f);
        // The rows form: three rows src_rs apart into rows dst_rs apart, nothing between them
        // written; the last row ends where the readable floats do.
        const int64_t rows = 3, src_rs = (n - 1) * stride + 5, dst_rs = n + 3;
        std::vector<float> src2(static_cast<std::size_t>((rows - 1) * src_rs + (n - 1) * stride + 1));
        for (std::size_t i = 0; i < src2.size(); ++i) src2[i] = static_cast<float>(i) * 0.25f;
        std::vector<float> dst2(static_cast<std::size_t>(rows * dst_rs), -1.0f);
        ks[ki].rows(src2.data(), stride, n, rows, src_rs, dst2.data(), dst_rs);
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t t = 0; t < dst_rs; ++t)
            ASSERT_EQ(dst2[static_cast<std::size_t>(r * dst_rs + t)],
                      t < n ? src2[static_cast<std::size_t>(r * src_rs + t * stride)] : -1.0f)
                << "row " << r << " column " << t;
        // The scatter form: dst[t * stride] = src[t], nothing else written (the last element
        // written is the last of dst).
        std::vector<float> dst3(static_cast<std::size_t>((n - 1) * stride + 1), -1.0f);
        ks[ki].scatter(src.data(), n, dst3.data(), stride);
        for (int64_t i = 0; i < static_cast<int64_t>(dst3.size()); ++i)
          ASSERT_EQ(dst3[static_cast<std::size_t>(i)], i % stride == 0 ? src[static_cast<std::size_t>(i / stride)] : -1.0f)
              << "element " << i;
        // The interleave form: a (n or n + 1 readable floats) and b (exactly n) into
        // dst[0 .. na + n), nothing past it written.
        for (int64_t na : {n, n + 1}) {
          std::vector<float> a(src.begin(), src.begin() + n), b(src.rbegin(), src.rbegin() + n);
          a.push_back(1234.5f);
          a.resize(static_cast<std::size_t>(na));
          std::vector<float> dst4(static_cast<std::size_t>(na + n) + 1, -1.0f);
          ks[ki].interleave(a.data(), na, b.data(), n, dst4.data());
          for (int64_t i = 0; i < na + n; ++i)
            ASSERT_EQ(dst4[static_cast<std::size_t>(i)], i % 2 ? b[static_cast<std::size_t>(i / 2)] : a[static_cast<std::size_t>(i / 2)])
                << "element " << i << " of " << na << " + " << n;
          EXPECT_EQ(dst4[static_cast<std::size_t>(na + n)], -1.0f);
        }
      }
  }
}


// Every kernel gives the bits of the scalar rules (Half / BFloat16 in dtype.h) for special
// values (ties, subnormals, overflow, NaNs with payloads and signs) and random bit patterns, at
// every length around the vector width, and writes nothing past n.
TEST(ConvertKernels, SameBitsAsTheScalarRules) {
  std::mt19937 rng(16);
  std::vector<float> f = {0.0f, -0.0f, 1.0f, -2.5f, 65504.0f, 65519.99f, 65520.0f, -70000.0f, 1e-8f, -3e-6f,
                          6.1035156e-05f, 5.9604645e-08f, 2.9802322e-08f, 1.0009766f, 1.00048828125f,
                          1.00146484375f, 1.00390625f, 1.01171875f, 3.4e38f};
  for (uint32_t bits : {0x7f800000u, 0xff800000u, 0x7fc00000u, 0xffc00000u, 0x7f800001u, 0x7fe01234u, 0xffbfffffu,
                        0x00000001u, 0x807fffffu, 0x3f808000u, 0x3f818000u, 0x477fefffu, 0x477ff000u})
    f.push_back(std::bit_cast<float>(bits));
  while (f.size() < 1000) f.push_back(std::bit_cast<float>(static_cast<uint32_t>(rng())));
  std::vector<uint16_t> h(f.size());
  for (std::size_t i = 0; i < h.size(); ++i) h[i] = static_cast<uint16_t>(rng());
  int count = 0;
  const kernels::ConvertKernel* ks = kernels::convert_kernel_list(&count);
  for (int ki = 0; ki < count; ++ki) {
    const auto& k = ks[ki];
    if (k.isa > internal::detected_isa()) continue;
    SCOPED_TRACE(k.name);
    for (int64_t n : {0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 1000}) {
      const std::size_t un = static_cast<std::size_t>(n);
      std::vector<uint16_t> out16(un + 3, 0xabcd);
      std::vector<float> out32(un + 3, 0.25f);
      k.f32_to_f16(f.data(), n, out16.data());
      for (std::size_t i = 0; i < un; ++i) ASSERT_EQ(out16[i], Half::from_float(f[i])) << "f32->f16 " << i;
      k.f32_to_bf16(f.data(), n, out16.data());
      for (std::size_t i = 0; i < un; ++i) ASSERT_EQ(out16[i], BFloat16::from_float(f[i])) << "f32->bf16 " << i;
      EXPECT_EQ(out16[un], 0xabcd);
      k.f16_to_f32(h.data(), n, out32.data());
      for (std::size_t i = 0; i < un; ++i)
        ASSERT_EQ(std::bit_cast<uint32_t>(out32[i]), std::bit_cast<uint32_t>(Half::to_float(h[i]))) << "f16 " << i;
      k.bf16_to_f32(h.data(), n, out32.data());
      for (std::size_t i = 0; i < un; ++i)
        ASSERT_EQ(std::bit_cast<uint32_t>(out32[i]), std::bit_cast<uint32_t>(BFloat16::to_float(h[i]))) << "bf16 " << i;
      EXPECT_EQ(out32[un], 0.25f);
      for (int64_t stride : {1, 2, 3}) {  // pairs, from buffers of exactly the elements they may read
        const std::size_t span = n > 0 ? static_cast<std::size_t>((n - 1) * stride + 1) : 0;
        std::vector<uint16_t> a(span), b(span);
        for (std::size_t i = 0; i < span; ++i) a[i] = h[i % h.size()], b[i] = h[(i * 7 + 3) % h.size()];
        std::vector<uint32_t> pairs(un + 3, 0xdeadbeef);
        for (bool with_b : {true, false}) {
          k.pairs(a.data(), with_b ? b.data() : nullptr, stride, n, pairs.data());
          for (std::size_t j = 0; j < un; ++j)
            ASSERT_EQ(pairs[j], a[j * stride] | (with_b ? static_cast<uint32_t>(b[j * stride]) << 16 : 0u))
                << "pairs stride " << stride << " at " << j;
          EXPECT_EQ(pairs[un], 0xdeadbeefu);
        }
      }
    }
  }
}

// The bfloat16 pair kernels against a naive double sum of the pairs' products: every edge
// (m < MR, n < NR), the three inits, reductions of 0-3 chunks; C outside the tile untouched.
TEST(GemmBf16Kernels, EveryTileAndEdgeMatchesNaive) {
  int count = 0;
  const kernels::GemmKernel* ks = kernels::gemm_bf16_kernel_list(&count);
  std::mt19937 rng(3);
  std::normal_distribution<float> nd;
  auto pair = [&] {  // two random bfloat16 in one 32-bit slot, the even one low
    const uint32_t lo = BFloat16::from_float(nd(rng)), hi = BFloat16::from_float(nd(rng));
    return std::bit_cast<float>(lo | hi << 16);
  };
  auto half = [](float p, bool high) {
    const uint32_t u = std::bit_cast<uint32_t>(p);
    return static_cast<double>(std::bit_cast<float>(high ? u & 0xffff0000u : u << 16));
  };
  constexpr int64_t Q = kernels::kBf16PairQuantum;
  for (int ki = 0; ki < count; ++ki) {
    const auto& k = ks[ki];
    if (k.isa > internal::detected_isa()) continue;
    SCOPED_TRACE(k.name);
    if (k.begin) k.begin();
    for (int64_t kk : {int64_t{0}, Q, 3 * Q}) {
      const int64_t ldb = k.nr + 5, ldc = k.nr + 3;
      std::vector<float> a(static_cast<std::size_t>(kk * k.mr)), b(static_cast<std::size_t>(kk * ldb)), bias(k.mr);
      for (auto& v : b) v = pair();
      for (auto& v : bias) v = nd(rng);
      for (int64_t m : {int64_t{1}, int64_t{k.mr / 2 + 1}, int64_t{k.mr}})
        for (int64_t n : {int64_t{1}, int64_t{k.nr - 1}, int64_t{k.nr}})
          for (int mode = 0; mode < 3; ++mode) {  // 0: C = AB, 1: C = bias + AB, 2: C += AB
            for (int64_t p = 0; p < kk; ++p)  // rows >= m zero, as the packers leave them
              for (int64_t i = 0; i < k.mr; ++i) a[static_cast<std::size_t>(p / Q * k.mr * Q + i * Q + p % Q)] = i < m ? pair() : 0.0f;
            std::vector<float> c(static_cast<std::size_t>((k.mr + 1) * ldc), 0.5f), expect = c;
            double worst = 0;
            for (int64_t i = 0; i < m; ++i)
              for (int64_t j = 0; j < n; ++j) {
                double s = 0, mag = 0;
                for (int64_t p = 0; p < kk; ++p) {
                  const float ap = a[static_cast<std::size_t>(p / Q * k.mr * Q + i * Q + p % Q)], bp = b[static_cast<std::size_t>(p * ldb + j)];
                  for (bool h : {false, true}) s += half(ap, h) * half(bp, h), mag += std::abs(half(ap, h) * half(bp, h));
                }
                const double init = mode == 2 ? 0.5 : mode == 1 ? bias[static_cast<std::size_t>(i)] : 0.0;
                expect[static_cast<std::size_t>(i * ldc + j)] = static_cast<float>(init + s);
                worst = std::max(worst, mag + std::abs(init));
              }
            // The rows form reads the same rows from elsewhere: each chunk's rows rs apart, chunks apart.
            const int64_t rs = ldb + 9, chunk = Q * rs + 40;
            std::vector<float> moved(static_cast<std::size_t>((kk / Q + 1) * chunk), std::nanf(""));
            std::vector<const float*> rows(static_cast<std::size_t>(kk));
            for (int64_t p = 0; p < kk; ++p) {
              float* r = moved.data() + p / Q * chunk + p % Q * rs;
              std::copy(b.begin() + p * ldb, b.begin() + p * ldb + k.nr, r + 3);  // (off = 3)
              rows[static_cast<std::size_t>(p)] = r;
            }
            std::vector<float> c2 = c;
            k.fn(kk, a.data(), b.data(), ldb, c.data(), ldc, m, n, mode == 2, mode == 1 ? bias.data() : nullptr);
            k.rows(kk, a.data(), rows.data(), 3, c2.data(), ldc, m, n, mode == 2, mode == 1 ? bias.data() : nullptr);
            for (std::size_t e = 0; e < c.size(); ++e) {
              ASSERT_NEAR(c[e], expect[e], 1e-6 * (1 + worst)) << "k " << kk << " m " << m << " n " << n << " mode " << mode << " at " << e;
              ASSERT_NEAR(c2[e], expect[e], 1e-6 * (1 + worst)) << "rows: k " << kk << " m " << m << " n " << n << " mode " << mode << " at " << e;
            }
          }
    }
    if (k.end) k.end();
  }
}

// The float64 kernels (counts in float slots) against naive double sums: every edge, both
// inits, C outside the tile untouched.
TEST(GemmF64Kernels, EveryTileAndEdgeMatchesNaive) {
  int count = 0;
  const kernels::GemmKernel* ks = kernels::gemm_f64_kernel_list(&count);
  std::mt19937 rng(5);
  std::normal_distribution<double> nd;
  for (int ki = 0; ki < count; ++ki) {
    const auto& k = ks[ki];
    if (k.isa > internal::detected_isa()) continue;
    SCOPED_TRACE(k.name);
    const int64_t nr = k.nr / 2;  // doubles
    for (int64_t steps : {0, 1, 7, 33}) {
      const int64_t ldb = nr + 3, ldc = nr + 5;
      std::vector<double> a(static_cast<std::size_t>(steps * k.mr)), b(static_cast<std::size_t>(steps * ldb));
      for (auto& v : b) v = nd(rng);
      for (int64_t m = 1; m <= k.mr; ++m)
        for (int64_t n = 1; n <= nr; ++n)
          for (bool acc : {false, true}) {
            for (int64_t p = 0; p < steps; ++p)
              for (int64_t i = 0; i < k.mr; ++i) a[static_cast<std::size_t>(p * k.mr + i)] = i < m ? nd(rng) : 0.0;
            std::vector<double> c(static_cast<std::size_t>((k.mr + 1) * ldc), 0.5), expect = c;
            for (int64_t i = 0; i < m; ++i)
              for (int64_t j = 0; j < n; ++j) {
                double sum = 0;
                for (int64_t p = 0; p < steps; ++p) sum += a[static_cast<std::size_t>(p * k.mr + i)] * b[static_cast<std::size_t>(p * ldb + j)];
                expect[static_cast<std::size_t>(i * ldc + j)] = (acc ? 0.5 : 0.0) + sum;
              }
            k.fn(2 * steps, reinterpret_cast<const float*>(a.data()), reinterpret_cast<const float*>(b.data()), 2 * ldb,
                 reinterpret_cast<float*>(c.data()), 2 * ldc, m, 2 * n, acc, nullptr);
            for (std::size_t e = 0; e < c.size(); ++e)
              ASSERT_NEAR(c[e], expect[e], 1e-13 * (1 + steps)) << "k " << steps << " m " << m << " n " << n << " at " << e;
          }
    }
  }
}

}  // namespace
}  // namespace convkit::test
