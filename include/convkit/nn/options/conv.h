// Options for Conv1d/Conv2d/Conv3d and their functional twins, in libtorch's builder style:
//   convkit::nn::Conv1dOptions(16, 33, 3).stride(2).padding("same")
// Every option has a default; every setter returns *this.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "convkit/export.h"
#include "convkit/dtype.h"
#include "convkit/error.h"

namespace convkit {

/// How the input is extended beyond its edges (PyTorch's padding_mode).
enum class PaddingMode { Zeros, Reflect, Replicate, Circular };
/// Cross-correlation (PyTorch, default) or true convolution with a flipped kernel (MegEngine).
enum class ConvMode { CrossCorrelation, Convolution };
/// MegEngine's compute_mode: Float32 accumulates float16/bfloat16 data in float32.
enum class ComputeMode { Default, Float32 };
/// Weight layouts: PyTorch (C_out, C_in/groups, *K) or MegEngine grouped
/// (groups, C_out/groups, C_in/groups, *K). Same memory, different shape.
enum class WeightLayout { Torch, MegEngine };
/// Default initialization: PyTorch's (kaiming_uniform with a = sqrt(5), bias U(+-1/sqrt(fan_in)))
/// or MegEngine's (weight ~ N(0, 1/fan_in) with fan_in over all input channels, bias zeros).
enum class InitMode { Torch, MegEngine };
/// How a convolution is computed. Auto lets convkit choose (CONVKIT_VERBOSE=1 prints the choice
/// and its reason); the others force one (an error if it cannot do the given convolution).
enum class Algorithm { Auto, Reference, Gemm, Depthwise, Winograd };

/// "zeros", "reflect", "replicate" or "circular"; an ArgumentError naming them otherwise.
CONVKIT_API PaddingMode padding_mode_from_name(const std::string& s);
/// "cross_correlation" or "convolution".
CONVKIT_API ConvMode conv_mode_from_name(const std::string& s);
/// "default" or "float32".
CONVKIT_API ComputeMode compute_mode_from_name(const std::string& s);
/// "torch" or "megengine".
CONVKIT_API WeightLayout weight_layout_from_name(const std::string& s);
/// "torch" or "megengine".
CONVKIT_API InitMode init_mode_from_name(const std::string& s);
/// "auto", "reference", "gemm", "depthwise" or "winograd".
CONVKIT_API Algorithm algorithm_from_name(const std::string& s);
/// The name *_from_name() reads for each value.
CONVKIT_API const char* name_of(PaddingMode m);
/// @copydoc name_of(PaddingMode)
CONVKIT_API const char* name_of(ConvMode m);
/// @copydoc name_of(PaddingMode)
CONVKIT_API const char* name_of(ComputeMode m);
/// @copydoc name_of(PaddingMode)
CONVKIT_API const char* name_of(WeightLayout m);
/// @copydoc name_of(PaddingMode)
CONVKIT_API const char* name_of(InitMode m);
/// @copydoc name_of(PaddingMode)
CONVKIT_API const char* name_of(Algorithm a);

namespace nn {

/// An option given either as the enum or by its PyTorch/MegEngine string name.
template <typename E>
struct Named {
  E value;  ///< the option's value
  /// The enum value itself.
  Named(E v) : value(v) {}                       // NOLINT: implicit by design
  /// The value named s (an ArgumentError listing the names otherwise).
  Named(const char* s) : value(parse(s)) {}      // NOLINT
  /// @copydoc Named(const char*)
  Named(const std::string& s) : value(parse(s)) {}  // NOLINT
  /// The enum value.
  operator E() const { return value; }           // NOLINT

