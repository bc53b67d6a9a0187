// Value conversions between the six element types and the accumulator types.
// Rules (PyTorch's): real -> complex puts the value in the real part; complex -> real keeps
// the real part; double -> float16/bfloat16 goes through float (as c10 does).
#pragma once

#include <complex>
#include <type_traits>

#include "convkit/dtype.h"

namespace convkit::internal {

template <typename T> struct is_complex_t : std::false_type {};
template <typename T> struct is_complex_t<std::complex<T>> : std::true_type {};

/// Widens a stored element to a computation type: Half/BFloat16 -> float, others as is.
template <typename T> struct compute_type { using type = T; };
template <> struct compute_type<Half> { using type = float; };
template <> struct compute_type<BFloat16> { using type = float; };

template <typename To, typename From>
To cast_value(const From& v) {
  if constexpr (std::is_same_v<To, From>) {
    return v;
  } else if constexpr (is_complex_t<From>::value) {
    if constexpr (is_complex_t<To>::value) {
      return To(static_cast<typename To::value_type>(v.real()),
                static_cast<typename To::value_type>(v.imag()));
    } else {
      return cast_value<To>(v.real());
    }
  } else if constexpr (std::is_same_v<From, Half> || std::is_same_v<From, BFloat16>) {
    return cast_value<To>(static_cast<float>(v));
  } else if constexpr (is_complex_t<To>::value) {
    return To(static_cast<typename To::value_type>(v), 0);
  } else if constexpr (std::is_same_v<To, Half> || std::is_same_v<To, BFloat16>) {
    return To(static_cast<float>(v));
  } else {
    return static_cast<To>(v);
  }
}

}  // namespace convkit::internal
