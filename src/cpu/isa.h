// Instruction-set levels convkit has kernels for, CPU detection and the CONVKIT_MAX_ISA cap.
#pragma once

namespace convkit::internal {

/// Ordered: a CPU that runs a level runs every level below it.
enum class Isa { Scalar = 0, Fma3 = 1, Avx512 = 2 };

const char* name_of(Isa isa);
/// The highest level this CPU supports.
Isa detected_isa();
/// min(detected_isa(), CONVKIT_MAX_ISA): what kernels may use. CONVKIT_MAX_ISA takes
/// scalar, fma3 (alias avx2) or avx512; any other value is a convkit::Error.
Isa max_isa();

}  // namespace convkit::internal