 private:
  static E parse(const std::string& s) {
    if constexpr (std::is_same_v<E, PaddingMode>) return padding_mode_from_name(s);
    else if constexpr (std::is_same_v<E, ConvMode>) return conv_mode_from_name(s);
    else if constexpr (std::is_same_v<E, ComputeMode>) return compute_mode_from_name(s);
    else if constexpr (std::is_same_v<E, DType>) return dtype_from_name(s);
    else if constexpr (std::is_same_v<E, InitMode>) return init_mode_from_name(s);
    else if constexpr (std::is_same_v<E, Algorithm>) return algorithm_from_name(s);
    else return weight_layout_from_name(s);
  }
};

/// D integers given as one int (repeated) or a list of exactly D (PyTorch's int-or-tuple).
/// A list of another length is kept, not thrown at once: the option setter that receives it
/// calls check(name), so the message names the option. Reading a bad array throws as well.
template <std::size_t D>
class ExpandingArray {
 public:
  /// v in every dim.
  ExpandingArray(int64_t v) { values_.fill(v); }  // NOLINT: implicit like libtorch
  /// One value per dim: {2, 1}.
  ExpandingArray(std::initializer_list<int64_t> list) : ExpandingArray(std::vector<int64_t>(list)) {}
  /// One value per dim (a list of another length is refused when the option is set).
  ExpandingArray(const std::vector<int64_t>& list) {  // NOLINT
    if (list.size() == D) {
      std::copy(list.begin(), list.end(), values_.begin());
    } else {
      ok_ = false;
      wrong_length_ = list;
    }
  }
  /// Throws ArgumentError naming the option `name` (PyTorch's wording) if a list of the
  /// wrong length was given.
  void check(const char* name) const {
    if (ok_) return;
    std::string got;
    for (int64_t v : wrong_length_) got += internal::str_cat(got.empty() ? "" : ", ", v);
    throw ArgumentError(internal::str_cat("expected ", name, " to be a single integer value or a list of ", D,
                                          " values to match the convolution dimensions, but got ", name, "=[",
                                          got, "]"));
  }
  /// The value of dim i.
  int64_t operator[](std::size_t i) const {
    check(kUnnamed);
    return values_[i];
  }
  /// The D values.
  std::vector<int64_t> vec() const {
    check(kUnnamed);
    return {values_.begin(), values_.end()};
  }
  /// D.
  static constexpr std::size_t size() { return D; }

