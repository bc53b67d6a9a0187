// What users rely on beyond the values of a single call: several threads sharing one layer,
// plans that never go stale, non-finite values and subnormals travelling as in a direct
// convolution, and default accuracy within the direct path's.
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>
#include <thread>

#include "test_util.h"
#include "tools/convkit/bench.h"

namespace convkit::test {
namespace {

// A layer per algorithm (and per gemm variant): {options, input shape}.
struct Layer {
  const char* name;
  nn::Conv2dOptions options;
  Shape x;
};

std::vector<Layer> layers_of_every_path() {
  return {
      {"gemm packed", nn::Conv2dOptions(8, 12, 3).stride(2).padding(1).algorithm("gemm"), {2, 8, 13, 11}},
      {"gemm taps", nn::Conv2dOptions(8, 12, 3).padding(2).dilation(2).padding_mode("reflect").algorithm("gemm"),
       {2, 8, 12, 10}},
      {"gemm 1x1", nn::Conv2dOptions(16, 24, 1).algorithm("gemm"), {2, 16, 9, 9}},
      {"gemm 1x1 few positions", nn::Conv2dOptions(64, 40, 1), {2, 64, 3, 3}},
      {"depthwise", nn::Conv2dOptions(16, 32, 3).groups(16).padding(1).algorithm("depthwise"), {2, 16, 11, 9}},
      {"winograd", nn::Conv2dOptions(32, 32, 3).padding(1).algorithm("winograd"), {2, 32, 10, 9}},
      {"reference", nn::Conv2dOptions(4, 6, 3).padding(1).algorithm("reference"), {2, 4, 7, 7}},
  };
}

// 4 threads x 200 forwards on one module, each on its own input: every result is bitwise the
// one a single caller gets (the plan is shared and immutable, scratch is per call).
TEST(Concurrency, FourThreadsShareOneModuleAndGetTheSameBits) {
  const int saved = get_num_threads();
  set_num_threads(2);  // each forward may itself use a team
  for (const Layer& l : layers_of_every_path()) {
    SCOPED_TRACE(l.name);
    nn::Conv2d m(l.options);
    Generator gen(21);
    std::vector<Tensor> xs, expect;
    for (int i = 0; i < 4; ++i) xs.push_back(randn(l.x, kFloat32, &gen));
    for (const Tensor& x : xs) expect.push_back(m(x));
    std::vector<int> mismatches(4, 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&, t] {
        const auto i = static_cast<std::size_t>(t);
        for (int r = 0; r < 200; ++r) {
          const Tensor y = m(xs[i]);
          mismatches[i] += !bitwise_equal(y, expect[i]);
        }
      });
    for (auto& t : threads) t.join();
    for (int t = 0; t < 4; ++t) EXPECT_EQ(mismatches[static_cast<std::size_t>(t)], 0) << "thread " << t;
  }
  set_num_threads(saved);
}

// Winograd inputs holding inf run on a direct plan the first such call makes: 4 threads, two of
// them with an inf, reach a fresh module at once (so the plan and its direct plan are made
// while other forwards run) and get the bits of another module's single caller; the module
// then holds the direct plan too.
TEST(Concurrency, WinogradCallsWithInfMakeTheirDirectPlanUnderRaces) {
  const auto options = nn::Conv2dOptions(32, 32, 3).padding(1).algorithm("winograd");
  nn::Conv2d solo(options);
  Generator gen(23);
  std::vector<Tensor> xs, expect;
  for (int i = 0; i < 4; ++i) {
    xs.push_back(randn({2, 32, 9, 10}, kFloat32, &gen));
    if (i % 2 == 1) xs.back().data<float>()[40 + i] = std::numeric_limits<float>::infinity();
    expect.push_back(solo(xs.back()));
  }
  nn::Conv2d fresh(options);
  fresh->set_weight(solo->weight);
  (void)fresh(xs[0]);  // finite: the Winograd plan alone
  const int64_t solo_winograd_bytes = fresh->plan_memory_bytes();
  for (int round = 0; round < 5; ++round) {
    nn::Conv2d m(options);
    m->set_weight(solo->weight);
    m->set_bias(solo->bias);
    std::vector<int> mismatches(4, 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&, t] {
        const auto i = static_cast<std::size_t>(t);
        for (int r = 0; r < 20; ++r) mismatches[i] += !bitwise_equal(m(xs[i]), expect[i]);
      });
    for (auto& t : threads) t.join();
    for (int t = 0; t < 4; ++t) EXPECT_EQ(mismatches[static_cast<std::size_t>(t)], 0) << "thread " << t;
    EXPECT_GT(m->plan_memory_bytes(), solo_winograd_bytes) << "no direct plan kept";
  }
}

