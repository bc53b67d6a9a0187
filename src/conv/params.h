// ConvParams: the canonical, validated description of one convolution call.
//
// Every public entry point (modules, functional, later the CLI) turns its arguments into
// ConvArgs, and make_conv_params() checks them against the tensors' shapes and dtypes with
// PyTorch-worded errors, resolves 'same'/'valid'/'causal'/pairs into (lo, hi) per dim, and
// computes the output shape. Everything downstream trusts a ConvParams.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "convkit/nn/options/conv.h"
#include "convkit/spec.h"
#include "convkit/tensor.h"

namespace convkit::internal {

/// Spatial-rank-agnostic arguments, as the user gave them.
struct ConvArgs {
  int64_t dim = 2;  // spatial rank d: 1, 2 or 3
  Shape stride, dilation;
  nn::PaddingKind padding_kind = nn::PaddingKind::Explicit;
  Shape pad_lo, pad_hi;  // for Explicit and Pairs
  int64_t groups = 1;
  PaddingMode padding_mode = PaddingMode::Zeros;
  ConvMode conv_mode = ConvMode::CrossCorrelation;
  ComputeMode compute_mode = ComputeMode::Default;
  std::string device = "cpu";
  Algorithm algorithm = Algorithm::Auto;
};

/// Checks a spec's list lengths and expands them to ConvArgs (every public entry, the
/// rank-specific options through ConvSpec::from). An ArgumentError for a transposed spec.
ConvArgs conv_args(const ConvSpec& spec);

/// Which tensor of a convolution y = conv(x, w) + b a plan computes. A transposed
/// convolution is the backward_data of its matching convolution (the transposed layer's input
/// is that convolution's grad_output, its output the convolution's input).
enum class Direction { Forward, BackwardData, BackwardWeights };
const char* name_of(Direction d);  // "forward", "backward_data", "backward_weights"

/// The geometry of one convolution y[N, C_out, *S_out] = conv(x[N, C_in, *S_in], w[C_out,
/// C_in/groups, *K]) + b, and which of its tensors is computed. Every direction describes the
/// same forward convolution; only `direction` and the meaning of `has_bias` change.
struct ConvParams {
  Direction direction = Direction::Forward;
  bool transposed = false;  // a transposed layer (BackwardData): names it in messages and logs
  int64_t dim = 0;       // spatial rank d
  bool batched = true;   // false: the input was (C, *S) and the output drops N too
  int64_t N = 0, C_in = 0, C_out = 0, groups = 1;
  Shape in_size;         // S_in, d entries
  Shape kernel;          // K, d entries
  Shape stride, dilation;
  Shape pad_lo, pad_hi;  // resolved, d entries each
  Shape out_size;        // S_out, d entries
  PaddingMode padding_mode = PaddingMode::Zeros;
  ConvMode conv_mode = ConvMode::CrossCorrelation;
  ComputeMode compute_mode = ComputeMode::Default;
  DType dtype = kFloat32;
  /// Forward: b[C_out] is added to y. BackwardData: b[C_in] is added to the computed x (a
  /// transposed convolution's bias). BackwardWeights: grad_bias[C_out] is computed too.
  bool has_bias = false;

  int64_t c_in_per_group() const { return C_in / groups; }
  int64_t c_out_per_group() const { return C_out / groups; }
  /// Output positions per image and channel, prod(S_out).
  int64_t positions() const {
    int64_t P = 1;
    for (int64_t s : out_size) P *= s;
    return P;
  }
  /// (N, C_out, *S_out), always batched (the caller drops N for unbatched input).
  Shape output_shape() const;
  /// The canonical weight shape (C_out, C_in/groups, *K).
  Shape weight_shape() const;
};

/// The spatial geometry lifted to 3 dims (D, H, W) by prepending size-1 dims, so loops over
/// any rank are written once: 1-d is (1, 1, L), 2-d is (1, H, W).
struct Lifted {
  int64_t S[3], K[3], O[3], st[3], dl[3], lo[3];
  /// Taps of the kernel, prod(K).
  int64_t taps() const { return K[0] * K[1] * K[2]; }
  /// The extent of lifted dim d that the outputs' windows read, padding included.
  int64_t read_extent(int d) const { return (O[d] - 1) * st[d] + (K[d] - 1) * dl[d] + 1; }
};
Lifted lift3(const ConvParams& p);

/// "conv1d", "conv2d", "conv3d".
std::string op_name(int64_t dim);
/// "conv2d", "conv2d backward_data", "conv_transpose2d", ...: the operation p computes.
std::string op_label(const ConvParams& p);
/// "(1, 2)", "(3,)": an argument tuple as Python prints it, for messages.
std::string tuple_str(const Shape& s);

/// Reshapes a MegEngine grouped weight (groups, C_out/g, C_in/g, *K) to PyTorch's
/// (C_out, C_in/g, *K); returns PyTorch-layout weights unchanged. Errors name both forms.
Tensor canonical_weight(const Tensor& w, int64_t dim, int64_t groups);
/// Accepts bias (C_out) or MegEngine's (1, C_out, 1, ...); returns (C_out).
Tensor canonical_bias(const Tensor& b, int64_t dim);

/// Validates x, w (canonical layout) and b (canonical or undefined) against args.
ConvParams make_conv_params(const Tensor& x, const Tensor& w, const Tensor& b, const ConvArgs& args);

/// A transposed convolution's arguments: its padding crops the full transposed output (lo at
/// the start, hi at the end of each dim) and output_padding then extends the end.
struct TransposeArgs {
  int64_t dim = 2;
  Shape stride, dilation, pad_lo, pad_hi, output_padding;
  nn::PaddingKind padding_kind = nn::PaddingKind::Explicit;  // only Explicit and Pairs are valid
  int64_t groups = 1;
  PaddingMode padding_mode = PaddingMode::Zeros;              // only Zeros is valid
  std::string device = "cpu";
  Algorithm algorithm = Algorithm::Auto;
};

/// As conv_args, for a transposed spec; output_size is not applied (see transpose_args_for).
TransposeArgs transpose_args(const ConvSpec& spec);
/// transpose_args with the spec's output_size, if any, turned into output_padding for input x
/// and weight w (checked with PyTorch's messages).
TransposeArgs transpose_args_for(const ConvSpec& spec, const Tensor& x, const Tensor& w);

/// The checks of a transposed convolution's arguments alone (no tensors), PyTorch's messages.
void check_transpose_args(const TransposeArgs& args);

/// Validates a transposed convolution of x[N, C_in, *S] (or unbatched) with
/// w[C_in, C_out/groups, *K] and b[C_out] or undefined, with PyTorch's messages, and returns
/// the matching convolution's params with direction BackwardData: its input is the transposed
/// output (N, C_out, *S_out), its output the transposed input.
ConvParams make_transpose_params(const Tensor& x, const Tensor& w, const Tensor& b, const TransposeArgs& args);

/// The transposed output sizes for `output_size` (d sizes, or N/C-prefixed ones), checked
/// against the valid range [min, min + stride - 1] with PyTorch's messages, as the
/// output_padding that gives them. `what` is "ConvTranspose2d" etc.
Shape output_padding_for(const Tensor& x, const Shape& output_size, const TransposeArgs& args, const Shape& kernel);

}  // namespace convkit::internal
