// Non-finite values and subnormals travel as in a direct convolution: every algorithm, ISA cap
// and thread count puts NaN, +inf and -inf exactly where the reference does (which, like
// PyTorch's float32 convolution, never multiplies a zero padding by a weight), and keeps
// subnormal results (convkit leaves the caller's floating-point state alone).
#include <complex>
#include <cstdio>
#include <limits>
#include <random>

#include <filesystem>

#include "convkit/io.h"
#include "fuzz/conv_diff.h"
#include "core/finite.h"
#include "core/storage.h"
#include "kernels/scan/scan.h"
#include "test_util.h"

namespace convkit::test {
namespace {

using internal::Isa;
using internal::str_cat;

// One layer per path (and per gemm variant), as functional options of its rank.
struct NfCase {
  const char* name;
  int dim;
  int64_t cin, cout, groups;
  Shape S, K, stride, dil, pad;
  const char* mode;
  const char* algo;  // forced algorithm, or "auto"
};

std::vector<NfCase> cases_of_every_path() {
  return {
      {"gemm strided", 2, 8, 12, 1, {9, 11}, {3, 3}, {2, 2}, {1, 1}, {1, 1}, "zeros", "gemm"},
      {"gemm taps", 2, 8, 12, 1, {9, 10}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, "zeros", "gemm"},
      {"gemm taps dilated reflect", 2, 8, 12, 1, {9, 10}, {3, 3}, {1, 1}, {2, 2}, {2, 2}, "reflect", "gemm"},
      {"gemm grouped", 2, 8, 12, 2, {7, 9}, {3, 2}, {1, 1}, {1, 1}, {1, 0}, "zeros", "gemm"},
      {"gemm 1x1", 2, 16, 24, 1, {5, 7}, {1, 1}, {1, 1}, {1, 1}, {0, 0}, "zeros", "gemm"},
      {"pointwise transposed", 2, 64, 40, 1, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {0, 0}, "zeros", "auto"},
      {"gemm 1-d", 1, 6, 10, 1, {23}, {5}, {1}, {1}, {2}, "zeros", "gemm"},
      {"gemm 3-d", 3, 4, 6, 1, {4, 5, 6}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, "zeros", "gemm"},
      {"depthwise", 2, 16, 32, 16, {9, 11}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, "zeros", "depthwise"},
      {"depthwise strided", 2, 16, 16, 16, {9, 11}, {3, 3}, {2, 2}, {1, 1}, {1, 1}, "zeros", "depthwise"},
      {"depthwise 1-d", 1, 16, 16, 16, {29}, {5}, {1}, {1}, {2}, "zeros", "depthwise"},
      {"winograd", 2, 32, 32, 1, {10, 9}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, "zeros", "winograd"},
      {"winograd dilated", 2, 32, 32, 1, {11, 12}, {3, 3}, {1, 1}, {2, 2}, {2, 2}, "zeros", "winograd"},
      {"winograd 1-d", 1, 32, 32, 1, {27}, {3}, {1}, {1}, {1}, "zeros", "winograd"},
  };
}

// {(2, C_in, *S), (C_out, C_in / groups, *K)}
std::pair<Shape, Shape> input_and_weight_shapes(const NfCase& c) {
  Shape xs{2, c.cin}, ws{c.cout, c.cin / c.groups};
  xs.insert(xs.end(), c.S.begin(), c.S.end());
  ws.insert(ws.end(), c.K.begin(), c.K.end());
  return {xs, ws};
}

template <std::size_t D>
Tensor conv(const NfCase& c, const Tensor& x, const Tensor& w, const Tensor& b, const std::string& algo) {
  F::ConvFuncOptions<D> o;
  o.stride(c.stride).dilation(c.dil).padding(c.pad).groups(c.groups).padding_mode(c.mode).algorithm(algo);
  if constexpr (D == 1) return F::conv1d(x, w, b, o);
  else if constexpr (D == 2) return F::conv2d(x, w, b, o);
  else return F::conv3d(x, w, b, o);
}

Tensor conv(const NfCase& c, const Tensor& x, const Tensor& w, const Tensor& b, const std::string& algo) {
  if (c.dim == 1) return conv<1>(c, x, w, b, algo);
  if (c.dim == 2) return conv<2>(c, x, w, b, algo);
  return conv<3>(c, x, w, b, algo);
}

/// Same class everywhere (NaN, +inf, -inf or finite); finite values within tol * (1 + |ref|).
::testing::AssertionResult same_classes(const Tensor& y, const Tensor& ref, double tol) {
  if (y.sizes() != ref.sizes()) return ::testing::AssertionFailure() << "shapes differ";
  const float* a = y.contiguous().const_data<float>();
  const float* r = ref.contiguous().const_data<float>();
  int bad = 0;
  std::ostringstream msg;
  for (int64_t i = 0; i < y.numel(); ++i) {
    const bool ok = std::isnan(r[i])   ? std::isnan(a[i])
                    : std::isinf(r[i]) ? a[i] == r[i]
                                       : std::isfinite(a[i]) && std::abs(a[i] - r[i]) <= tol * (1 + std::abs(r[i]));
    if (!ok && bad++ < 5) msg << " [" << i << "] " << a[i] << " vs " << r[i];
  }
  if (bad) return ::testing::AssertionFailure() << bad << " of " << y.numel() << " elements differ:" << msg.str();
  return ::testing::AssertionSuccess();
}

int64_t count_nonfinite(const Tensor& t) {
  int64_t n = 0;
  const float* p = t.contiguous().const_data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) n += !std::isfinite(p[i]);
  return n;
}

// Writes v at the first element, the last, and one in between (corners meet the padding).
void poison(Tensor& t, float v, std::mt19937& rng) {
  float* p = t.data<float>();
  p[0] = v;
  p[t.numel() - 1] = v;
  p[std::uniform_int_distribution<int64_t>(0, t.numel() - 1)(rng)] = v;
}

TEST(NonFinite, EveryPathPlacesInfAndNanWhereTheReferenceDoes) {
  const int saved = get_num_threads();
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  std::mt19937 rng(11);
  Generator gen(2026);
  for (const NfCase& c : cases_of_every_path()) {
    const auto [xs, ws] = input_and_weight_shapes(c);
    const Tensor x0 = randn(xs, kFloat32, &gen), w0 = randn(ws, kFloat32, &gen), b0 = randn({c.cout}, kFloat32, &gen);
    for (const char* where : {"input", "weight", "bias", "input and weight"})
      for (float v : {inf, -inf, nan}) {
        Tensor x = x0.clone(), w = w0.clone(), b = b0.clone();
        const std::string at = where;
        if (at.find("input") != std::string::npos) poison(x, v, rng);
        if (at.find("weight") != std::string::npos) poison(w, at == "weight" ? v : -v, rng);
        if (at == "bias") poison(b, v, rng);
        const Tensor ref = conv(c, x, w, b, "reference");
        ASSERT_GT(count_nonfinite(ref), 0) << c.name << " " << where;
        for (Isa isa : isas())
          for (int threads : {1, 2}) {
            IsaCap cap(isa);
            set_num_threads(threads);
            SCOPED_TRACE(str_cat(c.name, ", ", v, " in the ", where, ", ", internal::name_of(isa), ", ", threads,
                                 " threads"));
            EXPECT_TRUE(same_classes(conv(c, x, w, b, c.algo), ref, 1e-4));
          }
      }
  }
  set_num_threads(saved);
}

// Every scan kernel of kernels.inc against a plain loop: rows of every length around the
// vector widths, one inf, -inf or NaN at each place in turn (and none), neighbours outside
// the rows holding NaN so reading past them shows.
TEST(NonFinite, ScanKernelsFindEveryInfAndNanInTheirRowsOnly) {
  int count = 0;
  const kernels::ScanKernel* list = kernels::scan_kernel_list(&count);
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  for (int k = 0; k < count; ++k) {
    if (list[k].isa > internal::detected_isa()) continue;
    for (int64_t rows : {1, 3})
      for (int64_t n : {0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 70}) {
        const int64_t ld = n + 5;
        std::vector<float> buf(static_cast<std::size_t>(rows * ld + 8), nan);
        float* p = buf.data() + 4;
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t i = 0; i < n; ++i) p[r * ld + i] = 1.0f / static_cast<float>(1 + i + r);
        EXPECT_TRUE(list[k].finite_rows(p, ld, rows, n)) << list[k].name << " n " << n;
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t i = 0; i < n; ++i)
            for (float v : {inf, -inf, nan}) {
              const float keep = p[r * ld + i];
              p[r * ld + i] = v;
              EXPECT_FALSE(list[k].finite_rows(p, ld, rows, n)) << list[k].name << " n " << n << " at " << r << "," << i;
              p[r * ld + i] = keep;
            }
      }
  }
}