// Forwards of two input shapes alternate on one module, so its plan is rebuilt over and over
// while other forwards run: each finishes on the plan it took, with a single caller's bits.
TEST(Concurrency, ForwardsRacingAPlanRebuildFinishOnTheirOwnPlan) {
  nn::Conv2d m(nn::Conv2dOptions(8, 8, 3).padding(1).algorithm("gemm"));
  Generator gen(22);
  const Tensor x = randn({1, 8, 12, 12}, kFloat32, &gen);
  const Tensor y0 = m(x);
  const Tensor x2 = randn({2, 8, 7, 7}, kFloat32, &gen);
  const Tensor y2 = m(x2);
  std::vector<int> bad(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int r = 0; r < 100; ++r) {
        const bool first = (r + t) % 2 == 0;
        const Tensor y = m(first ? x : x2);
        bad[static_cast<std::size_t>(t)] += !bitwise_equal(y, first ? y0 : y2);
      }
    });
  for (auto& t : threads) t.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(bad[static_cast<std::size_t>(t)], 0) << "thread " << t;
}

// Writes a module's packed weights cannot see by version(): through a pointer taken before
// the first forward, one taken after it, and into borrowed memory. Every forward after a write
// equals the reference on the current values (a stale plan would be off by far more than the
// tolerance, which only allows for Winograd's rounding).
TEST(PlanCache, WritesThroughPointersAndBorrowedMemoryAreNeverStale) {
  for (const char* algo : {"gemm", "depthwise", "winograd", "reference"}) {
    SCOPED_TRACE(algo);
    const bool dw = std::string(algo) == "depthwise";
    nn::Conv2d m(nn::Conv2dOptions(32, 32, 3).padding(1).groups(dw ? 32 : 1).algorithm(algo));
    const auto F2 = F::Conv2dFuncOptions().padding(1).groups(dw ? 32 : 1).algorithm("reference");
    Generator gen(31);
    const Tensor x = randn({1, 32, 8, 8}, kFloat32, &gen);
    EXPECT_FALSE(m.weight.writable_outside());  // convkit made and filled it
    float* w = m.weight.data<float>();          // a writable pointer: from now on compared by content
    EXPECT_TRUE(m.weight.writable_outside());
    m(x);
    w[5] += 1.0f;
    EXPECT_TRUE(all_close(m(x), F::conv2d(x, m.weight, m.bias, F2), 2e-4));
    // The bias, through a pointer taken after its plan was built.
    static_cast<float*>(m.bias.data_ptr())[3] = 7.0f;
    EXPECT_TRUE(all_close(m(x), F::conv2d(x, m.weight, m.bias, F2), 2e-4));
    // Borrowed memory written by its owner between forwards.
    std::vector<float> buf(static_cast<std::size_t>(m.weight.numel()), 0.25f);
    m.weight = Tensor::from_blob(buf.data(), m.weight.sizes(), kFloat32);
    EXPECT_TRUE(m.weight.writable_outside());
    m(x);
    buf[17] = -3.0f;
    const Tensor y = m(x);
    EXPECT_TRUE(all_close(y, F::conv2d(x, m.weight, m.bias, F2), 2e-4));
    EXPECT_TRUE(bitwise_equal(m(x), y));  // unchanged memory: the same plan, the same bits
  }
}

// set_weight copies into memory only convkit writes: no per-forward comparison, and a later
// write through the caller's own buffer does not reach the module (it has its own copy).
TEST(PlanCache, SetWeightCopiesIntoMemoryOnlyConvkitWrites) {
  nn::Conv2d m(nn::Conv2dOptions(4, 4, 3));
  std::vector<float> buf(4 * 4 * 9, 0.5f);
  m.set_weight(Tensor::from_blob(buf.data(), {4, 4, 3, 3}, kFloat32));
  EXPECT_FALSE(m.weight.writable_outside());
  const Tensor x = Tensor::full({1, 4, 5, 5}, 1.0);
  const Tensor y = m(x);
  buf[0] = 100.0f;
  EXPECT_TRUE(bitwise_equal(m(x), y));
}

// ---- default accuracy ---------------------------------------------------------------------

std::vector<tool::BenchShape> bench_shapes() {
  const std::string copy = CONVKIT_BENCH_SHAPES;  // the repository's benchmark suite
  std::ifstream in(copy);
  EXPECT_TRUE(in.good()) << copy;
  std::stringstream text;
  text << in.rdbuf();
  // It must be the shared benchmark file where that is here to compare with.
  for (const char* shared : {CONVKIT_SHARED_SHAPES, "/work/shared/bench/shapes.csv"}) {
    std::ifstream s(shared);
    if (!s.good()) continue;
    std::stringstream st;
    st << s.rdbuf();
    EXPECT_EQ(st.str(), text.str()) << copy << " differs from " << shared << ": copy it again";
    break;
  }
  return tool::parse_shapes(text, copy);
}

template <std::size_t D>
nn::ConvOptions<D> options_of(const tool::BenchShape& s) {
  nn::ConvOptions<D> o(s.c_in, s.c_out, s.kernel);
  o.stride(s.stride).padding(s.padding).dilation(s.dilation).groups(s.groups);
  return o;
}

