// Helpers shared by the tests: golden-file loading and tolerance comparisons.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "convkit/convkit.h"
#include "cpu/isa.h"

namespace convkit::test {

/// tests/golden/<file>, parsed.
inline nlohmann::json load_golden(const std::string& file) {
  std::ifstream f(std::string(CONVKIT_GOLDEN_DIR) + "/" + file);
  if (!f) throw std::runtime_error("cannot open tests/golden/" + file);
  return nlohmann::json::parse(f);
}

inline const nlohmann::json& golden() {
  static const nlohmann::json j = load_golden("conv_golden.json");
  return j;
}

inline double json_number(const nlohmann::json& v) {
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
    if (s == "inf") return std::numeric_limits<double>::infinity();
    if (s == "-inf") return -std::numeric_limits<double>::infinity();
    throw std::runtime_error("bad number string " + s);
  }
  return v.get<double>();
}

/// {"shape": [...], "data": [...]} -> Tensor; complex data is interleaved re, im.
inline Tensor tensor_from_json(const nlohmann::json& j, DType dtype) {
  const Shape shape = j.at("shape").get<Shape>();
  const auto& data = j.at("data");
  if (is_complex(dtype)) {
    std::vector<std::complex<double>> v;
    for (std::size_t i = 0; i + 1 < data.size(); i += 2) v.emplace_back(json_number(data[i]), json_number(data[i + 1]));
    return Tensor::from_values(v, shape, dtype);
  }
  std::vector<double> v;
  for (const auto& x : data) v.push_back(json_number(x));
  return Tensor::from_values(v, shape, dtype);
}

/// Sets o.padding from a golden case's {"kind": "explicit"|"pairs"|"same"|..., "values": ...}.
template <typename Options>
void apply_padding(Options& o, const nlohmann::json& pad) {
  const std::string kind = pad.at("kind");
  if (kind == "explicit") {
    o.padding(pad.at("values").get<std::vector<int64_t>>());
  } else if (kind == "pairs") {
    std::vector<std::pair<int64_t, int64_t>> pairs;
    for (const auto& p : pad.at("values")) pairs.emplace_back(p[0].get<int64_t>(), p[1].get<int64_t>());
    o.padding(pairs);
  } else {
    o.padding(kind);
  }
}

/// Relative tolerance per dtype for results computed with a different summation order.
inline double dtype_tolerance(DType t) {
  switch (t) {
    case DType::Float32: case DType::Complex64: return 3e-5;
    case DType::Float64: case DType::Complex128: return 1e-12;
    case DType::Float16: return 2e-3;
    case DType::BFloat16: return 1.6e-2;
  }
  return 0;
}

/// Every element: |a - b| <= tol * (1 + |b|). Reports the first few mismatches.
inline ::testing::AssertionResult all_close(const Tensor& a, const Tensor& b, double tol) {
  if (a.sizes() != b.sizes())
    return ::testing::AssertionFailure() << "shape " << shape_str(a.sizes()) << " vs " << shape_str(b.sizes());
  const auto va = a.to_complex_vector(), vb = b.to_complex_vector();
  int bad = 0;
  std::ostringstream msg;
  for (std::size_t i = 0; i < va.size(); ++i) {
    const double err = std::abs(va[i] - vb[i]);
    if (!(err <= tol * (1 + std::abs(vb[i])))) {
      if (bad++ < 5) msg << " [" << i << "] " << va[i] << " vs " << vb[i];
    }
  }
  if (bad) return ::testing::AssertionFailure() << bad << " of " << va.size() << " elements differ:" << msg.str();
  return ::testing::AssertionSuccess();
}

/// Bitwise equality of values (NaNs compare by bits too).
inline ::testing::AssertionResult bitwise_equal(const Tensor& a, const Tensor& b) {
  if (a.sizes() != b.sizes() || a.dtype() != b.dtype())
    return ::testing::AssertionFailure() << "shape/dtype differ";
  const Tensor ca = a.contiguous(), cb = b.contiguous();
  if (std::memcmp(ca.data_ptr(), cb.data_ptr(), static_cast<std::size_t>(ca.numel() * ca.element_size())) != 0)
    return ::testing::AssertionFailure() << "values differ";
  return ::testing::AssertionSuccess();
}

/// f() on 1, 2 and 3 threads (the thread count restored after): the first result is checked
/// against an oracle, the others against it bit for bit.
inline std::vector<Tensor> at_one_two_three_threads(const std::function<Tensor()>& f) {
  const int before = get_num_threads();
  std::vector<Tensor> runs(3);
  for (int n = 1; n <= 3; ++n) {
    set_num_threads(n);
    runs[static_cast<std::size_t>(n - 1)] = f();
  }
  set_num_threads(before);
  return runs;
}

/// Sets CONVKIT_MAX_ISA for the scope (plans pick kernels when they are made).
struct IsaCap {
  explicit IsaCap(internal::Isa isa) { setenv("CONVKIT_MAX_ISA", internal::name_of(isa), 1); }
  ~IsaCap() { unsetenv("CONVKIT_MAX_ISA"); }
};

/// Every ISA this CPU runs, scalar first; not Amx, whose cap differs from Avx512's only for
/// bfloat16 (its tests add it).
inline std::vector<internal::Isa> isas() {
  std::vector<internal::Isa> v{internal::Isa::Scalar};
  if (internal::detected_isa() >= internal::Isa::Fma3) v.push_back(internal::Isa::Fma3);
  if (internal::detected_isa() >= internal::Isa::Avx512) v.push_back(internal::Isa::Avx512);
  return v;
}

/// f must throw the error kind E (convkit::ArgumentError or convkit::FileError) whose message
/// contains every part; the same exception must also be a convkit::Error and a std::exception
/// with that message.
template <typename E>
void expect_error_of(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no error raised; expected one mentioning " << parts.at(0);
  } catch (const E& e) {
    const Error& base = e;
    const std::exception& std_base = e;
    EXPECT_STREQ(base.what(), std_base.what());
    const std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "an error of the wrong kind: " << e.what();
  }
}

}  // namespace convkit::test