// The layer: one inf in a (2, 64, 28, 28) input of a 64-channel 3x3 layer, Winograd
// allowed: +inf and -inf where a direct convolution puts them, no NaN.
TEST(NonFinite, AllFiniteFindsOneInfOrNanAnywhereInALargeTensor) {
  // A tensor long enough to be scanned in pieces over the threads: one inf or NaN in the
  // first, a middle or the last piece (and the last element) is found with 1 and 2 threads;
  // without one the tensor is finite. A strided view is scanned row by row.
  const int64_t n = 300000 + 17;
  Tensor t = Tensor::zeros({n});
  float* p = internal::mutable_data<float>(t);
  const int before = get_num_threads();
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    EXPECT_TRUE(internal::all_finite(t));
    for (int64_t at : {int64_t{0}, int64_t{65535}, int64_t{65536}, n / 2, n - 1}) {
      for (float bad : {std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()}) {
        p[at] = bad;
        EXPECT_FALSE(internal::all_finite(t)) << at << " with " << threads << " threads";
        p[at] = 0.0f;
      }
    }
  }
  set_num_threads(before);
  const int64_t rows = n / 3;
  p[3 * rows - 2] = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(internal::all_finite(t.slice(0, 0, 3 * rows).view({rows, 3}).transpose(0, 1)));
  EXPECT_TRUE(internal::all_finite(t.slice(0, 0, 3 * rows - 2)));
}