 private:
  static constexpr const char* kUnnamed = "an int-or-tuple argument";
  std::array<int64_t, D> values_{};
  bool ok_ = true;
  std::vector<int64_t> wrong_length_;  // what was given when !ok_
};

/// How padding was given. Explicit and Pairs carry numbers; the others are resolved from
/// the shapes when the convolution runs (see spec/conv-semantics.md).
enum class PaddingKind { Explicit, Pairs, Valid, Same, Causal };

/// padding: an int, a tuple of D ints, "valid", "same", "causal" (1-d only), or explicit
/// (lo, hi) pairs per dim: .padding({{1, 2}, {0, 1}}) pads dim 0 by 1 before and 2 after.
template <std::size_t D>
class Padding {
 public:
  /// v on both sides of every dim.
  Padding(int64_t v) : lo_(v), hi_(v) {}                                         // NOLINT
  /// @copydoc Padding(int64_t)
  Padding(int v) : Padding(static_cast<int64_t>(v)) {}  // NOLINT: beats 0 -> const char*
  /// One amount per dim, on both sides: {1, 2}.
  Padding(std::initializer_list<int64_t> list) : lo_(list), hi_(list) {}         // NOLINT
  /// @copydoc Padding(std::initializer_list<int64_t>)
  Padding(const std::vector<int64_t>& list) : lo_(list), hi_(list) {}            // NOLINT
  /// @copydoc Padding(std::initializer_list<int64_t>)
  Padding(ExpandingArray<D> v) : lo_(v), hi_(v) {}                               // NOLINT
  /// "valid", "same" or "causal".
  Padding(const char* s) : Padding(std::string(s)) {}                            // NOLINT
  /// @copydoc Padding(const char*)
  Padding(const std::string& s) : lo_(0), hi_(0) {                               // NOLINT
    if (s == "valid") kind_ = PaddingKind::Valid;
    else if (s == "same") kind_ = PaddingKind::Same;
    else if (s == "causal") kind_ = PaddingKind::Causal;
    else
      throw ArgumentError("Invalid padding string '" + s + "', should be one of 'valid', 'same', 'causal'"
                          " (or give an int, a tuple, or (lo, hi) pairs)");
  }
  /// (lo, hi) per dim: {{1, 2}, {0, 1}} pads dim 0 by 1 before and 2 after.
  Padding(std::initializer_list<std::pair<int64_t, int64_t>> pairs)  // NOLINT
      : Padding(std::vector<std::pair<int64_t, int64_t>>(pairs)) {}
  /// @copydoc Padding(std::initializer_list<std::pair<int64_t, int64_t>>)
  Padding(const std::vector<std::pair<int64_t, int64_t>>& pairs) : lo_(0), hi_(0) {  // NOLINT
    kind_ = PaddingKind::Pairs;
    if (pairs.size() != D) {  // kept for check() to name
      wrong_pairs_ = pairs;
      pairs_ok_ = false;
      return;
    }
    std::vector<int64_t> lo, hi;
    for (const auto& p : pairs) {
      lo.push_back(p.first);
      hi.push_back(p.second);
    }
    lo_ = lo;
    hi_ = hi;
  }
  /// Throws ArgumentError naming the option `name` if a list of other than D values, or other
  /// than D (lo, hi) pairs, was given.
  void check(const char* name) const {
    if (!pairs_ok_) {
      std::string got;
      for (const auto& [lo, hi] : wrong_pairs_)
        got += internal::str_cat(got.empty() ? "" : ", ", "(", lo, ", ", hi, ")");
      throw ArgumentError(internal::str_cat("expected ", name, " to be ", D, " (lo, hi) pairs, one per spatial ",
                                            "dimension, but got ", wrong_pairs_.size(), " pairs: ", name, "=[",
                                            got, "]"));
    }
    lo_.check(name);
    hi_.check(name);
  }
  /// How the padding was given.
  PaddingKind kind() const { return kind_; }
  /// Explicit/Pairs amounts before (lo) and after (hi) each spatial dim.
  const ExpandingArray<D>& lo() const {
    check("padding");
    return lo_;
  }
  /// @copydoc lo()
  const ExpandingArray<D>& hi() const {
    check("padding");
    return hi_;
  }

