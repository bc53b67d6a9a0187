// Algorithm choice: one small pure function from ConvParams to an algorithm and the reason.
// CONVKIT_VERBOSE=1 prints every choice to stderr.
#pragma once

#include "conv/params.h"

namespace convkit::internal {

enum class Algorithm { Reference };

struct AlgorithmChoice {
  Algorithm algorithm;
  const char* reason;
};

const char* name_of(Algorithm a);

/// Picks the algorithm for p. Pure: the same params always give the same answer.
AlgorithmChoice select_algorithm(const ConvParams& p);

/// Prints the choice to stderr when the environment has CONVKIT_VERBOSE=1.
void log_choice(const ConvParams& p, const AlgorithmChoice& c);

}  // namespace convkit::internal
