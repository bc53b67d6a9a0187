// Kernel code shared by every ISA file of the rng family: plain C++ that each rng_<isa>.cc
// includes and compiles with its own flags (with -mfma, std::fma becomes one instruction;
// the bits are the same either way). Only rng_<isa>.cc files include this header.
#pragma once

#include <cmath>
#include <cstdint>

// The anonymous namespace gives each including file its own copy: the files are compiled for
// different ISAs, and one shared (inline) definition would let the linker pick any of them.
namespace convkit::kernels::rng_common {
namespace {

// §3.3: Box-Muller over chunks of 16 doubles, glibc's log/cos/sin.
inline void normal_f64_c16(double* data, int64_t chunks, double mean, double std) {
  constexpr double kTwoPi = 2.0 * 3.14159265358979323846;
  for (int64_t c = 0; c < chunks; ++c) {
    double* d = data + 16 * c;
    // All radii first: the log -> sqrt latency then overlaps the sin/cos calls below.
    double radius[8];
    for (int j = 0; j < 8; ++j) radius[j] = std::sqrt(-2.0 * std::log(1.0 - d[j]));
    for (int j = 0; j < 8; ++j) {
      const double theta = kTwoPi * d[j + 8];
      d[j] = std::fma(radius[j] * std::cos(theta), std, mean);
      d[j + 8] = std::fma(radius[j] * std::sin(theta), std, mean);
    }
  }
}

inline uint32_t mt_twist_one(uint32_t u, uint32_t v) {
  return (((u & 0x80000000u) | (v & 0x7fffffffu)) >> 1) ^ ((v & 1u) ? 0x9908b0dfu : 0u);
}

inline uint32_t mt_temper_one(uint32_t y) {
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= y >> 18;
  return y;
}

}  // namespace
}  // namespace convkit::kernels::rng_common
