// Tensor: dtypes and their conversions, views and strides, creation, printing (vs PyTorch).
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <numeric>
#include <random>

#include "test_util.h"

namespace convkit::test {
namespace {

// Independent oracle for float -> half: the nearest of all finite halves (ties to the even
// bit pattern), found by search over the sorted table rather than by bit manipulation.
uint16_t nearest_half(float f) {
  static const std::vector<std::pair<double, uint16_t>> table = [] {
    std::vector<std::pair<double, uint16_t>> t;
    for (uint32_t h = 0; h < 0x7c00; ++h) {  // positive finite halves
      const int e = static_cast<int>(h >> 10), m = static_cast<int>(h & 0x3ff);
      const double v = e == 0 ? std::ldexp(m, -24) : std::ldexp(1024 + m, e - 25);
      t.emplace_back(v, static_cast<uint16_t>(h));
    }
    return t;
  }();
  const double a = std::fabs(static_cast<double>(f));
  const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  if (a >= 65520.0) return sign | 0x7c00;  // beyond max + half an ulp: infinity
  auto it = std::lower_bound(table.begin(), table.end(), std::make_pair(a, uint16_t{0}));
  if (it == table.end()) return sign | 0x7bff;
  if (it == table.begin() || it->first == a) return sign | it->second;
  auto lo = it - 1;
  const double dlo = a - lo->first, dhi = it->first - a;
  if (dlo < dhi) return sign | lo->second;
  if (dhi < dlo) return sign | it->second;
  return sign | ((lo->second & 1) ? it->second : lo->second);
}

TEST(Dtype, HalfRoundTripsEveryPattern) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = Half::to_float(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(Half::to_float(Half::from_float(f))));
      continue;
    }
    ASSERT_EQ(Half::from_float(f), h) << "pattern " << h;
  }
}

TEST(Dtype, HalfRoundsToNearestEven) {
  std::mt19937 gen(7);
  std::vector<float> values = {0.f, -0.f, 1.f, 65504.f, 65519.f, 65520.f, 1e-8f, 2.9802322e-8f,
                               5.9604645e-8f, 8.940697e-8f, 6.1035156e-5f, 6.097555e-5f, 1.0009766f,
                               1.0004883f, 1.0014648f, INFINITY, -INFINITY};
  std::uniform_real_distribution<float> mag(-30.f, 17.f);
  for (int i = 0; i < 200000; ++i) values.push_back((i & 1 ? -1.f : 1.f) * std::exp2(mag(gen)));
  for (float f : values) ASSERT_EQ(Half::from_float(f), nearest_half(f)) << f;
}

TEST(Dtype, BFloat16RoundsToNearestEven) {
  EXPECT_EQ(BFloat16::from_float(1.0f), 0x3f80);
  // 1 + 2^-8 is exactly between 1 and 1 + 2^-7: ties to even (1.0).
  EXPECT_EQ(BFloat16::from_float(1.0f + 0x1p-8f), 0x3f80);
  EXPECT_EQ(BFloat16::from_float(1.0f + 0x1p-8f + 0x1p-16f), 0x3f81);
  EXPECT_EQ(BFloat16::from_float(1.0f + 3 * 0x1p-8f), 0x3f82);  // tie, odd below: up
  EXPECT_TRUE(std::isnan(BFloat16::to_float(BFloat16::from_float(NAN))));
  std::mt19937 gen(3);
  std::uniform_real_distribution<float> d(-100.f, 100.f);
  for (int i = 0; i < 10000; ++i) {
    const float f = d(gen);
    const float r = BFloat16::to_float(BFloat16::from_float(f));
    EXPECT_LE(std::fabs(r - f), std::fabs(f) * 0x1p-8f);
  }
}

TEST(Dtype, NamesParseAndErrorsNameTheSix) {
  EXPECT_EQ(dtype_from_name("float16"), kFloat16);
  EXPECT_EQ(dtype_from_name("complex128"), kComplex128);
  try {
    dtype_from_name("int8");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("int8"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("bfloat16"), std::string::npos);
  }
}

TEST(Tensor, StorageIsAlignedAndShaped) {
  for (DType t : {kFloat32, kFloat64, kFloat16, kBFloat16, kComplex64, kComplex128}) {
    Tensor a = Tensor::zeros({3, 5, 7}, t);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(a.data_ptr()) % 64, 0u);
    EXPECT_EQ(a.numel(), 105);
    EXPECT_EQ(a.strides(), (Shape{35, 7, 1}));
    EXPECT_TRUE(a.is_contiguous());
    EXPECT_EQ(a.dtype(), t);
  }
}

