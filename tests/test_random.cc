// PyTorch-identical random numbers: the shared spec's vectors and PyTorch-recorded sequences
// (tests/golden/gen_rng_golden.py), bit for bit, on every ISA the CPU has.
#include <bit>
#include <random>

#include "kernels/rng/rng.h"
#include "test_util.h"

namespace convkit::test {
namespace {

using nlohmann::json;

const json& load(const char* file) {
  static std::map<std::string, json> cache;
  auto it = cache.find(file);
  if (it == cache.end()) {
    std::ifstream f(std::string(CONVKIT_GOLDEN_DIR) + "/" + file);
    if (!f) throw std::runtime_error(std::string("cannot open ") + file);
    it = cache.emplace(file, json::parse(f)).first;
  }
  return it->second;
}

// IEEE bit patterns of a float32/float64 (or complex, as re, im pairs) tensor.
std::vector<uint64_t> bit_patterns(const Tensor& t) {
  std::vector<uint64_t> out;
  const Tensor c = t.contiguous();
  const bool f32 = t.dtype() == kFloat32 || t.dtype() == kComplex64;
  const int64_t n = t.numel() * (is_complex(t.dtype()) ? 2 : 1);
  for (int64_t i = 0; i < n; ++i) {
    if (f32) out.push_back(std::bit_cast<uint32_t>(static_cast<const float*>(c.data_ptr())[i]));
    else out.push_back(std::bit_cast<uint64_t>(static_cast<const double*>(c.data_ptr())[i]));
  }
  return out;
}

std::vector<uint64_t> parse_hex(const json& list) {
  std::vector<uint64_t> v;
  for (const auto& s : list) v.push_back(std::stoull(s.get<std::string>(), nullptr, 16));
  return v;
}

template <std::size_t D>
Tensor conv_param(const json& op) {
  const auto k = op[4].is_array() ? nn::ExpandingArray<D>(op[4].get<std::vector<int64_t>>())
                                  : nn::ExpandingArray<D>(op[4].get<int64_t>());
  nn::ConvNdImpl<D> m(nn::ConvOptions<D>(op[2], op[3], k).groups(op[5]).bias(op[6].get<bool>()).dtype(
      op[7].get<std::string>()));
  return op[8] == "weight" ? m.weight : m.bias;
}

// Runs one op of gen_rng_golden.py's little language on the default generator.
Tensor run_op(const json& op) {
  const std::string kind = op[0];
  if (kind == "conv") {
    switch (op[1].get<int>()) {
      case 1: return conv_param<1>(op);
      case 2: return conv_param<2>(op);
      default: return conv_param<3>(op);
    }
  }
  const Shape shape = op[1].get<Shape>();
  const DType dt = dtype_from_name(op[2]);
  if (kind == "randn") return randn(shape, dt);
  if (kind == "rand") return rand(shape, dt);
  if (kind == "uniform") return Tensor::empty(shape, dt).uniform_(op[3], op[4]);
  if (kind == "normal") return Tensor::empty(shape, dt).normal_(op[3], op[4]);
  if (kind == "normal_t") {
    Tensor t = Tensor::empty({shape[1], shape[0]}, dt).transpose(0, 1);
    t.normal_(op[3], op[4]);
    return t;
  }
  throw std::runtime_error("unknown op " + kind);
}

class RngSequence : public ::testing::TestWithParam<std::size_t> {};

TEST_P(RngSequence, MatchesPyTorchBits) {
  const json& c = load("rng_golden.json").at("cases")[GetParam()];
  manual_seed(c.at("seed").get<uint64_t>());
  Tensor out;
  for (const auto& op : c.at("ops")) out = run_op(op);
  EXPECT_EQ(bit_patterns(out), parse_hex(c.at("bits")));
}

INSTANTIATE_TEST_SUITE_P(Torch, RngSequence, ::testing::Range<std::size_t>(0, 137),
                         [](const ::testing::TestParamInfo<std::size_t>& info) {
                           std::string n = load("rng_golden.json").at("cases")[info.param].at("name");
                           for (char& ch : n)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

TEST(RngSequence, CaseCountMatchesTheFile) { EXPECT_EQ(load("rng_golden.json").at("cases").size(), 137u); }

// The spec's own vectors (spec/torch-rng-vectors.json, copied into tests/golden). Every key
// must be handled: an unknown one fails, so no vector is skipped silently.
TEST(RngVectors, EverySpecVectorMatches) {
  const json& vectors = load("torch-rng-vectors.json").at("vectors");
  int checked = 0;
  for (const auto& [key, entry] : vectors.items()) {
    SCOPED_TRACE(key);
    const json& v = entry.contains("avx2") ? entry.at("avx2") : entry.at("value");
    auto seed_of = [&](const std::string& k) {
      const auto p = k.find("seed=") + 5;
      return std::stoull(k.substr(p, k.find('/', p) - p));
    };
    std::vector<uint64_t> got;
    if (key.rfind("random32/", 0) == 0) {
      Generator g(seed_of(key));
      for (int i = 0; i < 8; ++i) got.push_back(g.random());
      std::vector<uint64_t> want;
      for (const auto& x : v.at("values")) want.push_back(x.get<uint64_t>());
      EXPECT_EQ(got, want);
    } else if (key.rfind("random64/", 0) == 0) {
      Generator g(seed_of(key));
      for (int i = 0; i < 4; ++i) got.push_back(g.random64());
      EXPECT_EQ(got, v.at("values").get<std::vector<uint64_t>>());
    } else {
      Tensor t;
      const DType dt = dtype_from_name(v.at("dtype"));
      const int64_t n = v.at("shape").get<Shape>().at(0);
      if (key.rfind("rand/", 0) == 0) {
        manual_seed(seed_of(key));
        t = rand({n}, dt);
      } else if (key.rfind("uniform_(-0.5,2.0)/", 0) == 0) {
        manual_seed(seed_of(key));
        t = Tensor::empty({n}, dt).uniform_(-0.5, 2.0);
      } else if (key.rfind("randn/", 0) == 0) {
        manual_seed(seed_of(key));
        t = randn({n}, dt);
      } else if (key == "notebook/seed=666/randn(2,2,5)") {
        manual_seed(666);
        t = randn({2, 2, 5});
      } else if (key == "notebook/Conv1d(2,2,3,bias=False).weight") {
        manual_seed(666);
        randn({2, 2, 5});
        t = nn::Conv1d(nn::Conv1dOptions(2, 2, 3).bias(false)).weight;
      } else if (key.rfind("conv/", 0) == 0) {
        manual_seed(seed_of(key));
        Tensor w, b;
        if (key.find("Conv1d(16,33,3)") != std::string::npos) {
          nn::Conv1d m(nn::Conv1dOptions(16, 33, 3));
          w = m.weight, b = m.bias;
        } else if (key.find("Conv2d(3,8,3)") != std::string::npos) {
          nn::Conv2d m(nn::Conv2dOptions(3, 8, 3));
          w = m.weight, b = m.bias;
        } else if (key.find("Conv2d(32,32,3,groups=32)") != std::string::npos) {
          nn::Conv2d m(nn::Conv2dOptions(32, 32, 3).groups(32));
          w = m.weight, b = m.bias;
        } else if (key.find("Conv2d(4,6,(2,3),groups=2)") != std::string::npos) {
          nn::Conv2d m(nn::Conv2dOptions(4, 6, {2, 3}).groups(2));
          w = m.weight, b = m.bias;
        } else if (key.find("Conv2d(4,4,3,dtype=float64)") != std::string::npos) {
          nn::Conv2d m(nn::Conv2dOptions(4, 4, 3).dtype(kFloat64));
          w = m.weight, b = m.bias;
        } else {
          ADD_FAILURE() << "unhandled conv vector";
          continue;
        }
        t = (key.find("/weight") != std::string::npos ? w : b).reshape({-1}).slice(0, 0, n);
      } else {
        ADD_FAILURE() << "unhandled vector key";
        continue;
      }
      EXPECT_EQ(bit_patterns(t), parse_hex(v.at("bits")));
    }
    ++checked;
  }
  EXPECT_EQ(checked, 33);
}

TEST(Generator, SeedsWrapAndOnlyLow32BitsSeedTheEngine) {
  Generator a(uint64_t{666}), b(uint64_t{4294967296ULL + 666});
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(a.random(), b.random());
  manual_seed(static_cast<uint64_t>(int64_t{-1}));
  EXPECT_EQ(initial_seed(), 18446744073709551615ULL);
  Generator c(5489);
  uint32_t w = 0;
  for (int i = 0; i < 10000; ++i) w = c.random();
  EXPECT_EQ(w, 4123659995u);  // the standard MT19937 check value
  EXPECT_EQ(Generator().initial_seed(), 67280421310721ULL);
}

TEST(Generator, ExplicitGeneratorLeavesTheDefaultAlone) {
  manual_seed(3);
  const auto expected = bit_patterns(randn({20}));
  manual_seed(3);
  Generator mine(99);
  randn({50}, kFloat32, &mine);
  rand({7}, kFloat64, &mine);
  EXPECT_EQ(bit_patterns(randn({20})), expected);
  Generator again(99);
  EXPECT_EQ(bit_patterns(randn({50}, kFloat32, &again)), [] {
    Generator g(99);
    return bit_patterns(randn({50}, kFloat32, &g));
  }());
}

TEST(Generator, ManualSeedClearsTheCachedNormal) {
  manual_seed(8);
  const auto first = bit_patterns(randn({1}, kFloat64));
  manual_seed(8);
  randn({1}, kFloat64);  // leaves a cached value
  manual_seed(8);
  EXPECT_EQ(bit_patterns(randn({1}, kFloat64)), first);
}

TEST(Generator, BadArgumentsAreErrors) {
  Tensor t = Tensor::empty({4});
  EXPECT_THROW(t.uniform_(2.0, 1.0), Error);
  EXPECT_THROW(t.uniform_(-1e39, 1e39), Error);  // not finite in float32
  EXPECT_THROW(t.normal_(0.0, -1.0), Error);
}

TEST(Generator, HalfDtypesAreDrawnInFloat32AndRounded) {
  for (DType t : {kFloat16, kBFloat16}) {
    manual_seed(4);
    const Tensor expect = randn({37}).to(t);
    manual_seed(4);
    EXPECT_TRUE(bitwise_equal(randn({37}, t), expect));
  }
}

// Every ISA's kernels give the scalar kernels' bits, over a million inputs.
TEST(RngKernels, EveryIsaMatchesScalarBits) {
  int count = 0;
  const kernels::RngKernels* ks = kernels::rng_kernel_list(&count);
  std::mt19937 gen(1);
  const std::size_t n = 1 << 20;
  std::vector<uint32_t> words(2 * n);
  for (auto& w : words) w = static_cast<uint32_t>(gen());
  words[0] = 0;  // the edges of [0, 1)
  words[1] = 0xffffffffu;
  words[2] = 0xffffffffu;
  std::vector<float> f32_expect(n), uniforms(n);
  std::vector<double> f64_expect(n);
  ks[0].uniform_f32(words.data(), f32_expect.data(), n - 3, -0.3f, 0.7f);  // odd n: vector tails
  ks[0].uniform_f64(words.data(), f64_expect.data(), n - 3, -0.3, 0.7);
  ks[0].uniform_f32(words.data(), uniforms.data(), n, 0.0f, 1.0f);
  std::vector<float> normal_expect = uniforms;
  ks[0].normal_f32(normal_expect.data(), static_cast<int64_t>(n / 16), 0.25f, 1.5f);
  int tested = 0;
  for (int i = 1; i < count; ++i) {
    if (ks[i].isa > internal::detected_isa()) continue;
    SCOPED_TRACE(ks[i].isa_name);
    std::vector<float> f32(n);
    std::vector<double> f64(n);
    ks[i].uniform_f32(words.data(), f32.data(), n - 3, -0.3f, 0.7f);
    ks[i].uniform_f64(words.data(), f64.data(), n - 3, -0.3, 0.7);
    EXPECT_EQ(std::memcmp(f32.data(), f32_expect.data(), n * sizeof(float)), 0);
    EXPECT_EQ(std::memcmp(f64.data(), f64_expect.data(), n * sizeof(double)), 0);
    std::vector<float> normal = uniforms;
    ks[i].normal_f32(normal.data(), static_cast<int64_t>(n / 16), 0.25f, 1.5f);
    EXPECT_EQ(std::memcmp(normal.data(), normal_expect.data(), n * sizeof(float)), 0);
    ++tested;
  }
  if (internal::detected_isa() >= internal::Isa::Fma3) {
    EXPECT_GE(tested, 1);
  }
}

TEST(Generator, BulkWordsEqualSingleDraws) {
  for (int64_t n : {1, 623, 624, 625, 2000}) {
    Generator a(11), b(11);
    a.random();  // start mid-block
    b.random();
    std::vector<uint32_t> bulk(static_cast<std::size_t>(n));
    a.fill_words(bulk.data(), n);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(bulk[static_cast<std::size_t>(i)], b.random()) << n << " " << i;
    EXPECT_EQ(a.random(), b.random());
  }
}

}  // namespace
}  // namespace convkit::test

namespace convkit::test {
namespace {

// MegEngine's initialization: weight ~ N(0, 1/fan_in) with fan_in over ALL input channels
// (C_in * prod(K), not per group), bias zeros.
TEST(MegEngineInit, NormalWithFanInOverAllChannelsAndZeroBias) {
  manual_seed(21);
  nn::Conv2d m(nn::Conv2dOptions(64, 128, 3).groups(4).init("megengine"));
  manual_seed(21);
  Tensor expect = Tensor::empty({128, 16, 3, 3});
  expect.normal_(0.0, std::sqrt(1.0 / (64 * 9)));
  EXPECT_TRUE(bitwise_equal(m.weight, expect));
  for (double b : m.bias.to_vector()) EXPECT_EQ(b, 0.0);
  // The sample's spread is the intended one: std 1/sqrt(576) = 0.0417 over 18432 draws.
  double ss = 0;
  for (double w : m.weight.to_vector()) ss += w * w;
  EXPECT_NEAR(std::sqrt(ss / static_cast<double>(m.weight.numel())), 1.0 / 24.0, 0.001);
  EXPECT_THROW(nn::Conv1d(nn::Conv1dOptions(2, 2, 3).init("keras")), Error);
}

TEST(ResetParameters, RedrawsFromTheGivenGenerator) {
  nn::Conv1d m(nn::Conv1dOptions(4, 4, 3));
  Generator a(77), b(77);
  m.reset_parameters(&a);
  const Tensor w1 = m.weight.clone();
  m.reset_parameters(&b);
  EXPECT_TRUE(bitwise_equal(m.weight, w1));
  manual_seed(77);
  nn::Conv1d fresh(nn::Conv1dOptions(4, 4, 3));
  EXPECT_TRUE(bitwise_equal(fresh.weight, w1));  // same stream as the default generator
}

}  // namespace
}  // namespace convkit::test
