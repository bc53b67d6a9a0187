// Element types: the six dtypes convkit stores, with portable float16/bfloat16 conversions
// (round to nearest even, the same bits on every CPU).
#pragma once

#include <bit>
#include <complex>
#include <cstdint>
#include <string>
#include <utility>

#include "convkit/export.h"
#include "convkit/error.h"

namespace convkit {

/// The element types: float32 (the default), float64, float16, bfloat16, complex64, complex128.
enum class DType : uint8_t { Float32, Float64, Float16, BFloat16, Complex64, Complex128 };

inline constexpr DType kFloat32 = DType::Float32;  ///< DType::Float32
inline constexpr DType kFloat64 = DType::Float64;  ///< DType::Float64
inline constexpr DType kFloat16 = DType::Float16;  ///< DType::Float16
inline constexpr DType kBFloat16 = DType::BFloat16;  ///< DType::BFloat16
inline constexpr DType kComplex64 = DType::Complex64;  ///< DType::Complex64
inline constexpr DType kComplex128 = DType::Complex128;  ///< DType::Complex128

/// IEEE 754 binary16, stored as bits. Converts to/from float exactly as PyTorch's c10::Half.
struct Half {
  uint16_t bits = 0;  ///< sign, 5 exponent bits, 10 mantissa bits
  Half() = default;
  /// f rounded to the nearest half (ties to even; beyond the range: infinity).
  Half(float f) : bits(from_float(f)) {}  // NOLINT: implicit like c10::Half
  /// The exact float value.
  operator float() const { return to_float(bits); }

  /// The bits of f rounded to the nearest half, ties to even.
  static uint16_t from_float(float f) {
    const uint32_t x = std::bit_cast<uint32_t>(f);
    const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
    const uint32_t a = x & 0x7fffffffu;
    if (a > 0x7f800000u) return sign | 0x7e00u;  // NaN stays a (quiet) NaN
    if (a >= 0x477ff000u) return sign | 0x7c00u;  // >= 65520 rounds to infinity
    const int e = static_cast<int>(a >> 23) - 127;
    if (e >= -14) {  // normal half: drop 13 mantissa bits, round half to even
      const uint32_t mant = a & 0x7fffffu;
      uint32_t h = (static_cast<uint32_t>(e + 15) << 10) | (mant >> 13);
      const uint32_t rem = mant & 0x1fffu;
      if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // carry may reach the exponent: correct
      return static_cast<uint16_t>(sign | h);
    }
    // Subnormal half: the value in units of 2^-24 is m * 2^(e+1), m the 24-bit significand.
    const int shift = -(e + 1);
    if (shift > 24) return sign;
    const uint32_t m = (a & 0x7fffffu) | 0x800000u;
    uint32_t h = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1u);
    const uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (h & 1u))) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  /// The float whose value the half bits h hold (exact).
  static float to_float(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1fu;
    const uint32_t mant = h & 0x3ffu;
    if (exp == 0) {  // zero or subnormal: mant * 2^-24 is exact in float
      const float v = static_cast<float>(mant) * 0x1p-24f;
      return sign ? -v : v;
    }
    if (exp == 31) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));
    return std::bit_cast<float>(sign | ((exp + 112u) << 23) | (mant << 13));
  }
};

/// bfloat16 (the top 16 bits of a float32), rounded to nearest even like c10::BFloat16.
struct BFloat16 {
  uint16_t bits = 0;  ///< the top 16 bits of the float32
  BFloat16() = default;
  /// f rounded to the nearest bfloat16 (ties to even).
  BFloat16(float f) : bits(from_float(f)) {}  // NOLINT: implicit like c10::BFloat16
  /// The exact float value.
  operator float() const { return to_float(bits); }

  /// The bits of f rounded to the nearest bfloat16, ties to even (NaN stays a NaN).
  static uint16_t from_float(float f) {
    const uint32_t x = std::bit_cast<uint32_t>(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return 0x7fc0u;
    return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
  }
  /// The float whose top half is b.
  static float to_float(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }
};

using complex64 = std::complex<float>;    ///< the element type of DType::Complex64
using complex128 = std::complex<double>;  ///< the element type of DType::Complex128

/// Size in bytes of one element.
inline int64_t element_size(DType t) {
  switch (t) {
    case DType::Float32: return 4;
    case DType::Float64: return 8;
    case DType::Float16: return 2;
    case DType::BFloat16: return 2;
    case DType::Complex64: return 8;
    case DType::Complex128: return 16;
  }
  return 0;
}

/// True for complex64 and complex128.
inline bool is_complex(DType t) { return t == DType::Complex64 || t == DType::Complex128; }

/// "float32", "complex64", ... (the names PyTorch and NumPy use).
inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Float16: return "float16";
    case DType::BFloat16: return "bfloat16";
    case DType::Complex64: return "complex64";
    case DType::Complex128: return "complex128";
  }
  return "?";
}

/// Parses a dtype name ("float32", "float", "half", "double", ...); throws naming the six.
CONVKIT_API DType dtype_from_name(const std::string& name);

/// dtype_of<T>::value: the DType of the C++ element type T (float, double, Half, BFloat16,
/// complex64, complex128).
template <typename T> struct dtype_of;
/// @cond SPECIALIZATIONS
template <> struct dtype_of<float> { static constexpr DType value = DType::Float32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::Float64; };
template <> struct dtype_of<Half> { static constexpr DType value = DType::Float16; };
template <> struct dtype_of<BFloat16> { static constexpr DType value = DType::BFloat16; };
template <> struct dtype_of<complex64> { static constexpr DType value = DType::Complex64; };
template <> struct dtype_of<complex128> { static constexpr DType value = DType::Complex128; };
/// @endcond

/// Calls f(T{}) with T the C++ element type of `t` (float, double, Half, BFloat16,
/// complex64, complex128): the one place a runtime dtype becomes a compile-time type.
template <typename F>
decltype(auto) visit_dtype(DType t, F&& f) {
  switch (t) {
    case DType::Float32: return std::forward<F>(f)(float{});
    case DType::Float64: return std::forward<F>(f)(double{});
    case DType::Float16: return std::forward<F>(f)(Half{});
    case DType::BFloat16: return std::forward<F>(f)(BFloat16{});
    case DType::Complex64: return std::forward<F>(f)(complex64{});
    case DType::Complex128: return std::forward<F>(f)(complex128{});
  }
  throw ArgumentError("invalid dtype value " + std::to_string(static_cast<int>(t)) +
                      ": expected one of the six DType enumerators");
}

}  // namespace convkit
