// Algorithm choice: one small pure function from ConvParams to an algorithm and the reason.
// CONVKIT_VERBOSE=1 prints every choice to stderr.
#pragma once

#include "conv/params.h"

namespace convkit::internal {

struct AlgorithmChoice {
  Algorithm algorithm;
  const char* reason;
};

/// Why `a` cannot compute p, or nullptr when it can.
const char* unsupported_reason(Algorithm a, const ConvParams& p);

/// Picks the algorithm for p, or validates `forced` (an Error naming why it cannot run p).
/// `winograd` says whether Auto may pick Winograd (allow_fast_winograd(): its float32 error is
/// 5-30x that of direct sums). Pure: the same arguments always give the same answer.
AlgorithmChoice select_algorithm(const ConvParams& p, Algorithm forced = Algorithm::Auto, bool winograd = false);

/// Whether p's backward_data is itself a forward convolution: stride 1, zeros padding and
/// padding within the dilated kernel's reach. Then dX = conv(dY, W') with W' the weight with
/// input and output channels swapped, read back to front, and padding (K - 1) * d - pad.
bool backward_data_is_forward(const ConvParams& p);

/// Prints the choice to stderr when the environment has CONVKIT_VERBOSE=1.
void log_choice(const ConvParams& p, const AlgorithmChoice& c);

}  // namespace convkit::internal
