// PyTorch 1.13.1's CPU generator and its uniform/normal fills, bit for bit
// (spec/torch-rng.md; section numbers below refer to it).
#include "convkit/random.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/cast.h"
#include "cpu/isa.h"
#include "kernels/rng/rng.h"

namespace convkit {

using internal::str_cat;

// ---- §1 the engine ---------------------------------------------------------------------

Generator::Generator() : Generator(67280421310721ULL) {}
Generator::Generator(uint64_t seed) { manual_seed(seed); }

void Generator::manual_seed(uint64_t seed) {
  seed_ = seed;
  mt_[0] = static_cast<uint32_t>(seed);
  for (uint32_t i = 1; i < 624; ++i) mt_[i] = 1812433253u * (mt_[i - 1] ^ (mt_[i - 1] >> 30)) + i;
  left_ = 1;  // the first draw regenerates the block
  next_ = 0;
  cached_normal_.reset();
}

uint64_t Generator::initial_seed() const { return seed_; }

void Generator::regenerate() {
  kernels::rng_kernels(internal::max_isa()).mt_twist(mt_.data());
  left_ = 624;
  next_ = 0;
}

uint32_t Generator::random() {
  if (--left_ == 0) regenerate();
  uint32_t w;
  kernels::rng_kernels(internal::Isa::Scalar).mt_temper(mt_.data() + next_++, &w, 1);
  return w;
}

void Generator::fill_words(uint32_t* out, int64_t n) {
  const auto temper = kernels::rng_kernels(internal::max_isa()).mt_temper;
  while (n > 0) {
    // random() regenerates when left_ would reach 0, so left_ - 1 words are ready.
    if (left_ == 1) {
      regenerate();
      left_ = 625;  // the draw below consumes as random() would: left_ ends at 624 - taken
    }
    const int64_t take = std::min<int64_t>(n, left_ - 1);
    temper(mt_.data() + next_, out, take);
    next_ += static_cast<int>(take);
    left_ -= static_cast<int>(take);
    out += take;
    n -= take;
  }
}

uint64_t Generator::random64() {
  const uint64_t hi = random();
  const uint64_t lo = random();
  return (hi << 32) | lo;
}

Generator& default_generator() {
  static Generator g;
  return g;
}

void manual_seed(uint64_t seed) {
  Generator& g = default_generator();
  std::lock_guard<std::mutex> lock(g.mutex());
  g.manual_seed(seed);
}

uint64_t initial_seed() { return default_generator().initial_seed(); }

namespace {

constexpr double kTwoPi = 2.0 * 3.14159265358979323846;

Generator& gen_or_default(Generator* g) { return g ? *g : default_generator(); }

// §2: a unit uniform from 53 bits (the per-element normal path draws them one at a time).
double unit_f64(Generator& g) { return static_cast<double>(g.random64() & ((uint64_t{1} << 53) - 1)) * 0x1p-53; }

DType real_dtype_of(DType t) {
  switch (t) {
    case DType::Complex64: return kFloat32;
    case DType::Complex128: return kFloat64;
    case DType::Float64: return kFloat64;
    default: return kFloat32;  // float16/bfloat16 are drawn in float32 and rounded
  }
}

// Engine words are drawn in blocks on the stack, so fills allocate nothing and stay in cache.
constexpr int64_t kBlock = 1024;  // a multiple of 16: blocks hold whole normal chunks

// Fills p[0, n) with U[from, to) (§2; the fused multiply-add of the AVX2 build), calling
// `after(start, count)` on each block once it is filled.
template <typename T, typename After>
void uniform_fill(Generator& g, T* p, int64_t n, double from, double to, After&& after) {
  const auto& k = kernels::rng_kernels(internal::max_isa());
  const T f = static_cast<T>(from), t = static_cast<T>(to);
  uint32_t words[2 * kBlock];
  for (int64_t i = 0; i < n; i += kBlock) {
    const int64_t m = std::min(kBlock, n - i);
    if constexpr (std::is_same_v<T, float>) {
      g.fill_words(words, m);
      k.uniform_f32(words, p + i, m, f, t - f);
    } else {
      g.fill_words(words, 2 * m);
      k.uniform_f64(words, p + i, m, f, t - f);
    }
    after(i, m);
  }
}

template <typename T>
void uniform_fill(Generator& g, T* p, int64_t n, double from, double to) {
  uniform_fill(g, p, n, from, to, [](int64_t, int64_t) {});
}

// §3.2: one normal per call, Box-Muller in double with a cached second value.
double normal_one(Generator& g, double mean, double std) {
  double z;
  if (g.cached_normal()) {
    z = *g.cached_normal();
    g.cached_normal().reset();
  } else {
    const double u1 = unit_f64(g);
    const double u2 = unit_f64(g);
    const double r = std::sqrt(-2.0 * std::log(1.0 - u2));
    const double theta = kTwoPi * u1;
    g.cached_normal() = r * std::sin(theta);
    z = r * std::cos(theta);
  }
  return std::fma(z, std, mean);
}

// §3.1: which path, then §3.2-3.5, into a contiguous float32/float64 buffer of n values.
template <typename T>
void normal_fill(Generator& g, T* p, int64_t n, double mean, double std) {
  if (n < 16) {
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(normal_one(g, mean, std));
    return;
  }
  if constexpr (std::is_same_v<T, double>) {
    const auto kernel = kernels::rng_kernels(internal::max_isa()).normal_f64;
    uniform_fill(g, p, n, 0.0, 1.0, [&](int64_t start, int64_t m) { kernel(p + start, m / 16, mean, std); });
    if (n % 16 != 0) {  // the tail window: 16 fresh draws over the last 16 positions
      uniform_fill(g, p + n - 16, 16, 0.0, 1.0);
      kernel(p + n - 16, 1, mean, std);
    }
  } else {
    const auto kernel = kernels::rng_kernels(internal::max_isa()).normal_f32;
    const float fm = static_cast<float>(mean), fs = static_cast<float>(std);
    uniform_fill(g, p, n, 0.0, 1.0, [&](int64_t start, int64_t m) { kernel(p + start, m / 16, fm, fs); });
    if (n % 16 != 0) {
      uniform_fill(g, p + n - 16, 16, 0.0, 1.0);
      kernel(p + n - 16, 1, fm, fs);
    }
  }
}

// Draws into `real` (a contiguous float32/float64 buffer) with `fill`, then stores the values
// into t: directly when t is that buffer, else converted (float16/bfloat16) or paired
// (complex, as PyTorch's view_as_real: re, im interleaved) into t's iteration order.
template <typename Fill>
void fill_via_real(Tensor& t, Fill&& fill) {
  const DType rd = real_dtype_of(t.dtype());
  const bool direct = t.dtype() == rd && t.is_contiguous();
  const int64_t n = t.numel() * (is_complex(t.dtype()) ? 2 : 1);
  Tensor real = direct ? t : Tensor::empty({n}, rd);
  if (rd == kFloat32) fill(static_cast<float*>(internal::mutable_data_ptr(real)), n);
  else fill(static_cast<double*>(internal::mutable_data_ptr(real)), n);
  if (direct) return;
  if (is_complex(t.dtype())) {
    const Shape pair_shape = [&] { Shape s = t.sizes(); s.push_back(2); return s; }();
    const Tensor pairs = real.view(pair_shape);  // [..., 2] -> complex [...]
    Tensor tmp = Tensor::empty(t.sizes(), t.dtype());
    visit_dtype(t.dtype(), [&](auto tag) {
      using C = decltype(tag);
      if constexpr (internal::is_complex_t<C>::value) {
        using R = typename C::value_type;
        const R* r = static_cast<const R*>(pairs.const_data_ptr());
        C* out = static_cast<C*>(internal::mutable_data_ptr(tmp));
        for (int64_t i = 0; i < t.numel(); ++i) out[i] = C(r[2 * i], r[2 * i + 1]);
      }
    });
    t.copy_(tmp);
  } else {
    t.copy_(real.view(t.sizes()));
  }
}

// A view of t whose logical order is t's memory order (dims sorted by decreasing stride):
// PyTorch fills non-contiguous tensors in that order, not in index order.
Tensor memory_order(const Tensor& t) {
  if (t.is_contiguous()) return t;
  std::vector<int64_t> dims(static_cast<std::size_t>(t.dim()));
  for (int64_t i = 0; i < t.dim(); ++i) dims[static_cast<std::size_t>(i)] = i;
  std::stable_sort(dims.begin(), dims.end(), [&](int64_t a, int64_t b) { return t.stride(a) > t.stride(b); });
  return t.permute(dims);
}

}  // namespace

Tensor& Tensor::uniform_(double from, double to, Generator* gen) {
  CONVKIT_CHECK(defined(), "uniform_ called on an undefined tensor");
  CONVKIT_CHECK(from <= to, "uniform_ expects to return a [from, to) range, but found from=", from, " > to=", to);
  const DType rd = real_dtype_of(dtype_);
  if (rd == kFloat32) {
    const float f = static_cast<float>(from), t = static_cast<float>(to);
    CONVKIT_CHECK(std::isfinite(f) && std::isfinite(t) && std::isfinite(t - f),
                  "uniform_ expects to-from <= std::numeric_limits<float>::max(), but found to=", to,
                  " and from=", from, " (bounds and range must be finite in float32)");
  } else {
    CONVKIT_CHECK(std::isfinite(from) && std::isfinite(to) && std::isfinite(to - from),
                  "uniform_ expects to-from <= std::numeric_limits<double>::max(), but found to=", to,
                  " and from=", from);
  }
  Generator& g = gen_or_default(gen);
  std::lock_guard<std::mutex> lock(g.mutex());
  Tensor target = memory_order(*this);
  fill_via_real(target, [&](auto* p, int64_t n) { uniform_fill(g, p, n, from, to); });
  bump_version();
  return *this;
}

Tensor& Tensor::normal_(double mean, double std, Generator* gen) {
  CONVKIT_CHECK(defined(), "normal_ called on an undefined tensor");
  CONVKIT_CHECK(std >= 0.0, "normal expects std >= 0.0, but found std ", std);
  CONVKIT_CHECK(std::isfinite(mean) && std::isfinite(std), "normal_ expects finite mean and std, but got mean=",
                mean, ", std=", std);
  // Complex: real and imaginary parts each get std / sqrt(2) (PyTorch's view_as_real fill).
  const double s = is_complex(dtype_) ? std / std::sqrt(2.0) : std;
  Generator& g = gen_or_default(gen);
  std::lock_guard<std::mutex> lock(g.mutex());
  Tensor target = memory_order(*this);
  if (!is_contiguous() && real_dtype_of(dtype_) == dtype_) {
    // §3.1: non-contiguous tensors take the per-element path, in memory order.
    Tensor tmp = empty(target.sizes(), dtype_);
    visit_dtype(dtype_, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
        T* p = static_cast<T*>(internal::mutable_data_ptr(tmp));
        for (int64_t i = 0; i < numel(); ++i) p[i] = static_cast<T>(normal_one(g, mean, s));
      }
    });
    target.copy_(tmp);
    return *this;
  }
  fill_via_real(target, [&](auto* p, int64_t n) { normal_fill(g, p, n, mean, s); });
  bump_version();
  return *this;
}

Tensor rand(const Shape& shape, DType dtype, Generator* gen) {
  Tensor t = Tensor::empty(shape, dtype);
  t.uniform_(0.0, 1.0, gen);
  return t;
}

Tensor randn(const Shape& shape, DType dtype, Generator* gen) {
  Tensor t = Tensor::empty(shape, dtype);
  t.normal_(0.0, 1.0, gen);
  return t;
}

}  // namespace convkit