// Every other dtype: one inf or NaN (in either part of a complex value) anywhere in a tensor
// of pieces over the threads, or in a strided view holding it, is found; a view without it,
// or no such value, is finite. (float16's largest finite value, 65504, is not inf.)
TEST(NonFinite, AllFiniteFindsThemInEveryDtype) {
  const int64_t n = 200000 + 3;
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  for (DType dt : {kFloat64, kFloat16, kBFloat16, kComplex64, kComplex128}) {
    SCOPED_TRACE(dtype_name(dt));
    const bool complex = dt == kComplex64 || dt == kComplex128;
    std::vector<std::complex<double>> v(static_cast<std::size_t>(n), {1.5, -2.0});
    v[7] = {65504.0, 0.0};
    auto make = [&] {
      if (complex) return Tensor::from_values(v, {n}, dt);
      std::vector<double> re(v.size());
      for (std::size_t i = 0; i < v.size(); ++i) re[i] = v[i].real();
      return Tensor::from_values(re, {n}, dt);
    };
    EXPECT_TRUE(internal::all_finite(make()));
    for (int64_t at : {int64_t{0}, n / 2, n - 1})
      for (std::complex<double> bad : {std::complex<double>(inf, 0), std::complex<double>(nan, 0), std::complex<double>(1, nan)}) {
        if (!complex && bad.imag() != 0) continue;
        const auto keep = v[static_cast<std::size_t>(at)];
        v[static_cast<std::size_t>(at)] = bad;
        const Tensor t = make();
        EXPECT_FALSE(internal::all_finite(t)) << at;
        EXPECT_FALSE(internal::all_finite(t.slice(0, at % 2, n, 2))) << "strided, holding it: " << at;
        EXPECT_TRUE(internal::all_finite(t.slice(0, 1 - at % 2, n, 2))) << "strided, without it: " << at;
        v[static_cast<std::size_t>(at)] = keep;
      }
  }
}