// Max |y - float64| over sampled outputs (every output of small layers; 4096 spread over the
// rest), from the definition in double precision (tool::point_value).
double sampled_error(const tool::BenchShape& s, const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y) {
  const int64_t n = y.numel(), step = std::max<int64_t>(1, n / 4096);
  const float* yp = y.const_data<float>();
  double err = 0;
  for (int64_t i = 0; i < n; i += step) {
    const int64_t at = std::min(n - 1, i + (i / step * 7919) % step);  // a varying offset inside each stride
    const double ref = tool::point_value(s, x.const_data<float>(), w.const_data<float>(), b.const_data<float>(), at);
    err = std::max(err, std::abs(yp[at] - ref));
  }
  return err;
}

struct Errors {
  std::string algo;
  double auto_err, gemm_err, fast_err;  // fast_err: with allow_fast_winograd(), NaN if the same path
};

template <std::size_t D>
Errors errors_of(const tool::BenchShape& s) {
  manual_seed(1234);
  nn::ConvNdImpl<D> m(options_of<D>(s));  // PyTorch's initialization
  Shape xs{s.n, s.c_in};
  xs.insert(xs.end(), s.spatial.begin(), s.spatial.end());
  const Tensor x = randn(xs);
  const Tensor y = m(x);
  Errors e{m.plan_algorithm(), sampled_error(s, x, m.weight, m.bias, y), 0, std::nan("")};
  if (e.algo == "gemm") {
    e.gemm_err = e.auto_err;
  } else {
    nn::ConvNdImpl<D> g(options_of<D>(s).algorithm("gemm"));
    g.set_weight(m.weight);
    g.set_bias(m.bias);
    e.gemm_err = sampled_error(s, x, m.weight, m.bias, g(x));
  }
  set_allow_fast_winograd(true);
  nn::ConvNdImpl<D> f(options_of<D>(s));
  f.set_weight(m.weight);
  f.set_bias(m.bias);
  const Tensor yf = f(x);
  if (std::string(f.plan_algorithm()) != e.algo) e.fast_err = sampled_error(s, x, m.weight, m.bias, yf);
  set_allow_fast_winograd(false);
  return e;
}

// With default options every algorithm auto picks stays within 2x of the direct (gemm) path's
// max error against float64, on every layer of the benchmark. Prints the ratios, and what
// allowing fast Winograd would give.
TEST(Accuracy, AutoIsWithinTwiceTheGemmErrorOnEveryBenchShape) {
  std::printf("%-26s %-10s %11s %11s %7s %12s\n", "shape", "auto", "auto err", "gemm err", "ratio", "fast ratio");
  for (const tool::BenchShape& s : bench_shapes()) {
    const Errors e = s.dim() == 1 ? errors_of<1>(s) : s.dim() == 2 ? errors_of<2>(s) : errors_of<3>(s);
    const double ratio = e.auto_err / e.gemm_err;
    std::printf("%-26s %-10s %11.3e %11.3e %7.2f %12.2f\n", s.name.c_str(), e.algo.c_str(), e.auto_err, e.gemm_err,
                ratio, e.fast_err / e.gemm_err);
    EXPECT_LE(e.auto_err, 2 * e.gemm_err) << s.name << " (" << e.algo << ")";
    EXPECT_GT(e.gemm_err, 0) << s.name << ": an exact result cannot tell the paths apart";
  }
}

// float16 and bfloat16 (off AMX) take Winograd by default on its layers: its float32 error is
// below their rounding. Their auto result stays within 2x of the direct (gemm) path's max error
// against float64 of the same 16-bit values, on every layer of the benchmark where it is picked.
TEST(Accuracy, SixteenBitAutoIsWithinTwiceTheGemmError) {
  IsaCap cap(internal::Isa::Avx512);  // (bfloat16 on the AMX tiles runs no Winograd)
  int winograd = 0;
  for (DType dt : {kFloat16, kBFloat16})
    for (const tool::BenchShape& s : bench_shapes()) {
      if (s.dim() != 2 || s.kernel != Shape{3, 3} || s.stride != Shape{1, 1}) continue;
      manual_seed(1234);
      nn::ConvNdImpl<2> m(options_of<2>(s).dtype(dt)), g(options_of<2>(s).dtype(dt).algorithm("gemm"));
      Shape xs{s.n, s.c_in};
      xs.insert(xs.end(), s.spatial.begin(), s.spatial.end());
      const Tensor x = randn(xs).to(dt);
      g.set_weight(m.weight);
      g.set_bias(m.bias);
      const Tensor y = m(x).to(kFloat32), yg = g(x).to(kFloat32);
      if (std::string(m.plan_algorithm()) != "winograd") continue;
      ++winograd;
      const Tensor x32 = x.to(kFloat32), w32 = m.weight.to(kFloat32), b32 = m.bias.to(kFloat32);
      const double auto_err = sampled_error(s, x32, w32, b32, y), gemm_err = sampled_error(s, x32, w32, b32, yg);
      std::printf("%-26s %-9s auto (winograd) %10.3e  gemm %10.3e  ratio %5.2f\n", s.name.c_str(), dtype_name(dt), auto_err,
                  gemm_err, auto_err / gemm_err);
      EXPECT_LE(auto_err, 2 * gemm_err) << s.name << " " << dtype_name(dt);
    }
  EXPECT_GE(winograd, 4);  // (the bench has such layers)
}

}  // namespace
}  // namespace convkit::test
