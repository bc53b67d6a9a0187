// The differential check behind the conv fuzz target: bytes choose a convolution (rank,
// shapes, every argument, dtype, ISA cap, threads, algorithm, special values) and the result
// of the chosen algorithm is compared with a float64 direct convolution of the same values.
// The unit tests replay the checked-in corpus through the same function.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace convkit::fuzz {

/// "" when the case passes (or is refused with convkit::Error by both the reference and the
/// chosen algorithm, or by a forced algorithm that cannot compute it); otherwise what
/// differed, with the case.
///
/// Tolerance model, per output i with A_i = sum |w| |x| + |b| over its terms (in float64) and
/// K terms: |y_i - exact_i| <= c * ((K + 2) * u_acc * A_i + u_out * |exact_i|) + c * (K + 2) * tiny,
/// u_acc the unit roundoff of the accumulator (float32's 2^-24 for float32, float16 and
/// bfloat16; 2^-53 for float64), u_out the output dtype's, tiny its smallest subnormal. c = 1 for
/// direct paths (the worst case of any summation order), 2 for complex, 64 for the plans that
/// chose Winograd
/// (transforms scale terms by up to ~10 per dim), where A_i is the largest A of the output's
/// (image, channel) plane (a tile mixes the inputs of its whole window). NaN, +inf and -inf must match exactly in
/// place and class, and the result must be bitwise the same for 1 and 2 threads.
std::string conv_differential(const uint8_t* data, std::size_t size);

}  // namespace convkit::fuzz