TEST(NonFinite, AllowedWinogradKeepsOneInfAsDirectConvolutionDoes) {
  Generator gen(7);
  Tensor x = randn({2, 64, 28, 28}, kFloat32, &gen);
  const Tensor w = randn({64, 64, 3, 3}, kFloat32, &gen), b = randn({64}, kFloat32, &gen);
  x.data<float>()[5 * 28 + 5] = std::numeric_limits<float>::infinity();
  set_allow_fast_winograd(true);
  nn::Conv2d layer(nn::Conv2dOptions(64, 64, 3).padding(1));
  layer->set_weight(w);
  layer->set_bias(b);
  const Tensor y = layer->forward(x);
  set_allow_fast_winograd(false);
  const Tensor ref = F::conv2d(x, w, b, F::Conv2dFuncOptions().padding(1).algorithm("reference"));
  EXPECT_EQ(count_nonfinite(ref), 9 * 64);
  EXPECT_TRUE(same_classes(y, ref, 1e-4));
}

// Subnormal inputs and weights give the reference's subnormal results: no path flushes them
// to zero, and the calling thread's floating-point state is left as it was.
TEST(Subnormals, ResultsMatchTheReferenceAndTheCallersStateIsKept) {
  const int saved = get_num_threads();
  Generator gen(5);
  for (const NfCase& c : cases_of_every_path()) {
    const auto [xs, ws] = input_and_weight_shapes(c);
    // Inputs about 1e-40 (below float's smallest normal, 1.18e-38) times weights of about 1:
    // every product and sum is subnormal. Then subnormal weights on normal inputs.
    for (int which = 0; which < 2; ++which) {
      Tensor x = randn(xs, kFloat32, &gen), w = randn(ws, kFloat32, &gen);
      Tensor& tiny = which == 0 ? x : w;
      for (int64_t i = 0; i < tiny.numel(); ++i) tiny.data<float>()[i] *= 1e-40f;
      const Tensor ref = conv(c, x, w, Tensor(), "reference");
      double scale = 0;
      for (int64_t i = 0; i < ref.numel(); ++i) scale = std::max(scale, double{std::abs(ref.const_data<float>()[i])});
      ASSERT_GT(scale, 0.0);
      ASSERT_LT(scale, 1.18e-38);
      for (Isa isa : isas())
        for (int threads : {1, 2}) {
          IsaCap cap(isa);
          set_num_threads(threads);
          SCOPED_TRACE(str_cat(c.name, which == 0 ? ", subnormal input, " : ", subnormal weight, ",
                               internal::name_of(isa), ", ", threads, " threads"));
          const Tensor y = conv(c, x, w, Tensor(), c.algo);
          // A subnormal's absolute precision is 1.4e-45; flushed results would be off by `scale`.
          // Winograd's weight transform divides by up to 24 first, so its subnormal transformed
          // weights keep fewer bits (measured: 2-3e-3 of the scale).
          const double tol = std::string(c.algo) == "winograd" ? 1e-2 : 1e-3;
          const float* a = y.const_data<float>();
          const float* r = ref.const_data<float>();
          int64_t bad = 0;
          double worst = 0;
          for (int64_t i = 0; i < y.numel(); ++i) {
            bad += !(std::abs(a[i] - r[i]) <= tol * scale);
            worst = std::max(worst, double{std::abs(a[i] - r[i])});
          }
          EXPECT_EQ(bad, 0) << "max error / scale " << worst / scale;
          volatile float small = 1e-38f;
          EXPECT_GT(small * 0.01f, 0.0f) << "the caller's thread flushes subnormals after the call";
        }
    }
  }
  set_num_threads(saved);
}

// The conv fuzz target's seeds and regressions, through the same differential check.
TEST(FuzzCorpus, ConvDifferentialSeedsAndRegressionsPass) {
  namespace fs = std::filesystem;
  const std::string root = std::string(CONVKIT_GOLDEN_DIR) + "/../../fuzz";
  int n = 0;
  for (const char* dir : {"corpus/conv", "regressions"})
    for (const auto& e : fs::directory_iterator(root + "/" + dir)) {
      const std::string name = e.path().filename().string();
      if (std::string(dir) == "regressions" && name.rfind("conv", 0) != 0) continue;
      const std::string bytes = io::read_file(e.path().string());
      EXPECT_EQ(fuzz::conv_differential(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()), "") << name;
      ++n;
    }
  EXPECT_GE(n, 50);
}

}  // namespace
}  // namespace convkit::test
