// Conv1d / Conv2d / Conv3d modules in libtorch's style:
//   convkit::nn::Conv1d m(convkit::nn::Conv1dOptions(16, 33, 3).stride(2));
//   convkit::Tensor y = m(x);          // or m->forward(x), m.forward(x)
#pragma once

#include <cstddef>
#include <memory>

#include "convkit/export.h"
#include "convkit/nn/options/conv.h"
#include "convkit/random.h"
#include "convkit/tensor.h"

namespace convkit {
class ConvPlan;
}  // namespace convkit

namespace convkit::nn {

namespace detail {
/// Holds a module's plan cache; a copy of the module gets a new, empty one (never a shared
/// one). Defined where the cache type is complete.
template <typename Cache>
class CONVKIT_API CacheSlot {
 public:
  CacheSlot();
  CacheSlot(const CacheSlot&);
  CacheSlot& operator=(const CacheSlot&);
  Cache& operator*() const { return *p_; }
  Cache* operator->() const { return p_.get(); }

 private:
  std::shared_ptr<Cache> p_;
};
}  // namespace detail

/// Conv1d / Conv2d / Conv3d (PyTorch's nn.ConvNd, with MegEngine's extras): the weight
/// (C_out, C_in/groups, *K) and bias (C_out) as members, forward() with a cached plan, and
/// backward() for training without an autograd engine.
template <std::size_t D>
class CONVKIT_API ConvNdImpl {
 public:
  /// Validates the options and initializes weight and bias (see reset_parameters()).
  explicit ConvNdImpl(ConvOptions<D> options);

  /// x: (N, C_in, *S) or unbatched (C_in, *S), of the module's dtype.
  Tensor forward(const Tensor& x) const;
  /// forward(x).
  Tensor operator()(const Tensor& x) const { return forward(x); }

  /// The gradients of forward(x) for the gradient grad_output of its output: adds
  /// grad_weight to weight.grad() and grad_bias to bias.grad() (accumulating, as PyTorch's
  /// autograd does: call zero_grad() between steps) and returns grad_input (x's shape).
  /// Bitwise the same for any thread count. Its gradient plans are kept with the forward's
  /// (made on the first backward for the shape and weights).
  Tensor backward(const Tensor& x, const Tensor& grad_output);
  /// Clears weight.grad() and bias.grad() (PyTorch's zero_grad(set_to_none=True)).
  void zero_grad();

  /// Re-draws weight and bias as options.init() says: PyTorch's kaiming_uniform(a = sqrt(5))
  /// then bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) — bit-identical to PyTorch 1.13 for the same
  /// seed — or MegEngine's. gen == nullptr draws from the default generator.
  void reset_parameters(Generator* gen = nullptr);

  /// Sets the weight from PyTorch's shape (C_out, C_in/groups, *K) or MegEngine's grouped
  /// (groups, C_out/groups, C_in/groups, *K); the tensor is copied and converted to the
  /// module's dtype only if its dtype matches (a mismatch is an error).
  void set_weight(const Tensor& w);
  /// Sets the bias from (C_out) or MegEngine's (1, C_out, 1, ...); an undefined tensor
  /// removes the bias.
  void set_bias(const Tensor& b);
  /// The weight in the requested layout (a view: the memory is the same).
  Tensor weight_as(WeightLayout layout) const;

  /// Bytes the cached plan holds beyond the user's tensors (packed weights + workspace);
  /// 0 before the first forward. The plan is rebuilt when the input shape, the dtype, the
  /// weight or bias tensor, their version(), or — for memory writable outside convkit
  /// (Tensor::writable_outside()) — their contents change.
  int64_t plan_memory_bytes() const;
  /// The algorithm the cached plan uses ("none" before the first forward).
  const char* plan_algorithm() const;

  /// libtorch's ModuleHolder syntax: m->weight, m->forward(x). forward() may be called from
  /// several threads at once on one module: they share its immutable plan and run in
  /// parallel, each with its own scratch, and give the same bits as one caller. Changing the
  /// module (weight, bias, options, set_weight, reset_parameters) while a forward runs is
  /// the caller's to synchronize, as in PyTorch. Copies of a module start with their own,
  /// empty plan.
  ConvNdImpl* operator->() { return this; }
  /// @copydoc operator->()
  const ConvNdImpl* operator->() const { return this; }

  /// The options it was made with (changing them takes effect at the next forward).
  ConvOptions<D> options;
  /// (C_out, C_in/groups, *K).
  Tensor weight;
  /// (C_out), or undefined when options.bias() is false.
  Tensor bias;

