// The fast float32 engine: every algorithm x every ISA the CPU has, compared with the
// reference over a generated sweep of shapes and arguments; bitwise determinism across thread
// counts; the module's plan cache. (The microkernels' own contracts: test_kernels.cc.)
#include <cstdlib>
#include <unistd.h>
#include <limits>
#include <span>
#include <thread>
#include <type_traits>
#include <random>

#include "conv/params.h"
#include "conv/plan.h"
#include "conv/select.h"
#include "cpu/cache.h"
#include "kernels/copy/copy.h"
#include "kernels/dwconv/dwconv.h"
#include "kernels/gemm/gemm.h"
#include "kernels/winograd/winograd.h"
#include "test_util.h"

namespace convkit::test {
namespace {

using internal::Isa;

struct Case {
  int dim = 2;
  int64_t N = 1, Cin = 4, Cout = 4, groups = 1;
  Shape S, K, stride, dil;
  std::string padding = "explicit";  // explicit, pairs, same, valid, causal
  Shape lo, hi;
  std::string mode = "zeros", conv_mode = "cross_correlation";
  bool bias = true, batched = true;
  int layout = 0;  // 0 contiguous, 1 channels-last, 2 every other element of a wider tensor

  std::string str() const {
    std::ostringstream o;
    o << dim << "d N" << N << " C" << Cin << "->" << Cout << " g" << groups << " S" << shape_str(S) << " K"
      << shape_str(K) << " s" << shape_str(stride) << " d" << shape_str(dil) << " " << padding << shape_str(lo)
      << shape_str(hi) << " " << mode << " " << conv_mode << (bias ? " bias" : "") << (batched ? "" : " unbatched")
      << " layout" << layout;
    return o.str();
  }
};

template <std::size_t D>
Tensor run(const Case& c, const Tensor& x, const Tensor& w, const Tensor& b, Algorithm algo) {
  nn::functional::ConvFuncOptions<D> o;
  o.stride(c.stride).dilation(c.dil).groups(c.groups).padding_mode(c.mode).conv_mode(c.conv_mode).algorithm(algo);
  if (c.padding == "explicit") o.padding(c.lo);
  else if (c.padding == "pairs") {
    std::vector<std::pair<int64_t, int64_t>> pr;
    for (std::size_t i = 0; i < D; ++i) pr.emplace_back(c.lo[i], c.hi[i]);
    o.padding(pr);
  } else o.padding(c.padding);
  if constexpr (D == 1) return F::conv1d(x, w, b, o);
  else if constexpr (D == 2) return F::conv2d(x, w, b, o);
  else return F::conv3d(x, w, b, o);
}

Tensor run(const Case& c, const Tensor& x, const Tensor& w, const Tensor& b, Algorithm algo) {
  if (c.dim == 1) return run<1>(c, x, w, b, algo);
  if (c.dim == 2) return run<2>(c, x, w, b, algo);
  return run<3>(c, x, w, b, algo);
}

Tensor make_layout(const Tensor& x, int layout, bool batched) {
  if (layout == 1) {  // channels last
    const int64_t cdim = batched ? 1 : 0;
    std::vector<int64_t> perm;
    for (int64_t i = 0; i < x.dim(); ++i)
      if (i != cdim) perm.push_back(i);
    perm.push_back(cdim);
    std::vector<int64_t> inv(perm.size());
    for (std::size_t i = 0; i < perm.size(); ++i) inv[static_cast<std::size_t>(perm[i])] = static_cast<int64_t>(i);
    return x.permute(perm).contiguous().permute(inv);
  }
  if (layout == 2) {
    Shape big = x.sizes();
    big.back() *= 2;
    Tensor v = Tensor::zeros(big, x.dtype()).slice(-1, 1, big.back(), 2);
    v.copy_(x);
    return v;
  }
  return x;
}

// A random valid case; pick() draws from a seeded engine so the sweep is the same every run.
Case random_case(std::mt19937& rng) {
  auto pick = [&](std::initializer_list<int64_t> v) { return *(v.begin() + static_cast<long>(rng() % v.size())); };
  Case c;
  c.dim = static_cast<int>(pick({1, 1, 2, 2, 2, 3}));
  c.N = pick({1, 2, 0, 1, 3});
  const int64_t g = pick({1, 1, 1, 2, 3, 0});  // 0: depthwise
  const int64_t cpg = pick({1, 2, 3, 5});
  if (g == 0) {
    c.Cin = pick({3, 8, 19});
    c.groups = c.Cin;
    c.Cout = c.Cin * pick({1, 1, 2, 3});
  } else {
    c.groups = g;
    c.Cin = g * (g == 1 ? pick({1, 3, 19, 23, 40}) : cpg);
    c.Cout = g * pick({1, 5, 7, 16, 17});
  }
  for (int i = 0; i < c.dim; ++i) {
    const int64_t k = pick({1, 2, 3, 3, 5, c.dim == 1 ? 15 : 4});
    const int64_t d = pick({1, 1, 2});
    const int64_t s = pick({1, 1, 2, 3});
    const int64_t span = d * (k - 1) + 1;
    c.K.push_back(k);
    c.dil.push_back(d);
    c.stride.push_back(s);
    c.S.push_back(span + pick({0, 1, 4, 9, c.dim == 3 ? 2 : 30}));
  }
  const std::string modes[] = {"zeros", "zeros", "reflect", "replicate", "circular"};
  c.mode = modes[rng() % 5];
  const std::string pads[] = {"explicit", "pairs", "same", "valid", "causal"};
  c.padding = pads[rng() % (c.dim == 1 ? 5 : 4)];
  for (int i = 0; i < c.dim; ++i) {
    const int64_t limit = c.mode == "reflect" ? c.S[static_cast<std::size_t>(i)] - 1 : c.S[static_cast<std::size_t>(i)];
    c.lo.push_back(std::min<int64_t>(pick({0, 1, 2, 3}), limit));
    c.hi.push_back(std::min<int64_t>(pick({0, 1, 2, 4}), limit));
  }
  if (c.padding == "same" || c.padding == "causal") {  // keep reflect within its limit
    for (int i = 0; i < c.dim; ++i)
      c.S[static_cast<std::size_t>(i)] += c.dil[static_cast<std::size_t>(i)] * (c.K[static_cast<std::size_t>(i)] - 1);
  }
  c.conv_mode = rng() % 4 == 0 ? "convolution" : "cross_correlation";
  c.bias = rng() % 3 != 0;
  c.batched = rng() % 5 != 0;
  if (!c.batched) c.N = 1;  // unbatched input is (C, *S)
  c.layout = static_cast<int>(rng() % 3);
  return c;
}

// dt: float32, float64, or a 16-bit dtype the engine computes in float32 (its reference also
// sums in float32 and rounds once: the two differ by the summation order, within a unit or two
// of the dtype's last place).
void check_case(const Case& c, uint32_t seed, DType dt = kFloat32) {
  SCOPED_TRACE(c.str() + " " + dtype_name(dt));
  Generator gen(seed);
  Shape xs{c.N, c.Cin}, ws{c.Cout, c.Cin / c.groups};
  xs.insert(xs.end(), c.S.begin(), c.S.end());
  ws.insert(ws.end(), c.K.begin(), c.K.end());
  Tensor x = randn(xs, kFloat32, &gen).to(dt);
  if (!c.batched) x = x.select(0, 0);
  const Tensor w = randn(ws, kFloat32, &gen).to(dt);
  const Tensor b = c.bias ? randn({c.Cout}, kFloat32, &gen).to(dt) : Tensor();
  const Tensor xl = make_layout(x, c.layout, c.batched);
  const Tensor ref = run(c, x, w, b, Algorithm::Reference);
  for (Algorithm a : {Algorithm::Gemm, Algorithm::Depthwise, Algorithm::Winograd}) {
    internal::ConvParams p;  // only what unsupported_reason reads
    p.dtype = dt;
    p.groups = c.groups;
    p.C_in = c.Cin;
    p.dim = c.dim;
    p.kernel = c.K;
    p.stride = c.stride;
    p.dilation = c.dil;
    p.padding_mode = padding_mode_from_name(c.mode);
    p.in_size = c.S;
    p.out_size = Shape(ref.sizes().end() - c.dim, ref.sizes().end());
    if (internal::unsupported_reason(a, p)) continue;
    std::vector<Isa> caps = isas();
    if (dt == kBFloat16 && internal::detected_isa() >= Isa::Amx) caps.push_back(Isa::Amx);
    for (Isa isa : caps) {
      IsaCap cap(isa);
      SCOPED_TRACE(std::string(name_of(a)) + " " + internal::name_of(isa));
      const Tensor y = run(c, xl, w, b, a);
      ASSERT_EQ(y.dtype(), dt);
      const double tol = dt == kFloat32 ? 2e-5 * std::sqrt(static_cast<double>(w.numel() / c.Cout)) + 1e-5
                                        : dtype_tolerance(dt);
      EXPECT_TRUE(all_close(y, ref, tol));
      // Exactly the float32 engine's result on the same values, rounded once (the AMX tiles sum
      // in an order of their own).
      if ((dt == kFloat16 || dt == kBFloat16) && !(isa == Isa::Amx && a == Algorithm::Gemm)) {
        EXPECT_TRUE(bitwise_equal(y, run(c, x.to(kFloat32), w.to(kFloat32), b.defined() ? b.to(kFloat32) : b, a).to(dt)));
      }
    }
  }
}

TEST(Engine, GeneratedSweepMatchesReference) {
  std::mt19937 rng(2026);
  for (int i = 0; i < 400; ++i) check_case(random_case(rng), static_cast<uint32_t>(i));
}

// float16 and bfloat16 run every fast algorithm (on float32 plans between conversions).
TEST(Engine, SixteenBitSweepMatchesReference) {
  std::mt19937 rng(1616);
  for (int i = 0; i < 120; ++i) check_case(random_case(rng), static_cast<uint32_t>(i), i % 2 ? kBFloat16 : kFloat16);
  for (DType dt : {kFloat16, kBFloat16}) {  // the engine, not the reference, runs them
    nn::Conv2d dense(nn::Conv2dOptions(8, 8, 3).dtype(dt)), dw(nn::Conv2dOptions(8, 16, 3).groups(8).dtype(dt));
    dense(Tensor::zeros({1, 8, 6, 6}, dt));
    dw(Tensor::zeros({1, 8, 6, 6}, dt));
    EXPECT_STREQ(dense.plan_algorithm(), "gemm") << dtype_name(dt);
    EXPECT_STREQ(dw.plan_algorithm(), "depthwise") << dtype_name(dt);
  }
}

// float64 forwards run on their own gemm kernels, within the reference's float64 rounding.
TEST(Engine, Float64SweepMatchesReference) {
  std::mt19937 rng(6464);
  for (int i = 0; i < 120; ++i) check_case(random_case(rng), static_cast<uint32_t>(i), kFloat64);
}

TEST(Engine, EdgeCasesByConstruction) {
  std::vector<Case> cases;
  // M < MR, N < NR, M and N one past a tile, k = 1, odd channels, 1x1 fast path, strided 1x1.
  for (int64_t cout : {1, 5, 6, 7, 17, 19, 23})
    for (int64_t width : {1, 7, 15, 16, 17, 33}) {
      Case c;
      c.dim = 2;
      c.Cin = 19;
      c.Cout = cout;
      c.S = {2, width};
      c.K = {1, 1};
      c.stride = {1, 1};
      c.dil = {1, 1};
      c.lo = c.hi = {0, 0};
      cases.push_back(c);
      c.K = {2, 3};
      c.S = {3, width + 2};
      c.lo = {1, 1};
      cases.push_back(c);
    }
  Case big;  // K-blocking: Kd = 23 * 3 * 5 = 345 > KC
  big.dim = 2, big.Cin = 23, big.Cout = 13, big.S = {9, 40}, big.K = {3, 5}, big.stride = {1, 2}, big.dil = {1, 1};
  big.lo = big.hi = {1, 2};
  cases.push_back(big);
  // M > 128 output channels: the gemm path reads taps in place from a source within
  // tap_source_limit (run below both ways), else packs im2col.
  for (const char* mode : {"zeros", "reflect", "circular"}) {
    Case wide;
    wide.dim = 2, wide.Cin = 5, wide.Cout = 264, wide.S = {7, 9}, wide.K = {3, 3}, wide.stride = {1, 2};
    wide.dil = {1, 1}, wide.lo = wide.hi = {1, 1}, wide.mode = mode;
    cases.push_back(wide);
  }
  // Windows that do not overlap (kernel = stride, patch embeddings): packed, not tap mode;
  // odd sizes leave inputs no window reads; 1-d and a dilated 2-d one.
  for (int64_t k : {2, 4}) {
    Case patch;
    patch.dim = 2, patch.Cin = 6, patch.Cout = 20, patch.S = {4 * k + 1, 5 * k + 3}, patch.K = {k, k};
    patch.stride = {k, k}, patch.dil = {1, 1}, patch.lo = patch.hi = {0, 0};
    cases.push_back(patch);
  }
  Case patch1;
  patch1.dim = 1, patch1.Cin = 3, patch1.Cout = 9, patch1.S = {50}, patch1.K = {5}, patch1.stride = {5}, patch1.dil = {1};
  patch1.lo = patch1.hi = {0};
  cases.push_back(patch1);
  Case patchd;
  patchd.dim = 2, patchd.Cin = 4, patchd.Cout = 7, patchd.S = {9, 12}, patchd.K = {2, 2}, patchd.stride = {3, 3};
  patchd.dil = {2, 2}, patchd.lo = patchd.hi = {0, 0};
  cases.push_back(patchd);
  // Several images of few positions and more than 128 outputs per group: one GEMM whose
  // columns run image after image, C blocks stored image by image (a block spans images).
  for (int layout : {0, 1, 2}) {
    Case m;
    m.dim = 2, m.N = 3, m.Cin = 5, m.Cout = 137, m.S = {5, 6}, m.K = {3, 3}, m.stride = {1, 1}, m.dil = {1, 1};
    m.lo = m.hi = {1, 1}, m.layout = layout;
    cases.push_back(m);
    m.groups = 2, m.Cin = 6, m.Cout = 2 * 131, m.stride = {2, 1}, m.mode = layout == 1 ? "reflect" : "zeros";
    cases.push_back(m);
    m.groups = 1, m.Cin = 7, m.Cout = 140, m.K = {1, 1}, m.stride = {1, 1}, m.lo = m.hi = {0, 0}, m.mode = "zeros";
    m.N = 9, m.S = {7, 7};  // 1x1: plain copies of the planes, 49 positions
    cases.push_back(m);
  }
  Case m1;
  m1.dim = 1, m1.N = 4, m1.Cin = 3, m1.Cout = 150, m1.S = {37}, m1.K = {4}, m1.stride = {2}, m1.dil = {1};
  m1.lo = {2}, m1.hi = {1}, m1.bias = false;
  cases.push_back(m1);
  Case dw1;  // 1-d depthwise with a long kernel, multiplier 2, stride 2, causal
  dw1.dim = 1, dw1.Cin = 8, dw1.groups = 8, dw1.Cout = 16, dw1.S = {200}, dw1.K = {31}, dw1.stride = {2}, dw1.dil = {1};
  dw1.padding = "causal";
  cases.push_back(dw1);
  // Winograd: outputs not a multiple of the 4x4 tile, asymmetric and 'same' padding, more
  // tiles than one block, channels around the register tile.
  for (int64_t hw : {1, 3, 5, 8, 13, 30})
    for (const char* pad : {"explicit", "pairs", "same", "valid"}) {
      Case c;
      c.dim = 2, c.Cin = hw % 2 ? 33 : 7, c.Cout = hw % 3 ? 19 : 40, c.S = {hw + 2, hw + 3}, c.K = {3, 3};
      c.stride = c.dil = {1, 1};
      c.padding = pad;
      c.lo = {1, 0};
      c.hi = {2, 1};
      c.batched = hw != 5;
      c.N = hw == 8 ? 2 : 1;
      c.layout = static_cast<int>(hw % 3);
      cases.push_back(c);
    }
  // Dilated 3x3 (Winograd over d x d sub-grids): sub-grids of unequal size, more sub-grids
  // than output rows, padding not a multiple of the dilation.
  for (int64_t d : {2, 3})
    for (int64_t hw : {1, 5, 12}) {
      Case c;
      c.dim = 2, c.Cin = 9, c.Cout = 14, c.S = {hw + 2 * d, hw + 2 * d + 1}, c.K = {3, 3}, c.stride = {1, 1};
      c.dil = {d, d == 2 ? 3 : 1};
      c.lo = {d, 1}, c.hi = {d - 1, 2};
      cases.push_back(c);
    }
  // Pointwise layers with few positions and many output channels: the transposed GEMM
  // (positions as rows), K past one block, strided and channels-last inputs, a batch of two.
  int kp = 0;
  for (int64_t cout : {64, 100, 264})
    for (const Shape& hw : {Shape{7, 7}, Shape{1, 1}, Shape{3, 5}, Shape{8, 8}}) {
      Case c;
      c.dim = 2, c.Cin = kp % 2 ? 19 : 130, c.Cout = cout, c.S = hw, c.K = {1, 1}, c.stride = c.dil = {1, 1};
      c.lo = c.hi = {0, 0};
      c.N = kp % 3 == 0 ? 2 : 1;
      c.layout = kp % 3;
      c.bias = kp % 2 == 0;
      ++kp;
      cases.push_back(c);
    }
  for (int dim : {1, 3}) {
    Case c;
    c.dim = dim, c.Cin = 21, c.Cout = 200, c.groups = 1;
    c.S = dim == 1 ? Shape{9} : Shape{2, 3, 2};
    c.K = c.stride = c.dil = c.lo = c.hi = Shape(static_cast<std::size_t>(dim), 1);
    for (auto& z : c.lo) z = 0;
    c.hi = c.lo;
    c.N = 2;
    cases.push_back(c);
  }
  // 1-d 3 taps (Winograd F(4, 3) over d sub-sequences): lengths not a multiple of the tile,
  // more than one block of tiles (300 outputs), sub-sequences of unequal size, more
  // sub-sequences than outputs, every padding kind, strided and channels-last inputs.
  const char* pads1[] = {"explicit", "pairs", "same", "valid", "causal"};
  int k1 = 0;
  for (int64_t d : {1, 2, 3, 8, 12, 20, 40})
    for (int64_t len : {1, 3, 6, 17, 65, 300}) {
      Case c;
      c.dim = 1, c.Cin = len % 2 ? 33 : 7, c.Cout = len % 3 ? 19 : 40, c.S = {len + 2 * d}, c.K = {3}, c.stride = {1};
      c.dil = {d};
      c.padding = pads1[k1 % 5];
      c.lo = {k1 % 3}, c.hi = {(k1 + 1) % 4};
      c.batched = k1 % 4 != 1;
      c.N = k1 % 4 == 2 ? 2 : 1;
      c.layout = k1 % 3;
      c.bias = k1 % 2 == 0;
      c.conv_mode = k1 % 5 == 3 ? "convolution" : "cross_correlation";
      ++k1;
      cases.push_back(c);
    }
  uint32_t seed = 0;
  for (const auto& c : cases) check_case(c, seed++);
  // Both ways for layers of more than 128 output channels.
  for (int64_t limit : {int64_t{0}, std::numeric_limits<int64_t>::max()}) {
    internal::set_tap_source_limit(limit);
    for (const auto& c : cases)
      if (c.Cout > 128) check_case(c, seed++);
  }
  internal::set_tap_source_limit(-1);
}

TEST(Cpu, CacheSizesAreWhatTheSystemReports) {
  const internal::CacheSizes& c = internal::cache_sizes();
  EXPECT_GE(c.l1d, 4 << 10);
  EXPECT_LE(c.l1d, c.l2);
  EXPECT_GT(c.l3, 0);
  // glibc's sysconf reads the CPU's own report; where it has one, convkit uses it.
  if (const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE); l2 > 0) {
    EXPECT_EQ(c.l2, l2);
  }
  if (const long l1 = sysconf(_SC_LEVEL1_DCACHE_SIZE); l1 > 0) {
    EXPECT_EQ(c.l1d, l1);
  }
  EXPECT_EQ(internal::tap_source_limit(), c.l2 / 2);
}

TEST(Engine, SameBitsForAnyThreadCount) {
  Generator gen(4);
  const Tensor x = randn({2, 32, 40, 40}, kFloat32, &gen), w = randn({48, 32, 3, 3}, kFloat32, &gen);
  const Tensor b = randn({48}, kFloat32, &gen);
  const Tensor xd = randn({2, 64, 60, 60}, kFloat32, &gen), wd = randn({128, 1, 3, 3}, kFloat32, &gen);
  // Winograd on a small image (fewer tile blocks than threads: the threads share a block) and
  // on a larger one (threads take whole blocks).
  const Tensor xs = randn({1, 64, 14, 14}, kFloat32, &gen), xl = randn({2, 64, 40, 40}, kFloat32, &gen);
  const Tensor ww = randn({64, 64, 3, 3}, kFloat32, &gen);
  // 1-d Winograd (dilation 1 and 8), the transposed pointwise GEMM, a packed GEMM whose M is
  // split across tasks (512 output channels, 5 column blocks).
  const Tensor x1 = randn({2, 40, 700}, kFloat32, &gen), w1 = randn({36, 40, 3}, kFloat32, &gen);
  const Tensor xp = randn({3, 96, 7, 7}, kFloat32, &gen), wp = randn({300, 96, 1, 1}, kFloat32, &gen);
  const Tensor xm = randn({1, 16, 30, 30}, kFloat32, &gen), wm = randn({512, 16, 3, 3}, kFloat32, &gen);
  auto others = [&] {
    return std::vector<Tensor>{F::conv1d(x1, w1, {}, F::Conv1dFuncOptions().padding(1)),
                               F::conv1d(x1, w1, {}, F::Conv1dFuncOptions().padding(8).dilation(8)),
                               F::conv2d(xp, wp, {}, F::Conv2dFuncOptions()),
                               F::conv2d(xm, wm, {}, F::Conv2dFuncOptions().padding(1))};
  };
  const int before = get_num_threads();
  set_num_threads(1);
  const Tensor y1 = F::conv2d(x, w, b, F::Conv2dFuncOptions().padding(1));
  const Tensor d1 = F::conv2d(xd, wd, {}, F::Conv2dFuncOptions().padding(1).groups(64).stride(2));
  const Tensor ws1 = F::conv2d(xs, ww, {}, F::Conv2dFuncOptions().padding(1).algorithm("winograd"));
  const Tensor wl1 = F::conv2d(xl, ww, {}, F::Conv2dFuncOptions().padding(1).algorithm("winograd"));
  const std::vector<Tensor> o1 = others();
  for (int t : {2, 3}) {
    set_num_threads(t);
    const std::vector<Tensor> ot = others();
    for (std::size_t i = 0; i < ot.size(); ++i) EXPECT_TRUE(bitwise_equal(ot[i], o1[i])) << t << " " << i;
    EXPECT_TRUE(bitwise_equal(F::conv2d(xs, ww, {}, F::Conv2dFuncOptions().padding(1).algorithm("winograd")), ws1)) << t;
    EXPECT_TRUE(bitwise_equal(F::conv2d(xl, ww, {}, F::Conv2dFuncOptions().padding(1).algorithm("winograd")), wl1)) << t;
    EXPECT_TRUE(bitwise_equal(F::conv2d(x, w, b, F::Conv2dFuncOptions().padding(1)), y1)) << t;
    EXPECT_TRUE(bitwise_equal(F::conv2d(xd, wd, {}, F::Conv2dFuncOptions().padding(1).groups(64).stride(2)), d1)) << t;
  }
  set_num_threads(before);
  EXPECT_THROW(set_num_threads(0), Error);
}

TEST(Engine, ShortReductionsOntoLargeOutputsMatchTheReference) {
  // Few products per output onto outputs beyond half of L2 (wav2vec2's first layer, a 3x3
  // layer on RGB): the gemm driver streams C, row blocks across all column blocks. Against the
  // reference under every ISA cap, with the bias, and the same bits for 1, 2 and 3 threads.
  Generator gen(31);
  const Tensor x1 = randn({1, 1, 24000}, kFloat32, &gen), w1 = randn({256, 1, 10}, kFloat32, &gen);
  const Tensor x2 = randn({2, 3, 100, 100}, kFloat32, &gen), w2 = randn({96, 3, 3, 3}, kFloat32, &gen);
  const Tensor b1 = randn({256}, kFloat32, &gen), b2 = randn({96}, kFloat32, &gen);
  const auto o1 = F::Conv1dFuncOptions().stride(5);
  const auto o2 = F::Conv2dFuncOptions().padding(1);
  const Tensor want1 = F::conv1d(x1, w1, b1, F::Conv1dFuncOptions(o1).algorithm("reference"));
  const Tensor want2 = F::conv2d(x2, w2, b2, F::Conv2dFuncOptions(o2).algorithm("reference"));
  // (The outputs of one image exceed half of L2, where the driver streams them.)
  ASSERT_GT(want1.numel() * 4, internal::cache_sizes().l2 / 2);
  ASSERT_GT(want2.numel() / 2 * 4, internal::cache_sizes().l2 / 2);
  for (internal::Isa isa : isas()) {
    IsaCap cap(isa);
    const int before = get_num_threads();
    std::vector<Tensor> r1, r2;
    for (int n : {1, 2, 3}) {
      set_num_threads(n);
      r1.push_back(F::conv1d(x1, w1, b1, F::Conv1dFuncOptions(o1).algorithm("gemm")));
      r2.push_back(F::conv2d(x2, w2, b2, F::Conv2dFuncOptions(o2).algorithm("gemm")));
    }
    set_num_threads(before);
    EXPECT_TRUE(all_close(r1[0], want1, dtype_tolerance(kFloat32))) << internal::name_of(isa);
    EXPECT_TRUE(all_close(r2[0], want2, dtype_tolerance(kFloat32))) << internal::name_of(isa);
    for (std::size_t i = 1; i < r1.size(); ++i) {
      EXPECT_TRUE(bitwise_equal(r1[i], r1[0])) << internal::name_of(isa) << " " << i;
      EXPECT_TRUE(bitwise_equal(r2[i], r2[0])) << internal::name_of(isa) << " " << i;
    }
  }
}

TEST(Engine, ColumnsModeMatchesTheReference) {
  // Layers the gemm plan computes in columns mode (per output row, positions as the rows of an
  // A-columns kernel read in place, W^T pre-packed, C stored transposed), under every ISA cap:
  // a row stride, dilation with reflect padding, groups with conv_mode=convolution, 3-d, rows of
  // 101 (a partial tile), of 224 (two row blocks a row), of 33 and 7 (11- and 7-row tiles),
  // the bias or none. Against the reference, the same bits for 1, 2 and 3 threads; a
  // channels-last input (strided columns) gives the same bits; the stride-1 layers' input
  // gradient (a forward with the swapped weights) matches the reference's too.
  struct Case {
    Shape x, w;
    Shape stride;
    int64_t pad, dilation, groups;
    PaddingMode mode;
    ConvMode conv_mode;
    bool bias;
  };
  const PaddingMode Z = PaddingMode::Zeros;
  const ConvMode X = ConvMode::CrossCorrelation;
  const std::vector<Case> cases = {
      {{2, 32, 14, 14}, {64, 32, 3, 3}, {1}, 1, 1, 1, Z, X, true},
      {{1, 32, 28, 14}, {32, 32, 3, 3}, {2, 1}, 1, 1, 1, Z, X, false},  // rows of stride 2
      {{1, 32, 28, 28}, {32, 32, 3, 3}, {1}, 2, 2, 1, PaddingMode::Reflect, X, true},
      {{2, 64, 14, 14}, {64, 32, 3, 3}, {1}, 1, 1, 2, Z, ConvMode::Convolution, true},
      {{1, 16, 4, 16, 16}, {32, 16, 3, 3, 3}, {1}, 0, 1, 1, Z, X, true},
      {{1, 32, 3, 101}, {32, 32, 3, 3}, {1}, 1, 1, 1, Z, X, true},  // 13-row tiles, the last one of 10
      {{1, 32, 2, 224}, {32, 32, 3, 3}, {1}, 1, 1, 1, Z, X, false},
      {{1, 32, 5, 33}, {32, 32, 3, 3}, {1}, 2, 2, 1, Z, X, true},  // 11-row tiles (DeepLab's 33)
      {{2, 32, 7, 7}, {64, 32, 3, 3}, {1}, 1, 1, 1, Z, X, true},   // 7-row tiles
  };
  Generator gen(43);
  for (const Case& l : cases) {
    SCOPED_TRACE(shape_str(l.x) + " weight " + shape_str(l.w));
    const Tensor x = randn(l.x, kFloat32, &gen), w = randn(l.w, kFloat32, &gen);
    const Tensor b = l.bias ? randn({l.w[0]}, kFloat32, &gen) : Tensor();
    ConvSpec spec;
    spec.rank = static_cast<int64_t>(l.x.size()) - 2;
    spec.stride = l.stride, spec.pad_lo = {l.pad}, spec.dilation = {l.dilation}, spec.groups = l.groups;
    spec.padding_mode = l.mode, spec.conv_mode = l.conv_mode;
    ConvSpec ref = spec, gemm = spec;
    ref.algorithm = Algorithm::Reference, gemm.algorithm = Algorithm::Gemm;
    const Tensor want = F::conv(x, w, b, ref);
    const Tensor gy = randn(want.sizes(), kFloat32, &gen);
    const bool grad = l.stride == Shape{1} && l.mode == Z;
    const Tensor want_gx = grad ? F::conv_backward(gy, x, w, ref, {true, false, false}).grad_input : Tensor();
    // (x viewed channels-last: its columns C apart.)
    std::vector<int64_t> last(l.x.size()), back(l.x.size());
    for (std::size_t d = 0; d < l.x.size(); ++d) last[d] = d == 0 ? 0 : d + 1 == l.x.size() ? 1 : static_cast<int64_t>(d) + 1;
    for (std::size_t d = 0; d < l.x.size(); ++d) back[static_cast<std::size_t>(last[d])] = static_cast<int64_t>(d);
    const Tensor x_last = x.permute(last).contiguous().permute(back);
    ASSERT_NE(x_last.stride(x_last.dim() - 1), 1);
    for (internal::Isa isa : isas()) {
      IsaCap cap(isa);
      const internal::ConvParams p = internal::make_conv_params(x, w, b, internal::conv_args(gemm));
      ASSERT_NE(internal::gemm_columns_kernel(p), nullptr) << internal::name_of(isa);
      const std::vector<Tensor> runs = at_one_two_three_threads([&] { return F::conv(x, w, b, gemm); });
      EXPECT_TRUE(all_close(runs[0], want, dtype_tolerance(kFloat32))) << internal::name_of(isa);
      for (std::size_t i = 1; i < runs.size(); ++i) EXPECT_TRUE(bitwise_equal(runs[i], runs[0])) << internal::name_of(isa) << " " << i;
      const auto plan = internal::make_gemm_plan(p, w, b);
      Tensor y = Tensor::empty(want.sizes());
      plan->run(x_last, y);
      EXPECT_TRUE(bitwise_equal(y, runs[0])) << internal::name_of(isa) << " channels-last";
      if (grad) {
        const Tensor gx = F::conv_backward(gy, x, w, gemm, {true, false, false}).grad_input;
        EXPECT_TRUE(all_close(gx, want_gx, dtype_tolerance(kFloat32))) << internal::name_of(isa) << " input gradient";
      }
    }
  }
}

TEST(Engine, DepthwiseThreeByThreeReadsTheInputInPlaceWithTheCopysBits) {
  // float32 3 x 3 depthwise forwards the window kernel serves (column stride 1 or 2, at most one
  // padding column before the input; a multiplier, conv_mode=convolution, TensorFlow-style
  // padding after, a row stride of 3): bit for bit the padded-copy path, which an input whose
  // columns are not adjacent takes, and within tolerance of the reference, under every ISA cap;
  // float16 and bfloat16 layers (planes widened first) bit for bit their copy path too.
  struct Case {
    Shape x;
    int64_t mult, sh, sw;
    std::vector<std::pair<int64_t, int64_t>> pad;
    bool mirrored;
  };
  const Case cases[] = {
      {{2, 4, 9, 17}, 1, 1, 1, {{1, 1}, {1, 1}}, false}, {{2, 3, 10, 33}, 2, 2, 2, {{1, 1}, {1, 1}}, true},
      {{1, 3, 8, 16}, 1, 2, 2, {{0, 1}, {0, 1}}, false}, {{2, 2, 11, 56}, 1, 1, 1, {{0, 0}, {0, 0}}, false},
      {{1, 2, 12, 31}, 1, 3, 1, {{2, 0}, {1, 1}}, true}, {{1, 5, 7, 57}, 1, 2, 1, {{1, 1}, {1, 0}}, false},
  };
  Generator gen(29);
  for (const Case& c : cases) {
    SCOPED_TRACE(shape_str(c.x));
    const int64_t C = c.x[1];
    Shape wide = c.x;
    wide[3] *= 2;
    const Tensor xw = randn(wide, kFloat32, &gen);
    const Tensor strided = xw.slice(3, 0, wide[3], 2), x = strided.contiguous();
    const Tensor w = randn({C * c.mult, 1, 3, 3}, kFloat32, &gen), b = randn({C * c.mult}, kFloat32, &gen);
    const auto o = F::Conv2dFuncOptions().stride({c.sh, c.sw}).padding(c.pad).groups(C).conv_mode(c.mirrored ? "convolution" : "cross_correlation");
    const Tensor want = F::conv2d(x, w, b, F::Conv2dFuncOptions(o).algorithm("reference"));
    for (internal::Isa isa : isas()) {
      IsaCap cap(isa);
      const Tensor y = F::conv2d(x, w, b, F::Conv2dFuncOptions(o).algorithm("depthwise"));
      EXPECT_TRUE(all_close(y, want, dtype_tolerance(kFloat32))) << internal::name_of(isa);
      EXPECT_TRUE(bitwise_equal(y, F::conv2d(strided, w, b, F::Conv2dFuncOptions(o).algorithm("depthwise")))) << internal::name_of(isa);
      // 16-bit layers widen the planes the kernel reads: the copy path's bits too.
      for (DType dt : {kFloat16, kBFloat16}) {
        const Tensor w16 = w.to(dt), b16 = b.to(dt);
        const Tensor y16 = F::conv2d(x.to(dt), w16, b16, F::Conv2dFuncOptions(o).algorithm("depthwise"));
        EXPECT_TRUE(bitwise_equal(y16, F::conv2d(xw.to(dt).slice(3, 0, wide[3], 2), w16, b16, F::Conv2dFuncOptions(o).algorithm("depthwise"))))
            << internal::name_of(isa) << " " << dtype_name(dt);
      }
    }
  }
}

TEST(Engine, AlgorithmChoiceIsReportedAndForcible) {
  nn::Conv2d dense(nn::Conv2dOptions(8, 8, 3)), dw(nn::Conv2dOptions(8, 16, 3).groups(8));
  nn::Conv2d d64(nn::Conv2dOptions(8, 8, 3).dtype(kFloat64));
  EXPECT_STREQ(dense.plan_algorithm(), "none");
  dense(Tensor::zeros({1, 8, 6, 6}));
  dw(Tensor::zeros({1, 8, 6, 6}));
  d64(Tensor::zeros({1, 8, 6, 6}, kFloat64));
  EXPECT_STREQ(dense.plan_algorithm(), "gemm");
  EXPECT_STREQ(dw.plan_algorithm(), "depthwise");
  EXPECT_STREQ(d64.plan_algorithm(), "gemm");  // float64 forwards have their own gemm kernels
  EXPECT_GT(dense.plan_memory_bytes(), 0);
  nn::Conv2d forced(nn::Conv2dOptions(8, 16, 3).groups(8).algorithm("gemm"));
  forced(Tensor::zeros({1, 8, 6, 6}));
  EXPECT_STREQ(forced.plan_algorithm(), "gemm");
  nn::Conv2d grouped(nn::Conv2dOptions(32, 32, 3).groups(8));  // 4 channels per group: direct
  grouped(Tensor::zeros({1, 32, 6, 6}));
  EXPECT_STREQ(grouped.plan_algorithm(), "depthwise");
  EXPECT_THROW(F::conv2d(Tensor::zeros({1, 200, 6, 6}), Tensor::zeros({8, 200, 3, 3}), {},
                         F::Conv2dFuncOptions().algorithm("depthwise")),
               Error);  // 1800 taps per output row: more than the direct path takes
  EXPECT_THROW(F::conv3d(Tensor::zeros({1, 2, 4, 4, 4}), Tensor::zeros({2, 1, 3, 3, 3}), {},
                         F::Conv3dFuncOptions().groups(2).algorithm("depthwise")),
               Error);
  EXPECT_THROW(F::conv2d(Tensor::zeros({1, 8, 6, 6}), Tensor::zeros({8, 8, 3, 3}), {},
                         F::Conv2dFuncOptions().algorithm("winograd").stride(2)),
               Error);
  // Winograd's float32 error is far above direct summation's: auto takes it only when allowed,
  // and a module's plan follows the switch.
  nn::Conv2d wino(nn::Conv2dOptions(32, 32, 3).padding(1));
  wino(Tensor::zeros({1, 32, 9, 9}));
  EXPECT_STREQ(wino.plan_algorithm(), "gemm");
  set_allow_fast_winograd(true);
  wino(Tensor::zeros({1, 32, 9, 9}));
  EXPECT_STREQ(wino.plan_algorithm(), "winograd");
  set_allow_fast_winograd(false);
  wino(Tensor::zeros({1, 32, 9, 9}));
  EXPECT_STREQ(wino.plan_algorithm(), "gemm");
}

TEST(Engine, ModuleRebuildsItsPlanWhenWeightsOrShapesChange) {
  nn::Conv2d m(nn::Conv2dOptions(3, 4, 3).padding(1));
  Generator gen(9);
  const Tensor x = randn({1, 3, 8, 8}, kFloat32, &gen);
  const Tensor y0 = m(x);
  EXPECT_TRUE(bitwise_equal(m(x), y0));  // cached plan, same bits
  m.weight.uniform_(-1, 1, &gen);        // in-place change: the version moves
  const Tensor y1 = m(x);
  EXPECT_TRUE(all_close(y1, F::conv2d(x, m.weight, m.bias, F::Conv2dFuncOptions().padding(1)), 1e-6));
  EXPECT_FALSE(bitwise_equal(y1, y0));
  m.options.stride(2);  // changed options are seen
  EXPECT_EQ(m(x).sizes(), (Shape{1, 4, 4, 4}));
  EXPECT_EQ(m(randn({2, 3, 5, 5}, kFloat32, &gen)).sizes(), (Shape{2, 4, 3, 3}));
}

}  // namespace
}  // namespace convkit::test