 private:
  PaddingKind kind_ = PaddingKind::Explicit;
  ExpandingArray<D> lo_, hi_;
  bool pairs_ok_ = true;
  std::vector<std::pair<int64_t, int64_t>> wrong_pairs_;  // what was given when !pairs_ok_
};

/// Option setters call check_option(name, value): arrays and paddings of the wrong length are
/// refused with a message that names the option; other option types need no check here.
/// @{
template <typename T>
void check_option(const char*, const T&) {}
template <std::size_t D>
void check_option(const char* name, const ExpandingArray<D>& v) {
  v.check(name);
}
template <std::size_t D>
void check_option(const char* name, const Padding<D>& v) {
  v.check(name);
}
/// @}

#define CONVKIT_ARG(T, name)                               \
 public:                                                   \
  auto& name(const T& new_##name) {                        \
    ::convkit::nn::check_option(#name, new_##name);        \
    name##_ = new_##name;                                  \
    return *this;                                          \
  }                                                        \
  const T& name() const { return name##_; }                \
                                                           \
 private:                                                  \
  T name##_

/// Options for the ConvNd modules.
template <std::size_t D>
class ConvOptions {
 public:
  /// The three options without a default; every other one is set by its setter.
  ConvOptions(int64_t in_channels, int64_t out_channels, ExpandingArray<D> kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {
    kernel_size.check("kernel_size");
  }

  /// Number of channels in the input.
  CONVKIT_ARG(int64_t, in_channels);
  /// Number of channels produced by the convolution.
  CONVKIT_ARG(int64_t, out_channels);
  /// Size of the kernel: an int or a D-tuple.
  CONVKIT_ARG(ExpandingArray<D>, kernel_size);
  /// Stride of the convolution.
  CONVKIT_ARG(ExpandingArray<D>, stride) = 1;
  /// Padding: int, tuple, "valid", "same" (also with stride > 1), "causal" (1-d), (lo, hi) pairs.
  CONVKIT_ARG(Padding<D>, padding) = 0;
  /// Spacing between kernel elements.
  CONVKIT_ARG(ExpandingArray<D>, dilation) = 1;
  /// Number of blocked connections from input to output channels; groups == in_channels is depthwise.
  CONVKIT_ARG(int64_t, groups) = 1;
  /// Adds a learnable bias when true.
  CONVKIT_ARG(bool, bias) = true;
  /// zeros, reflect, replicate or circular.
  CONVKIT_ARG(Named<PaddingMode>, padding_mode) = PaddingMode::Zeros;
  /// cross_correlation (default) or convolution (kernel flipped, MegEngine).
  CONVKIT_ARG(Named<ConvMode>, conv_mode) = ConvMode::CrossCorrelation;
  /// default or float32 (float32 accumulation for float16/bfloat16).
  CONVKIT_ARG(Named<ComputeMode>, compute_mode) = ComputeMode::Default;
  /// dtype of the weight and bias (and of the inputs the module accepts).
  CONVKIT_ARG(Named<DType>, dtype) = DType::Float32;
  /// Only "cpu" exists; any other device is an error.
  CONVKIT_ARG(std::string, device) = "cpu";
  /// torch (default) or megengine initialization.
  CONVKIT_ARG(Named<InitMode>, init) = InitMode::Torch;
  /// auto (default), or force reference, gemm, depthwise or winograd.
  CONVKIT_ARG(Named<Algorithm>, algorithm) = Algorithm::Auto;
};

/// Options for the ConvTransposeNd modules (PyTorch's nn.ConvTransposeNd). The weight is
/// (in_channels, out_channels / groups, *kernel_size).
template <std::size_t D>
class ConvTransposeOptions {
 public:
  /// The three options without a default; every other one is set by its setter.
  ConvTransposeOptions(int64_t in_channels, int64_t out_channels, ExpandingArray<D> kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {
    kernel_size.check("kernel_size");
  }

  /// Number of channels in the input.
  CONVKIT_ARG(int64_t, in_channels);
  /// Number of channels produced by the transposed convolution.
  CONVKIT_ARG(int64_t, out_channels);
  /// Size of the kernel: an int or a D-tuple.
  CONVKIT_ARG(ExpandingArray<D>, kernel_size);
  /// Stride of the transposed convolution (the upsampling factor).
  CONVKIT_ARG(ExpandingArray<D>, stride) = 1;
  /// Removes dilation * (kernel_size - 1) - padding from both ends of the full output: an int
  /// or a tuple (PyTorch), or (lo, hi) pairs cropping lo at the start and hi at the end of
  /// each dim (ONNX ConvTranspose's pads).
  CONVKIT_ARG(Padding<D>, padding) = 0;
  /// Extra size added to the end of each output dim; must be smaller than stride or dilation.
  CONVKIT_ARG(ExpandingArray<D>, output_padding) = 0;
  /// Number of blocked connections from input to output channels.
  CONVKIT_ARG(int64_t, groups) = 1;
  /// Adds a learnable bias (out_channels) when true.
  CONVKIT_ARG(bool, bias) = true;
  /// Spacing between kernel elements.
  CONVKIT_ARG(ExpandingArray<D>, dilation) = 1;
  /// Only zeros, as in PyTorch.
  CONVKIT_ARG(Named<PaddingMode>, padding_mode) = PaddingMode::Zeros;
  /// dtype of the weight and bias (and of the inputs the module accepts).
  CONVKIT_ARG(Named<DType>, dtype) = DType::Float32;
  /// Only "cpu" exists; any other device is an error.
  CONVKIT_ARG(std::string, device) = "cpu";
  /// auto (default) or reference.
  CONVKIT_ARG(Named<Algorithm>, algorithm) = Algorithm::Auto;
};

namespace functional {

/// Options for F::conv_transpose1d/2d/3d (the module's options without channels and kernel).
template <std::size_t D>
class ConvTransposeFuncOptions {
  /// Stride of the transposed convolution.
  CONVKIT_ARG(ExpandingArray<D>, stride) = 1;
  /// An int, a tuple, or (lo, hi) pairs cropped from the start and end of the full output.
  CONVKIT_ARG(Padding<D>, padding) = 0;
  /// Extra size added to the end of each output dim; must be smaller than stride or dilation.
  CONVKIT_ARG(ExpandingArray<D>, output_padding) = 0;
  /// Number of groups; the weight's first dim is C_in, its second C_out / groups.
  CONVKIT_ARG(int64_t, groups) = 1;
  /// Spacing between kernel elements.
  CONVKIT_ARG(ExpandingArray<D>, dilation) = 1;
  /// Only "cpu" exists.
  CONVKIT_ARG(std::string, device) = "cpu";
  /// auto (default) or reference.
  CONVKIT_ARG(Named<Algorithm>, algorithm) = Algorithm::Auto;
};

/// Options for F::conv1d/conv2d/conv3d (the module's options without channels and kernel).
template <std::size_t D>
class ConvFuncOptions {
  /// Stride of the convolution.
  CONVKIT_ARG(ExpandingArray<D>, stride) = 1;
  /// Padding: int, tuple, "valid", "same", "causal" (1-d), (lo, hi) pairs.
  CONVKIT_ARG(Padding<D>, padding) = 0;
  /// Spacing between kernel elements.
  CONVKIT_ARG(ExpandingArray<D>, dilation) = 1;
  /// Number of groups; the weight's second dim is C_in / groups.
  CONVKIT_ARG(int64_t, groups) = 1;
  /// zeros, reflect, replicate or circular (PyTorch's F.conv has only zeros; convkit has all).
  CONVKIT_ARG(Named<PaddingMode>, padding_mode) = PaddingMode::Zeros;
  /// cross_correlation or convolution.
  CONVKIT_ARG(Named<ConvMode>, conv_mode) = ConvMode::CrossCorrelation;
  /// default or float32.
  CONVKIT_ARG(Named<ComputeMode>, compute_mode) = ComputeMode::Default;
  /// Only "cpu" exists.
  CONVKIT_ARG(std::string, device) = "cpu";
  /// auto (default), or force reference, gemm, depthwise or winograd.
  CONVKIT_ARG(Named<Algorithm>, algorithm) = Algorithm::Auto;
};

}  // namespace functional

using Conv1dOptions = ConvOptions<1>;  ///< ConvOptions<1>
using Conv2dOptions = ConvOptions<2>;  ///< ConvOptions<2>
using Conv3dOptions = ConvOptions<3>;  ///< ConvOptions<3>
using ConvTranspose1dOptions = ConvTransposeOptions<1>;  ///< ConvTransposeOptions<1>
using ConvTranspose2dOptions = ConvTransposeOptions<2>;  ///< ConvTransposeOptions<2>
using ConvTranspose3dOptions = ConvTransposeOptions<3>;  ///< ConvTransposeOptions<3>

namespace functional {
using Conv1dFuncOptions = ConvFuncOptions<1>;  ///< ConvFuncOptions<1>
using Conv2dFuncOptions = ConvFuncOptions<2>;  ///< ConvFuncOptions<2>
using Conv3dFuncOptions = ConvFuncOptions<3>;  ///< ConvFuncOptions<3>
using ConvTranspose1dFuncOptions = ConvTransposeFuncOptions<1>;  ///< ConvTransposeFuncOptions<1>
using ConvTranspose2dFuncOptions = ConvTransposeFuncOptions<2>;  ///< ConvTransposeFuncOptions<2>
using ConvTranspose3dFuncOptions = ConvTransposeFuncOptions<3>;  ///< ConvTransposeFuncOptions<3>
}  // namespace functional

}  // namespace nn
}  // namespace convkit