 private:
  struct PlanCache;
  detail::CacheSlot<PlanCache> cache_;
  // The cached plan for x and the current weight and bias, made anew when any changed.
  ConvPlan plan_for(const Tensor& x) const;
};

extern template class ConvNdImpl<1>;
extern template class ConvNdImpl<2>;
extern template class ConvNdImpl<3>;

using Conv1dImpl = ConvNdImpl<1>;  ///< ConvNdImpl<1>
using Conv2dImpl = ConvNdImpl<2>;  ///< ConvNdImpl<2>
using Conv3dImpl = ConvNdImpl<3>;  ///< ConvNdImpl<3>
using Conv1d = ConvNdImpl<1>;  ///< ConvNdImpl<1>
using Conv2d = ConvNdImpl<2>;  ///< ConvNdImpl<2>
using Conv3d = ConvNdImpl<3>;  ///< ConvNdImpl<3>

/// ConvTranspose1d / 2d / 3d (PyTorch's nn.ConvTransposeNd):
///   convkit::nn::ConvTranspose2d up(convkit::nn::ConvTranspose2dOptions(64, 32, 4).stride(2).padding(1));
///   convkit::Tensor y = up(x);              // or up(x, {N, 32, 2 * H, 2 * W}) with output_size
template <std::size_t D>
class CONVKIT_API ConvTransposeNdImpl {
 public:
  /// Validates the options and initializes weight and bias as PyTorch does.
  explicit ConvTransposeNdImpl(ConvTransposeOptions<D> options);

  /// x: (N, C_in, *S) or unbatched (C_in, *S). output_size (optional): the output's spatial
  /// sizes, or the full shape with N and C; each must lie in [min, min + stride - 1], where min
  /// is the size without output_padding, and replaces options.output_padding. The plan (packed
  /// weights) is kept and rebuilt when the input shape, output padding, options, weight or bias
  /// change, as ConvNd's; concurrent forwards share it.
  Tensor forward(const Tensor& x, const Shape& output_size = {}) const;
  /// forward(x, output_size).
  Tensor operator()(const Tensor& x, const Shape& output_size = {}) const { return forward(x, output_size); }

  /// The gradients of forward(x, ...) for grad_output (the output's shape, which also tells
  /// the output_size forward was given): accumulates into weight.grad() and bias.grad() and
  /// returns grad_input.
  Tensor backward(const Tensor& x, const Tensor& grad_output);
  /// Clears weight.grad() and bias.grad().
  void zero_grad();

  /// PyTorch's initialization, bit-identical for the same seed: kaiming_uniform(a = sqrt(5))
  /// and bias ~ U(+-1/sqrt(fan_in)) with fan_in = (out_channels / groups) * prod(kernel_size).
  void reset_parameters(Generator* gen = nullptr);
  /// Sets the weight (in_channels, out_channels / groups, *K) (copied; dtype must match).
  void set_weight(const Tensor& w);
  /// Sets the bias (out_channels); an undefined tensor removes it.
  void set_bias(const Tensor& b);

  /// libtorch's ModuleHolder syntax: m->weight, m->forward(x).
  ConvTransposeNdImpl* operator->() { return this; }
  /// @copydoc operator->()
  const ConvTransposeNdImpl* operator->() const { return this; }

  /// The options it was made with (changing them takes effect at the next forward).
  ConvTransposeOptions<D> options;
  /// (C_in, C_out/groups, *K).
  Tensor weight;
  /// (C_out), or undefined when options.bias() is false.
  Tensor bias;

 private:
  // forward() keeps its plan (packed weights) for the input shape, output padding, weight and
  // bias it was made for, like ConvNd's.
  struct PlanCache;
  detail::CacheSlot<PlanCache> cache_;
  ConvPlan plan_for(const Tensor& x, const Shape& output_size) const;
};

extern template class ConvTransposeNdImpl<1>;
extern template class ConvTransposeNdImpl<2>;
extern template class ConvTransposeNdImpl<3>;

using ConvTranspose1dImpl = ConvTransposeNdImpl<1>;  ///< ConvTransposeNdImpl<1>
using ConvTranspose2dImpl = ConvTransposeNdImpl<2>;  ///< ConvTransposeNdImpl<2>
using ConvTranspose3dImpl = ConvTransposeNdImpl<3>;  ///< ConvTransposeNdImpl<3>
using ConvTranspose1d = ConvTransposeNdImpl<1>;  ///< ConvTransposeNdImpl<1>
using ConvTranspose2d = ConvTransposeNdImpl<2>;  ///< ConvTransposeNdImpl<2>
using ConvTranspose3d = ConvTransposeNdImpl<3>;  ///< ConvTransposeNdImpl<3>

}  // namespace convkit::nn
