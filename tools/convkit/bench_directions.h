// `convkit bench`: the data, convkit's calls and the expected results of every row kind — a
// convolution or a transposed convolution (ConvTranspose), in each direction (fwd, bwd_data,
// bwd_weights) — and the check of a row's results against them. The forward of a plain
// convolution is timed through its module in bench.cc; every other row through the
// functional API here.
#pragma once

#include <functional>

#include <cstdint>
#include <string>
#include <vector>

#include "convkit/convkit.h"
#include "tools/convkit/bench.h"

namespace convkit::tool {

template <std::size_t D>
nn::ConvOptions<D> module_options(const BenchShape& s) {
  return nn::ConvOptions<D>(s.c_in, s.c_out, s.kernel)
      .stride(s.stride)
      .padding(s.padding)
      .dilation(s.dilation)
      .groups(s.groups);
}

/// The layer's data from the default generator, in this order: x ~ randn, the weight and bias
/// of PyTorch's default init (the Conv or ConvTranspose module's), then dy ~ randn when
/// with_grad (so the forward's data is the same whether or not gradients run too). float32;
/// the rows of other dtypes round it (BenchData::to).
BenchData make_bench_data(const BenchShape& s, bool with_grad);
/// Runs a few small layers at each thread count (and their gradients with `backward`): the
/// process's one-time costs, paid before any timing.
void warm_up(const std::vector<int>& threads, bool backward);

/// One row's results from convkit's functional API: {y} (fwd, with bias), {grad_input}
/// (bwd_data, output mask {1,0,0}) or {grad_weight, grad_bias} (bwd_weights, mask {0,1,1}).
/// F::convNd / conv_backward for a convolution, F::conv_transposeNd / conv_transpose_backward
/// for a transposed layer. reference: with .algorithm("reference").
std::vector<Tensor> convkit_outputs(const BenchShape& s, BenchDirection dir, const BenchData& data, bool reference);

/// The same results from a ConvPlan, as a module's forward and backward run them: the first
/// call prepares the plan (checks, algorithm choice, weight packing) and runs it, later calls
/// reuse it (and the gradient plans its first backward made). d must outlive the function.
std::function<std::vector<Tensor>()> convkit_prepared(const BenchShape& s, BenchDirection dir, const BenchData& d);

/// Multiply-adds above which the reference loops are too slow to run per (shape, direction):
/// 2e9 for a convolution's forward (as before directions existed), 2e8 for the rest.
double reference_mac_limit(const BenchShape& s, BenchDirection dir);

/// What a row's results are compared with: full tensors (the reference algorithm's, or
/// oneDNN's plain-layout ones for layers too big for the reference), or double-precision
/// values at sampled positions. One part per result tensor.
struct Expected {
  struct Part {
    Shape shape;                 // the result's
    Tensor full;                 // defined: compare every element
    std::vector<int64_t> index;  // else: these flat positions
    std::vector<double> value;
    double max_abs = 0;
  };
  std::string kind = "none";  // none, reference, onednn, sampled
  std::vector<Part> parts;
};

/// kind "reference" or "onednn": every element of `results`.
Expected full_expected(const std::string& kind, const std::vector<Tensor>& results);
/// kind "sampled": 2050 positions of the first result (the first and last element among them)
/// from the definition in double precision; for bwd_weights also every bias gradient.
Expected sampled_expected(const BenchShape& s, BenchDirection dir, const BenchData& data);

/// The check column: "ok" against the reference, "ok(onednn)" / "ok(sampled)", "skipped" when
/// nothing is compared.
std::string check_label(const Expected& e);
/// Empty when every result matches: max |got - want| <= rel_tol * (1 + max |want|) per part.
/// Otherwise the reason. got may be of any real dtype; want is float32 (computed from the same
/// values as got's inputs).
std::string check_outputs(const std::vector<Tensor>& got, const Expected& e, double rel_tol = 1e-4);
/// The rel_tol for results of dtype t: float32's 1e-4, plus the rounding of a 16-bit result.
double check_tolerance(DType t);

}  // namespace convkit::tool
