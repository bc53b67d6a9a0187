// convkit::ConvSpec: every argument of one convolution or transposed convolution, for code
// that learns the spatial rank at run time (a command line, a model loader, bindings):
//   convkit::ConvSpec s;
//   s.rank = 2;
//   s.stride = {2};
//   s.padding = convkit::nn::PaddingKind::Same;
//   convkit::Tensor y = convkit::F::conv(x, w, b, s);
// The rank-specific options (F::Conv2dFuncOptions, nn::Conv2dOptions, and the transposed
// ones) convert to it with ConvSpec::from(options).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "convkit/export.h"
#include "convkit/nn/options/conv.h"
#include "convkit/tensor.h"

namespace convkit {

/// The arguments of one convolution (PyTorch's F.convNd, with MegEngine's extras) or one
/// transposed convolution (F.conv_transposeNd), for any spatial rank.
///
/// A list field holds one value (used for every spatial dim, like PyTorch's int) or exactly
/// `rank` values; an empty list means the default. A list of another length is an
/// ArgumentError naming the field, raised when the spec is used.
struct ConvSpec {
  /// Spatial rank: 1 (Conv1d), 2 (Conv2d) or 3 (Conv3d).
  int64_t rank = 2;
  /// A transposed convolution (ConvTransposeNd): the weight is (C_in, C_out/groups, *K).
  bool transposed = false;
  /// Stride per spatial dim (default 1).
  Shape stride;
  /// Spacing between kernel elements (default 1).
  Shape dilation;
  /// How padding is given: Explicit (pad_lo on both sides), Pairs (pad_lo before, pad_hi
  /// after), Valid, Same (any stride) or Causal (rank 1). A transposed convolution takes
  /// Explicit and Pairs only; there the amounts are cropped from its full output.
  nn::PaddingKind padding = nn::PaddingKind::Explicit;
  /// Padding before each dim (Explicit: both sides); default 0.
  Shape pad_lo;
  /// Padding after each dim (Pairs only; Explicit takes pad_lo); default 0.
  Shape pad_hi;
  /// Transposed only: extra size added to the end of each output dim (default 0).
  Shape output_padding;
  /// Transposed only: the output's spatial sizes (or its whole shape, with N and C), each
  /// within [min, min + stride - 1] where min is the size without output padding; replaces
  /// output_padding when given (PyTorch's forward(x, output_size)).
  Shape output_size;
  /// Number of blocked connections from input to output channels.
  int64_t groups = 1;
  /// zeros, reflect, replicate or circular (transposed: zeros only).
  PaddingMode padding_mode = PaddingMode::Zeros;
  /// Cross-correlation (PyTorch) or convolution with a flipped kernel (MegEngine); not for
  /// transposed convolutions.
  ConvMode conv_mode = ConvMode::CrossCorrelation;
  /// MegEngine's compute_mode (float32 accumulation for float16/bfloat16); not for
  /// transposed convolutions.
  ComputeMode compute_mode = ComputeMode::Default;
  /// Only "cpu" exists; any other device is an error.
  std::string device = "cpu";
  /// Auto, or force one algorithm (an error if it cannot do the convolution).
  Algorithm algorithm = Algorithm::Auto;

  /// The spec of F::convNd(x, w, b, options).
  template <std::size_t D>
  static ConvSpec from(const nn::functional::ConvFuncOptions<D>& o) {
    return with_modes<D>(o);
  }
  /// The spec of a ConvNd module's forward (channels, kernel size, bias, dtype and init are
  /// the tensors').
  template <std::size_t D>
  static ConvSpec from(const nn::ConvOptions<D>& o) {
    return with_modes<D>(o);
  }
  /// The spec of F::conv_transposeNd(x, w, b, options).
  template <std::size_t D>
  static ConvSpec from(const nn::functional::ConvTransposeFuncOptions<D>& o) {
    ConvSpec s = common<D>(o);
    s.transposed = true;
    s.output_padding = o.output_padding().vec();
    return s;
  }
  /// The spec of a ConvTransposeNd module's forward.
  template <std::size_t D>
  static ConvSpec from(const nn::ConvTransposeOptions<D>& o) {
    ConvSpec s = common<D>(o);
    s.transposed = true;
    s.output_padding = o.output_padding().vec();
    s.padding_mode = o.padding_mode();
    return s;
  }

 private:
  // A plain convolution's options: the common ones and the three modes.
  template <std::size_t D, typename Options>
  static ConvSpec with_modes(const Options& o) {
    ConvSpec s = common<D>(o);
    s.padding_mode = o.padding_mode();
    s.conv_mode = o.conv_mode();
    s.compute_mode = o.compute_mode();
    return s;
  }
  template <std::size_t D, typename Options>
  static ConvSpec common(const Options& o) {
    ConvSpec s;
    s.rank = static_cast<int64_t>(D);
    s.stride = o.stride().vec();
    s.dilation = o.dilation().vec();
    s.padding = o.padding().kind();
    s.pad_lo = o.padding().lo().vec();
    s.pad_hi = o.padding().hi().vec();
    s.groups = o.groups();
    s.device = o.device();
    s.algorithm = o.algorithm();
    return s;
  }
};

/// The output shape of F::conv(x, weight, {}, spec) for an input and weight of these shapes
/// (batched or unbatched, PyTorch's or MegEngine's weight layout), after every check F::conv
/// makes on shapes and arguments (the same ArgumentError); no tensor is read or computed.
CONVKIT_API Shape output_shape(const ConvSpec& spec, const Shape& input_shape, const Shape& weight_shape,
                               DType dtype = kFloat32);

}  // namespace convkit
