// Conv1d / Conv2d / Conv3d modules in libtorch's style:
//   convkit::nn::Conv1d m(convkit::nn::Conv1dOptions(16, 33, 3).stride(2));
//   convkit::Tensor y = m(x);          // or m->forward(x), m.forward(x)
#pragma once

#include <cstddef>
#include <memory>

#include "convkit/nn/options/conv.h"
#include "convkit/random.h"
#include "convkit/tensor.h"

namespace convkit::nn {

template <std::size_t D>
class ConvNdImpl {
 public:
  /// Validates the options and initializes weight and bias (see reset_parameters()).
  explicit ConvNdImpl(ConvOptions<D> options);

  /// x: (N, C_in, *S) or unbatched (C_in, *S), of the module's dtype.
  Tensor forward(const Tensor& x) const;
  Tensor operator()(const Tensor& x) const { return forward(x); }

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
  const ConvNdImpl* operator->() const { return this; }

  ConvOptions<D> options;
  /// (C_out, C_in/groups, *K).
  Tensor weight;
  /// (C_out), or undefined when options.bias() is false.
  Tensor bias;

 private:
  struct PlanCache;
  // Holds the plan cache; a copy of the module gets a new, empty one (never a shared one).
  class CacheSlot {
   public:
    CacheSlot();
    CacheSlot(const CacheSlot&);
    CacheSlot& operator=(const CacheSlot&);
    PlanCache& operator*() const { return *p_; }
    PlanCache* operator->() const { return p_.get(); }

   private:
    std::shared_ptr<PlanCache> p_;
  };
  CacheSlot cache_;
};

extern template class ConvNdImpl<1>;
extern template class ConvNdImpl<2>;
extern template class ConvNdImpl<3>;

using Conv1dImpl = ConvNdImpl<1>;
using Conv2dImpl = ConvNdImpl<2>;
using Conv3dImpl = ConvNdImpl<3>;
using Conv1d = ConvNdImpl<1>;
using Conv2d = ConvNdImpl<2>;
using Conv3d = ConvNdImpl<3>;

}  // namespace convkit::nn