TEST(Tensor, CreationFromNestedValues) {
  Tensor t = tensor({{1, 2, 3}, {4, 5, 6}});
  EXPECT_EQ(t.sizes(), (Shape{2, 3}));
  EXPECT_EQ(t.dtype(), kFloat32);
  EXPECT_EQ(t.to_vector(), (std::vector<double>{1, 2, 3, 4, 5, 6}));
  Tensor c = tensor({std::complex<double>(1, 2), 3.0});
  EXPECT_EQ(c.dtype(), kComplex128);
  EXPECT_EQ(c.to_complex_vector()[0], std::complex<double>(1, 2));
  EXPECT_THROW(tensor({{1, 2}, {3}}), Error);
  EXPECT_EQ(tensor(2.5).dim(), 0);
}

TEST(Tensor, ViewsShareStorageAndCopiesDoNot) {
  Tensor a = Tensor::arange(24).view({2, 3, 4});
  Tensor t = a.transpose(1, 2);  // [2, 4, 3]
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_EQ(t.sizes(), (Shape{2, 4, 3}));
  EXPECT_EQ(t.select(0, 1).select(0, 2).to_vector(), (std::vector<double>{14, 18, 22}));
  Tensor s = a.slice(2, 1, 4, 2);  // last dim: 1, 3
  EXPECT_EQ(s.sizes(), (Shape{2, 3, 2}));
  EXPECT_EQ(s.to_vector()[0], 1);
  EXPECT_EQ(s.to_vector()[1], 3);
  EXPECT_EQ(s.to_vector().back(), 23);
  Tensor c = t.contiguous();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_EQ(c.to_vector(), t.to_vector());
  a.data<float>()[0] = 100;  // visible through views, not through the copy
  EXPECT_EQ(t.to_vector()[0], 100);
  EXPECT_EQ(c.to_vector()[0], 0);
  EXPECT_EQ(a.permute({2, 0, 1}).sizes(), (Shape{4, 2, 3}));
  EXPECT_EQ(a.unsqueeze(0).sizes(), (Shape{1, 2, 3, 4}));
  EXPECT_EQ(a.unsqueeze(0).squeeze(0).sizes(), (Shape{2, 3, 4}));
  EXPECT_EQ(a.reshape({6, -1}).sizes(), (Shape{6, 4}));
  EXPECT_EQ(t.reshape({-1}).to_vector(), t.contiguous().to_vector());
  EXPECT_EQ(Tensor::arange(4).view({2, 2}).flip({1}).to_vector(), (std::vector<double>{1, 0, 3, 2}));
  EXPECT_THROW(t.view({24}), Error);
  EXPECT_THROW(a.view({5, -1}), Error);
  EXPECT_THROW(a.size(3), Error);
  EXPECT_THROW(a.permute({0, 0, 1}), Error);
}

TEST(Tensor, CopiesAndClonesKeepEveryElement) {
  // Dense tensors of one dtype copy their bytes; any other pair copies element by element:
  // both against the values arange wrote.
  std::vector<double> want(37 * 5);
  std::iota(want.begin(), want.end(), 0.0);
  for (DType d : {kFloat32, kFloat64, kFloat16, kComplex64}) {
    SCOPED_TRACE(dtype_name(d));
    const Tensor a = Tensor::arange(37 * 5).to(d).view({37, 5});
    EXPECT_EQ(a.clone().to_vector(), want);
    Tensor b = Tensor::zeros({37, 5}, d);
    b.copy_(a);
    EXPECT_EQ(b.to_vector(), want);
    b.copy_(b);  // onto itself
    EXPECT_EQ(b.to_vector(), want);
    Tensor f = Tensor::zeros({37, 5}, kFloat64);
    f.copy_(a);  // across dtypes
    EXPECT_EQ(f.to_vector(), want);
    Tensor t = Tensor::zeros({5, 37}, d);
    t.copy_(a.transpose(0, 1));  // a strided source
    EXPECT_EQ(t.transpose(0, 1).contiguous().to_vector(), want);
  }
  Tensor e = Tensor::zeros({0, 3});
  EXPECT_EQ(e.copy_(Tensor::zeros({0, 3})).numel(), 0);
}

