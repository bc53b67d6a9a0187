#include "cpu/isa.h"

#include <cstdlib>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "convkit/error.h"

namespace convkit::internal {

const char* name_of(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Fma3: return "fma3";
    case Isa::Avx512: return "avx512";
    case Isa::Amx: return "amx";
  }
  return "?";
}

namespace {

#if defined(__x86_64__)
// AMX-TILE and AMX-BF16 (CPUID 7.0:EDX bits 24 and 22), the tile state enabled in XCR0 (bits
// 17, 18), and Linux's per-process permission for the tile data, asked for once.
bool amx_usable() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return false;
  if ((edx & (1u << 24)) == 0 || (edx & (1u << 22)) == 0) return false;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0 || (ecx & (1u << 27)) == 0) return false;  // OSXSAVE
  unsigned lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  if ((lo & (3u << 17)) != (3u << 17)) return false;
#if defined(__linux__)
  constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}
#endif

}  // namespace

Isa detected_isa() {
#if defined(__x86_64__) || defined(__i386__)
  static const Isa isa = [] {
    __builtin_cpu_init();
    // F16C too (the 16-bit dtypes' conversions): every AVX2 CPU has it, but it is checked, not assumed.
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & bit_F16C) != 0;
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma") || !f16c) return Isa::Scalar;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")) {
#if defined(__x86_64__)
      if (amx_usable()) return Isa::Amx;
#endif
      return Isa::Avx512;
    }
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
  else if (s == "amx") cap = Isa::Amx;
  else
    throw ArgumentError("CONVKIT_MAX_ISA='" + s +
                        "' is not a known level: expected scalar, fma3 (or avx2), avx512 or amx");
  return cap < cpu ? cap : cpu;
}

}  // namespace convkit::internal
