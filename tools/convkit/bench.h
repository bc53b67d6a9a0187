// `convkit bench`: times convkit's float32 forward on the layer shapes of a CSV file, checks
// it against the reference (and oneDNN when built with -DCONVKIT_BENCH_ONEDNN=ON), and reports
// ms, GFLOP/s, % of the FMA peak, speed ratios to oneDNN and the plan's extra memory.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <istream>
#include <string>
#include <vector>

#include "convkit/tensor.h"

namespace convkit::tool {

/// One line of shapes.csv:
///   name,N,C_in,C_out,spatial,kernel,stride,padding,dilation,groups
/// where spatial..dilation are "AxB" (2-d), "A" (1-d) or "AxBxC" (3-d), all of one rank.
struct BenchShape {
  std::string name;
  int line = 0;  // 1-based line in the file, for messages
  int64_t n = 0, c_in = 0, c_out = 0, groups = 1;
  Shape spatial, kernel, stride, padding, dilation;

  std::size_t dim() const { return spatial.size(); }
  /// PyTorch's output size per spatial dim: (S + 2p - d(k-1) - 1) / s + 1.
  Shape out_spatial() const;
  /// Multiply-adds of one forward: N * C_out * prod(S_out) * (C_in/groups) * prod(K).
  double macs() const;
};

/// s without leading and trailing blanks (spaces, tabs, CR).
std::string trim(const std::string& s);

/// Parses shapes.csv text; `source` names the file in messages. Throws convkit::FileError
/// naming the line and the field on anything malformed. Blank lines and lines starting with '#' are
/// skipped.
std::vector<BenchShape> parse_shapes(std::istream& in, const std::string& source);

/// Output element `flat` (row-major over [N, C_out, *S_out]) of the shape's layer (zero
/// padding, cross-correlation) in double precision, straight from the definition. x: [N, C_in,
/// *S], w: [C_out, C_in/groups, *K], b: [C_out] or null, all contiguous.
double point_value(const BenchShape& s, const float* x, const float* w, const float* b, int64_t flat);

struct BenchCommand {
  std::string shapes;  // empty: ../shared/bench/shapes.csv, then /work/shared/bench/shapes.csv
  std::string threads = "1,2";
  double min_time = 0.3;
  std::string csv, plot, filter;
  bool no_check = false;
};

/// Registers the options of `convkit bench` on `sub`, writing into `c`.
void add_bench_options(CLI::App& sub, BenchCommand& c);

/// Runs the benchmark. Returns the exit status: 0, or 1 when any output failed its check or
/// convkit failed on a shape. Throws convkit::ArgumentError on bad arguments, convkit::FileError on an unreadable or
/// malformed shapes file or a failed --csv / --plot write.
int run_bench(const BenchCommand& c);

// bench_peak.cc: the FMA peak, GFLOP/s summed over `threads` concurrent threads (best of 10,
// per thread CPU time so that time slices lost to other processes do not count).
/// AVX-512 FMA chains when the CPU has them, else AVX2 FMA, else scalar multiply-adds.
double peak_gflops(int threads);
/// The ISA peak_gflops() measures.
const char* peak_probe_isa();

}  // namespace convkit::tool