TEST(Tensor, CopiesBetweenChannelsLastAndContiguousKeepEveryElement) {
  // The transposing copy (float32, per image) in both directions: every element where its
  // indices say, for channel and position counts that are not multiples of 16, several images
  // and dims of size 1; other dtypes take the element loop, with the same values.
  Generator gen(5);
  for (const Shape& s : {Shape{2, 19, 5, 7}, Shape{1, 33, 1, 17}, Shape{3, 1, 4, 4}, Shape{2, 40, 3, 1}}) {
    for (DType t : {kFloat32, kFloat64}) {
      const Tensor x = randn(s, kFloat32, &gen).to(t);
      const Tensor cl = x.permute({0, 2, 3, 1}).contiguous().permute({0, 3, 1, 2});  // channels-last memory
      const Tensor back = cl.contiguous();
      EXPECT_TRUE(back.is_contiguous());
      EXPECT_EQ(back.to_vector(), x.to_vector()) << shape_str(s);
      Tensor into = Tensor::empty({s[0], s[2], s[3], s[1]}, t).permute({0, 3, 1, 2});
      into.copy_(x);
      EXPECT_EQ(into.to_vector(), x.to_vector()) << shape_str(s);
      EXPECT_EQ(std::memcmp(into.const_data_ptr(), cl.const_data_ptr(), static_cast<std::size_t>(x.numel() * x.element_size())), 0)
          << shape_str(s);
    }
  }
}

TEST(Tensor, BorrowedMemory) {
  float buf[6] = {1, 2, 3, 4, 5, 6};
  Tensor b = Tensor::from_blob(buf, {2, 3}, kFloat32);
  EXPECT_FALSE(b.owns_memory());
  EXPECT_EQ(b.data<float>(), buf);
  buf[4] = 50;
  EXPECT_EQ(b.to_vector()[4], 50);
  Tensor col = Tensor::from_blob(buf, {3, 2}, kFloat32, {1, 3});  // column-major view
  EXPECT_EQ(col.to_vector(), (std::vector<double>{1, 4, 2, 50, 3, 6}));
  EXPECT_THROW(Tensor::from_blob(nullptr, {2}, kFloat32), Error);
  EXPECT_THROW(b.data<double>(), Error);
}

TEST(Tensor, DtypeConversions) {
  Tensor a = tensor({1.5, -2.25, 65519.0});
  EXPECT_EQ(a.to(kFloat16).to_vector(), (std::vector<double>{1.5, -2.25, 65504.0}));
  EXPECT_EQ(a.to(kComplex64).to_complex_vector()[1], std::complex<double>(-2.25, 0));
  Tensor c = tensor({std::complex<double>(1, 2)}, kComplex64);
  EXPECT_EQ(c.to(kFloat64).item(), 1.0);  // complex -> real keeps the real part
}

// Dense float32 <-> float16 / bfloat16 copies run the conversion kernels, strided ones the
// element loop (dtype.h's rules): the same bits for ties, overflow, subnormals, NaN payloads and
// random patterns, both ways, under every ISA cap.
TEST(Tensor, DenseAndStridedConversionsGiveTheSameBits) {
  std::mt19937 rng(7);
  std::vector<uint32_t> bits = {0x7f800000u, 0xff800000u, 0x7fc00000u, 0x7f800001u, 0xffbfffffu, 0x00000001u,
                                0x807fffffu, 0x3f808000u, 0x3f818000u, 0x477fefffu, 0x477ff000u, 0x33000001u};
  while (bits.size() < 2000) bits.push_back(static_cast<uint32_t>(rng()));
  Tensor f = Tensor::empty({static_cast<int64_t>(bits.size())}, kFloat32);
  std::memcpy(f.data<float>(), bits.data(), bits.size() * 4);
  // The same values as every other element of a twice as long tensor: a strided view.
  Tensor f2 = Tensor::zeros({2 * f.numel()}, kFloat32);
  for (int64_t i = 0; i < f.numel(); ++i) f2.data<float>()[2 * i] = f.const_data<float>()[i];
  const Tensor strided = f2.view({f.numel(), 2}).select(1, 0);
  ASSERT_FALSE(strided.is_contiguous());
  for (internal::Isa isa : isas()) {
    IsaCap cap(isa);
    for (DType dt : {kFloat16, kBFloat16}) {
      SCOPED_TRACE(std::string(dtype_name(dt)) + " " + internal::name_of(isa));
      const Tensor dense = f.to(dt), loop = strided.to(dt);
      EXPECT_TRUE(bitwise_equal(dense, loop));
      Tensor loop16 = Tensor::zeros({2 * f.numel()}, dt);
      loop16.view({f.numel(), 2}).select(1, 0).copy_(dense);
      EXPECT_TRUE(bitwise_equal(dense.to(kFloat32), loop16.view({f.numel(), 2}).select(1, 0).to(kFloat32)));
      EXPECT_TRUE(bitwise_equal(dense.to(kFloat32), loop16.view({f.numel(), 2}).select(1, 0).contiguous().to(kFloat32)));
    }
  }
}

