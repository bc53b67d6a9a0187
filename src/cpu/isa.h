// Instruction-set levels convkit has kernels for, CPU detection and the CONVKIT_MAX_ISA cap.
#pragma once

#include <cstddef>

namespace convkit::internal {

/// Ordered: a CPU that runs a level runs every level below it.
/// Amx: AVX-512 plus the AMX tiles with bfloat16 dot products (and the OS's permission to use
/// them); only bfloat16 kernels use the tiles, every float32 kernel stays AVX-512.
enum class Isa { Scalar = 0, Fma3 = 1, Avx512 = 2, Amx = 3 };

const char* name_of(Isa isa);
/// The highest level this CPU supports.
Isa detected_isa();
/// min(detected_isa(), CONVKIT_MAX_ISA): what kernels may use. CONVKIT_MAX_ISA takes
/// scalar, fma3 (alias avx2), avx512 or amx; any other value is a convkit::Error.
Isa max_isa();

/// The last entry of a kernel list (ordered lowest ISA first, each entry with an `isa`
/// member) that runs at or below `cap`; entry 0 must be the portable one.
template <typename Entry, std::size_t N>
const Entry& best_at_or_below(const Entry (&list)[N], Isa cap) {
  const Entry* best = &list[0];
  for (const auto& e : list)
    if (e.isa <= cap) best = &e;
  return *best;
}

}  // namespace convkit::internal
