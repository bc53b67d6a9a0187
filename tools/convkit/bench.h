// `convkit bench`: times convkit's float32 forward, input gradient and weight gradient on the
// layer shapes of a CSV file (and on built-in ConvTranspose layers), checks each against the
// reference (and oneDNN when built with -DCONVKIT_BENCH_ONEDNN=ON), and reports ms, GFLOP/s,
// % of the FMA peak, speed ratios to oneDNN and the plan's extra memory.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <istream>
#include <string>
#include <vector>

#include "convkit/tensor.h"

namespace convkit::tool {

/// What a benchmark row computes: the layer's forward, its input gradient (backward data) or
/// its weight gradient (backward weights, with the bias gradient).
enum class BenchDirection { fwd, bwd_data, bwd_weights };

/// "fwd", "bwd_data", "bwd_weights".
const char* direction_name(BenchDirection d);

/// A comma-separated list of direction names ("fwd,bwd_data"), in the given order, repeats
/// dropped. Throws convkit::ArgumentError naming an unknown or empty value.
std::vector<BenchDirection> parse_directions(const std::string& s);

/// The element types the bench times: a comma-separated list of f32, bf16, f16, f64 (or float32,
/// bfloat16, float16, float64), in the given order, repeats dropped. Throws convkit::ArgumentError
/// naming an unknown or empty value (and the complex types, not timed yet).
std::vector<DType> parse_bench_dtypes(const std::string& s);
/// "f32", "bf16", "f16", "f64".
const char* bench_dtype_name(DType t);

/// The memory formats the bench times: a comma-separated list of nchw (planar) and nhwc
/// (channels-last), in the given order, repeats dropped; true for nhwc. Throws
/// convkit::ArgumentError naming an unknown or empty value.
std::vector<bool> parse_bench_layouts(const std::string& s);

/// One line of shapes.csv, or a built-in ConvTranspose layer:
///   name,N,C_in,C_out,spatial,kernel,stride,padding,dilation,groups
/// where spatial..dilation are "AxB" (2-d), "A" (1-d) or "AxBxC" (3-d), all of one rank.
struct BenchShape {
  std::string name;
  int line = 0;  // 1-based line in the file, for messages
  int64_t n = 0, c_in = 0, c_out = 0, groups = 1;
  Shape spatial, kernel, stride, padding, dilation;
  /// A ConvTranspose layer: c_in, c_out and spatial are its own (the input's) and the weight is
  /// (C_in, C_out/groups, *K). output_padding is used only then (empty: zeros).
  bool transposed = false;
  Shape output_padding;

  std::size_t dim() const { return spatial.size(); }
  /// PyTorch's output size per spatial dim: (S + 2p - d(k-1) - 1) / s + 1, or for a
  /// transposed layer (S - 1) s - 2p + d(k-1) + output_padding + 1.
  Shape out_spatial() const;
  /// Multiply-adds of one forward (the same for either gradient): N * C_out * prod(S_out) *
  /// (C_in/groups) * prod(K); for a transposed layer those of its matching_conv().
  double macs() const;
  /// For a transposed layer, the convolution whose input gradient it computes: C_in and C_out
  /// swapped, spatial = out_spatial(), the same kernel, stride, padding, dilation and groups
  /// (its weight has the transposed layer's shape). A plain layer returns itself.
  BenchShape matching_conv() const;
};

/// The ConvTranspose layers of `convkit bench --direction` (not in shapes.csv):
/// dcgan_g2_deconv, unet_up2_deconv, hifigan_up1_deconv (docs/bench.md).
std::vector<BenchShape> builtin_transposed_shapes();

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
/// Element `flat` (row-major over [N, C_in, *S]) of the input gradient of the (not
/// transposed) layer s for the output gradient dy [N, C_out, *S_out], in double precision.
double point_grad_input(const BenchShape& s, const float* dy, const float* w, int64_t flat);
/// Element `flat` (row-major over [C_out, C_in/groups, *K]) of the weight gradient of the
/// (not transposed) layer s for input x and output gradient dy, in double precision.
double point_grad_weight(const BenchShape& s, const float* x, const float* dy, int64_t flat);

/// The data of one benchmark layer, in the layer's own terms (for a transposed layer too):
/// x its input (N, C_in, *S), w its weight, b its bias (C_out), dy a gradient of its output
/// (N, C_out, *S_out; undefined when only the forward runs). All contiguous, of one dtype.
struct BenchData {
  Tensor x, w, b, dy;
  /// The same data as t (float32 is exact for every bench dtype).
  BenchData to(DType t) const;
  /// The same data with x and dy channels-last (2-d: NHWC memory, viewed as NCHW).
  BenchData channels_last() const;
};

struct BenchCommand {
  std::string shapes;  // empty: ../shared/bench/shapes.csv, then /work/shared/bench/shapes.csv
  std::string threads = "1,2";
  double min_time = 0.3;
  std::string csv, plot, filter;
  /// Empty: forward only, shapes.csv only. Given: these directions, and the built-in
  /// ConvTranspose layers join the shapes.
  std::string direction;
  /// The element types timed (parse_bench_dtypes): data, weights and results all of that type.
  std::string dtype = "f32";
  /// The memory formats timed (parse_bench_layouts): nhwc runs the 2-d shapes on channels-last
  /// input and output gradient, against oneDNN's nhwc path and its best layout.
  std::string layout = "nchw";
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
