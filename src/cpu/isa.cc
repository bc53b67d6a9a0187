#include "cpu/isa.h"

#include <cstdlib>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "convkit/error.h"

namespace convkit::internal {

const char* name_of(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Fma3: return "fma3";
    case Isa::Avx512: return "avx512";
  }
  return "?";
}

Isa detected_isa() {
#if defined(__x86_64__) || defined(__i386__)
  static const Isa isa = [] {
    __builtin_cpu_init();
    // F16C too (the 16-bit dtypes' conversions): every AVX2 CPU has it, but it is checked, not assumed.
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & bit_F16C) != 0;
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma") || !f16c) return Isa::Scalar;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
      return Isa::Avx512;
    return Isa::Fma3;
  }();
  return isa;
#else
  return Isa::Scalar;
#endif
}

Isa max_isa() {
  const char* env = std::getenv("CONVKIT_MAX_ISA");
  const Isa cpu = detected_isa();
  if (env == nullptr || env[0] == '\0') return cpu;
  const std::string s = env;
  Isa cap;
  if (s == "scalar") cap = Isa::Scalar;
  else if (s == "fma3" || s == "avx2") cap = Isa::Fma3;
  else if (s == "avx512") cap = Isa::Avx512;
  else
    throw ArgumentError("CONVKIT_MAX_ISA='" + s + "' is not a known level: expected scalar, fma3 (or avx2) or avx512");
  return cap < cpu ? cap : cpu;
}

}  // namespace convkit::internal
