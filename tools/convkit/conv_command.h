// `convkit conv` and `convkit conv-transpose`: options, their translation into convolution
// arguments, and the run (forward and, with --grad-output, the gradients).
// Shared by the tool and the CLI fuzz target, so the fuzzer exercises the real path.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "convkit/spec.h"

namespace convkit::tool {

struct ConvCommand {
  std::string input, weight, bias, weights, key, output;
  std::string stride = "1", padding = "0", dilation = "1";
  int64_t groups = 1;
  std::string padding_mode = "zeros", conv_mode = "cross_correlation", compute_mode = "default";
  std::string weight_layout = "torch";
  int threads = 0;  // 0: the library default (OMP_NUM_THREADS or every core)
  std::string grad_output, grad_input, grad_weight, grad_bias;  // gradient files (.npy)
  bool transposed = false;                                      // conv-transpose
  std::string output_padding = "0", output_size;                // conv-transpose only
};

/// "a,b,,c" -> {"a", "b", "", "c"}.
std::vector<std::string> split(const std::string& s, char sep);

/// Registers the options of `convkit conv` (or, with transposed, `convkit conv-transpose`)
/// on `sub`, writing into `c`.
void add_conv_options(CLI::App& sub, ConvCommand& c, bool transposed = false);

/// Parses the string-valued options into the spec of a (transposed, for conv-transpose)
/// convolution of spatial rank `dim`. Throws convkit::ArgumentError naming the option and the
/// value on anything malformed.
ConvSpec spec_from(const ConvCommand& c, int64_t dim);

/// Loads the files, computes the output and the requested gradients, then writes each file
/// (atomically; nothing is written when anything fails before). Throws convkit::FileError for
/// a file that cannot be read or written or is malformed, convkit::ArgumentError otherwise.
void run_conv(const ConvCommand& c);

/// The fuzzed path, shared by fuzz/cli_fuzz.cc and the corpus replay test: NUL-separated
/// `convkit conv` arguments through CLI11, spec_from, output_shape() validation for small
/// tensors of each spatial rank and, when the output is tiny, the convolution itself.
/// convkit::Error and CLI11 errors are the expected outcomes and are swallowed. `app` must
/// have been set up with add_conv_options(app, c); it is cleared and reused (building a new
/// App per input would dominate a fuzzing run).
void exercise_conv_arguments(const std::string& nul_separated, CLI::App& app, ConvCommand& c);

}  // namespace convkit::tool
