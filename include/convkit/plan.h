// convkit::ConvPlan: one layer prepared once — arguments and shapes checked, algorithm
// chosen, weights packed — and run many times:
//   convkit::ConvPlan plan = convkit::prepare(spec, weight, bias, {8, 64, 56, 56});
//   convkit::Tensor y = plan.run(x);   // from any number of threads at once
//   auto g = plan.backward(x, grad_y);  // gradients, with plans made on first use and kept
#pragma once

#include <memory>

#include "convkit/export.h"
#include "convkit/nn/functional/conv.h"
#include "convkit/spec.h"
#include "convkit/tensor.h"

namespace convkit {

namespace internal {
struct PreparedConv;
}  // namespace internal

/// A prepared convolution or transposed convolution for one input shape and dtype. It is
/// immutable: it keeps its own copy (or packed form) of the weight and bias it was prepared
/// with, so later writes to those tensors do not change its results. run() is const and may
/// be called from several threads at once; each call gives the same bits as F::conv. Copies
/// share the prepared state.
class CONVKIT_API ConvPlan {
 public:
  /// An empty plan (defined() is false); run() on it is an ArgumentError.
  ConvPlan() = default;

  /// y = F::conv(x, weight, bias, spec) for the weight, bias and spec it was prepared with.
  /// x must have the prepared shape and dtype (any strides); an ArgumentError names both
  /// shapes otherwise.
  Tensor run(const Tensor& x) const;

  /// The gradients of run(x) for grad_output (the output's shape): the same values and bits
  /// as F::conv_backward(grad_output, x, weight, spec, mask) with the prepared weight, each
  /// requested one defined. The plans they need are made on the first call that asks for them
  /// and kept, so later calls skip the checks, algorithm choice and weight packing. Const and
  /// thread-safe like run(). x must have the prepared shape and dtype.
  nn::functional::ConvGradients backward(const Tensor& x, const Tensor& grad_output,
                                         nn::functional::OutputMask mask = {true, true, true}) const;

  /// True once made by prepare().
  bool defined() const { return static_cast<bool>(impl_); }
  /// The input shape it runs on.
  const Shape& input_shape() const;
  /// The shape run() returns.
  const Shape& output_shape() const;
  /// The arguments it was prepared with.
  const ConvSpec& spec() const;
  /// The algorithm chosen: "reference", "gemm", "depthwise", "winograd", ...
  const char* algorithm() const;
  /// Bytes of packed weights and workspace its forward holds, for both memory formats once run()
  /// has met an input of each (a channels-last input makes its own plan where that computes
  /// differently). Not counted: the plan's own copy of the weight (kept for backward(), which
  /// makes its input-gradient plan from it) and the plans backward() makes.
  int64_t memory_bytes() const;

 private:
  friend struct internal::PreparedConv;
  explicit ConvPlan(std::shared_ptr<const internal::PreparedConv> impl) : impl_(std::move(impl)) {}
  const internal::PreparedConv& impl() const;

  std::shared_ptr<const internal::PreparedConv> impl_;
};

/// Prepares F::conv(x, weight, bias, spec) for inputs x of `input_shape` (batched
/// (N, C_in, *S) or unbatched (C_in, *S)) and of the weight's dtype: makes every check F::conv
/// makes (the same ArgumentErrors), chooses the algorithm and packs the weight. weight and bias
/// are as F::conv takes them (PyTorch's or MegEngine's layout; bias undefined for none).
CONVKIT_API ConvPlan prepare(const ConvSpec& spec, const Tensor& weight, const Tensor& bias, const Shape& input_shape);

}  // namespace convkit