namespace convkit::test {
namespace {

// Review findings, each a regression test.
TEST(PlanCache, NewWeightsInTheSameMemoryAreSeen) {
  nn::Conv2d m(nn::Conv2dOptions(3, 4, 3).bias(false));
  Generator gen(3);
  const Tensor x = randn({1, 3, 6, 6}, kFloat32, &gen);
  std::vector<float> buf(4 * 3 * 3 * 3, 0.5f);
  m.weight = Tensor::from_blob(buf.data(), {4, 3, 3, 3}, kFloat32);
  const Tensor y1 = m(x);
  for (auto& v : buf) v = -0.25f;  // new values, same address, a new tensor over it
  m.weight = Tensor::from_blob(buf.data(), {4, 3, 3, 3}, kFloat32);
  EXPECT_TRUE(all_close(m(x), F::conv2d(x, m.weight), 1e-6));
  EXPECT_FALSE(bitwise_equal(m(x), y1));
  // set_weight twice between forwards: the clone may reuse the freed memory; still seen.
  const Tensor a = randn({4, 3, 3, 3}, kFloat32, &gen), b = randn({4, 3, 3, 3}, kFloat32, &gen);
  m.set_weight(a);
  m(x);
  m.set_weight(b);
  m.set_weight(b.flip({2, 3}));
  EXPECT_TRUE(all_close(m(x), F::conv2d(x, b.flip({2, 3})), 1e-6));
}

TEST(PlanCache, CopiesHaveTheirOwnPlanAndConcurrentForwardsAreSafe) {
  nn::Conv2d m(nn::Conv2dOptions(16, 16, 3).padding(1));
  Generator gen(4);
  const Tensor x = randn({2, 16, 20, 20}, kFloat32, &gen);
  const Tensor y = m(x);
  nn::Conv2d copy = m;
  EXPECT_STREQ(copy.plan_algorithm(), "none");  // fresh, not shared
  copy.set_weight(randn({16, 16, 3, 3}, kFloat32, &gen));
  EXPECT_TRUE(bitwise_equal(m(x), y));  // the copy's new weights did not leak into m
  std::vector<Tensor> out(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back([&, i] { out[static_cast<std::size_t>(i)] = m(x); });
  for (auto& t : threads) t.join();
  for (const auto& o : out) EXPECT_TRUE(bitwise_equal(o, y));
}

TEST(PlanCache, EmptyBatchWithHugeSpatialSizesAllocatesNothing) {
  float dummy[9] = {};
  const Tensor x = Tensor::from_blob(dummy, {0, 1, 100000, 100000}, kFloat32, {0, 0, 0, 0});
  const Tensor y = F::conv2d(x, Tensor::zeros({1, 1, 3, 3}));
  EXPECT_EQ(y.sizes(), (Shape{0, 1, 99998, 99998}));
  nn::Conv2d m(nn::Conv2dOptions(1, 64, 1));
  EXPECT_EQ(m(Tensor::from_blob(dummy, {0, 1, int64_t{1} << 32, int64_t{1} << 32}, kFloat32, {0, 0, 0, 0})).numel(), 0);
}

TEST(Engine, HugePaddingAndDilationWithASmallOutput) {
  // Padded height 2^62 + 1, dilation 2^62: one output row, tap 1 reads input row 0. A copy of
  // the padded region would be astronomically large, so the direct and tap-mode paths must
  // decline (the packed GEMM computes it) and a forced direct path must say why.
  Generator gen(9);
  const int64_t big = int64_t{1} << 62;
  const Tensor x = randn({1, 1, 1, 8}, kFloat32, &gen), w = randn({16, 1, 2, 1}, kFloat32, &gen);
  auto opts = [&] {
    return F::Conv2dFuncOptions().padding(std::vector<std::pair<int64_t, int64_t>>{{big, 0}, {0, 0}}).dilation({big, 1});
  };
  const Tensor y = F::conv2d(x, w, {}, opts());
  ASSERT_EQ(y.sizes(), (Shape{1, 16, 1, 8}));
  for (int64_t co = 0; co < 16; ++co)
    for (int64_t j = 0; j < 8; ++j)
      EXPECT_FLOAT_EQ(y.data<float>()[co * 8 + j], w.data<float>()[co * 2 + 1] * x.data<float>()[j]);
  const Tensor wd = randn({1, 1, 2, 1}, kFloat32, &gen);
  EXPECT_TRUE(all_close(F::conv2d(x, wd, {}, opts()), F::conv2d(x, wd, {}, opts().algorithm("reference")), 1e-6));
  try {
    F::conv2d(x, wd, {}, opts().algorithm("depthwise"));
    ADD_FAILURE() << "the direct path accepted a padded copy of 2^62 rows";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("padded input rows"), std::string::npos) << e.what();
  }
}

TEST(Engine, OneDimensionalTapModeCopiesAnImagesChannelsTogether) {
  // 1-d layers in tap mode with a padded, phase-split copy: each image's channels are copied
  // by one call per column phase, the threads' ranges starting mid-image (3 images of 40
  // channels over two threads); images of few positions (the seed Conv1d's 20 of 50) side by
  // side as one product's columns on one thread, as separate products on more, with the same
  // bits, also when one plan runs both ways. x is a channel slice (images C_in + 3 channels apart) and an NLC view; strides 2 and
  // 3, with and without padding. Against the reference under every ISA cap, same bits for 1-3
  // threads.
  Generator gen(37);
  struct Case {
    Shape x, w;
  };
  for (const Case& l : {Case{{3, 40, 1500}, {24, 40, 4}}, Case{{20, 16, 50}, {33, 16, 3}}}) {
    Shape wide = l.x;
    wide[1] += 3;
    const Tensor big = randn(wide, kFloat32, &gen);
    const Tensor nlc = randn({l.x[0], l.x[2], l.x[1]}, kFloat32, &gen).transpose(1, 2);
    const Tensor w = randn(l.w, kFloat32, &gen), b = randn({l.w[0]}, kFloat32, &gen);
    for (const Tensor& x : {big.slice(1, 2, 2 + l.x[1]), nlc})
      for (int64_t stride : {2, 3})
        for (int64_t pad : {0, 2}) {
          SCOPED_TRACE(shape_str(l.x) + " stride " + std::to_string(stride) + " pad " + std::to_string(pad));
          const auto o = F::Conv1dFuncOptions().stride(stride).padding(pad);
          const Tensor want = F::conv1d(x, w, b, F::Conv1dFuncOptions(o).algorithm("reference"));
          for (internal::Isa isa : isas()) {
            IsaCap cap(isa);
            const std::vector<Tensor> runs =
                at_one_two_three_threads([&] { return F::conv1d(x, w, b, F::Conv1dFuncOptions(o).algorithm("gemm")); });
            // One prepared plan run on 2, 1, 2 and 1 threads: the layouts of one and of several
            // threads must not see each other's copies.
            const int before = get_num_threads();
            ConvSpec spec;
            spec.rank = 1, spec.stride = {stride}, spec.pad_lo = spec.pad_hi = {pad}, spec.algorithm = Algorithm::Gemm;
            const ConvPlan plan = prepare(spec, w, b, x.sizes());
            for (int n : {2, 1, 2, 1}) {
              set_num_threads(n);
              EXPECT_TRUE(bitwise_equal(plan.run(x), runs[0])) << internal::name_of(isa) << " " << n << " threads";
            }
            set_num_threads(before);
            EXPECT_TRUE(all_close(runs[0], want, dtype_tolerance(kFloat32))) << internal::name_of(isa);
            EXPECT_TRUE(bitwise_equal(runs[1], runs[0])) << internal::name_of(isa);
            EXPECT_TRUE(bitwise_equal(runs[2], runs[0])) << internal::name_of(isa);
          }
        }
  }
}

TEST(Engine, TapModeOverSeveralPaddedBatches) {
  // 8 channels of 256 x 256 padded: about 2 MB per image, so images are padded one per batch.
  Generator gen(10);
  const Tensor x = randn({3, 8, 256, 256}, kFloat32, &gen), w = randn({4, 8, 3, 3}, kFloat32, &gen);
  const Tensor b = randn({4}, kFloat32, &gen);
  const auto o = F::Conv2dFuncOptions().padding(1).padding_mode("reflect");
  EXPECT_TRUE(all_close(F::conv2d(x, w, b, F::Conv2dFuncOptions(o).algorithm("gemm")),
                        F::conv2d(x, w, b, F::Conv2dFuncOptions(o).algorithm("reference")), 1e-4));
}

TEST(PlanCache, SameWithAHugeStrideIsWellDefined) {
  const Tensor x = Tensor::arange(5).reshape({1, 1, 5});
  const Tensor y = F::conv1d(x, Tensor::full({1, 1, 3}, 1.0), {},
                             F::Conv1dFuncOptions().padding("same").stride(INT64_MAX));
  EXPECT_EQ(y.sizes(), (Shape{1, 1, 1}));
  EXPECT_EQ(y.item(), 0.0 + 1.0 + 2.0);  // SAME_UPPER: total pad max(0 + 3 - 5, 0) = 0, window [0, 3)
  // Depthwise with a strided (channels-last) input: the padded-row copy must not form
  // stride * column step (INT64_MAX * 2) with a single in-range element.
  const Tensor xc = Tensor::arange(10).reshape({1, 5, 2}).transpose(1, 2);  // [1, 2, 5], column step 2
  const Tensor yd = F::conv1d(xc, Tensor::full({2, 1, 3}, 1.0), {},
                              F::Conv1dFuncOptions().padding("same").stride(INT64_MAX).groups(2).algorithm("depthwise"));
  ASSERT_EQ(yd.sizes(), (Shape{1, 2, 1}));
  EXPECT_EQ(yd.select(1, 0).item(), 0.0 + 2.0 + 4.0);
  EXPECT_EQ(yd.select(1, 1).item(), 1.0 + 3.0 + 5.0);
}

}  // namespace
}  // namespace convkit::test