TEST(Tensor, OverflowingShapesAreRejectedBeforeAllocation) {
  const int64_t big = int64_t{1} << 40;
  EXPECT_THROW(Tensor::empty({big, big}), Error);
  EXPECT_THROW(Tensor::empty({int64_t{1} << 61}, kComplex128), Error);
  EXPECT_THROW(Tensor::empty({-1, 3}), Error);
  try {
    Tensor::empty({big, big, big});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("64 bits"), std::string::npos) << e.what();
  }
}

TEST(TensorPrint, MatchesPyTorch) {
  int n = 0;
  for (const auto& c : golden().at("print_cases")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    const DType dt = dtype_from_name(c.at("dtype"));
    const Tensor t = tensor_from_json(c, dt);
    EXPECT_EQ(t.to_string(), c.at("text").get<std::string>());
    ++n;
  }
  EXPECT_GE(n, 25);
}

TEST(TensorPrint, NonContiguousPrintsLogicalOrder) {
  Tensor a = tensor({{1, 2}, {3, 4}});
  EXPECT_EQ(a.transpose(0, 1).to_string(), "tensor([[1., 3.],\n        [2., 4.]])");
}

}  // namespace
}  // namespace convkit::test

namespace convkit::test {
namespace {

// Found by fuzz_npy: an empty shape whose non-zero sizes multiply past 64 bits.
TEST(Tensor, EmptyShapesWithHugeSizesAreFine) {
  const Tensor t = Tensor::empty({3709551615, 0, 8000000, 15, 4000000, 16});
  EXPECT_EQ(t.numel(), 0);
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(t.contiguous().numel(), 0);
  // And with the zero first (found by fuzz_npy too): strides checked from the last dim.
  const Tensor u = Tensor::empty({0, 0, 140000000000001, 30001, 6});
  EXPECT_TRUE(u.is_contiguous());
}

// The storage cache (src/core/storage.cc). AddressSanitizer builds keep nothing, so that
// every use after free is still reported there.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kStorageCache = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kStorageCache = false;
#else
constexpr bool kStorageCache = true;
#endif
#else
constexpr bool kStorageCache = true;
#endif

TEST(Storage, LargeBuffersAreReusedWarm) {
  release_cached_memory();
  ASSERT_EQ(cached_memory_bytes(), 0);
  const int64_t n = 1 << 18;  // 1 MiB of float32
  const void* first = nullptr;
  {
    Tensor t = Tensor::full({n}, 1.0, kFloat32);
    first = t.data_ptr();
  }
  if (!kStorageCache) {
    EXPECT_EQ(cached_memory_bytes(), 0);
    return;
  }
  EXPECT_EQ(cached_memory_bytes(), n * 4);
  // The same size gets the same block back, and zeros() clears what the last tensor left.
  Tensor again = Tensor::zeros({n}, kFloat32);
  EXPECT_EQ(again.data_ptr(), first);
  EXPECT_EQ(cached_memory_bytes(), 0);
  const float* v = again.data<float>();
  EXPECT_TRUE(std::all_of(v, v + n, [](float x) { return x == 0.0f; }));
  again = Tensor();
  // A block more than twice a request's size is not handed out for it; one up to twice is.
  Tensor small = Tensor::empty({n / 2 - 1024}, kFloat32);
  EXPECT_NE(small.data_ptr(), first);
  Tensor half = Tensor::empty({n / 2}, kFloat32);
  EXPECT_EQ(half.data_ptr(), first);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(half.data_ptr()) % 64, 0u);
  release_cached_memory();
}

TEST(Storage, CacheIsBoundedAndReleased) {
  release_cached_memory();
  // Below 32 KiB nothing is kept.
  { Tensor t = Tensor::empty({(1 << 13) - 16}, kFloat32); }
  EXPECT_EQ(cached_memory_bytes(), 0);
  // 40 freed blocks of 8 MiB: at most 256 MiB stay.
  {
    std::vector<Tensor> ts;
    for (int i = 0; i < 40; ++i) ts.push_back(Tensor::empty({int64_t{1} << 21}, kFloat32));
  }
  EXPECT_LE(cached_memory_bytes(), int64_t{256} << 20);
  if (kStorageCache) {
    EXPECT_EQ(cached_memory_bytes(), int64_t{256} << 20);
  }
  release_cached_memory();
  EXPECT_EQ(cached_memory_bytes(), 0);
}

}  // namespace
}  // namespace convkit::test
