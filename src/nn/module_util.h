// What the convolution modules share: parameter allocation, PyTorch's default
// initialization, and gradient accumulation into Tensor::grad().
#pragma once

#include <optional>
#include <string>

#include "convkit/nn/modules/conv.h"
#include "convkit/random.h"
#include "convkit/tensor.h"

namespace convkit::internal {

/// Each of a's D values is at least min.
template <typename Array>
bool all_at_least(const Array& a, int64_t min) {
  for (std::size_t i = 0; i < Array::size(); ++i)
    if (a[i] < min) return false;
  return true;
}

/// PyTorch's checks of a (transposed) convolution module's channels and groups, each message
/// starting with `what` ("Conv2d", "ConvTranspose1d").
void check_channels(const std::string& what, int64_t in_channels, int64_t out_channels, int64_t groups);

/// An uninitialized weight of `shape`; an error naming `what` (the module and the options that
/// size it) and `layout` ("(out_channels, in_channels / groups, *kernel_size)") when its bytes
/// overflow 64 bits or cannot be allocated.
Tensor allocate_weight(const Shape& shape, DType dtype, const std::string& what, const char* layout);

/// PyTorch's reset_parameters() for (transposed) convolutions: kaiming_uniform_(a = sqrt(5))
/// on the weight, then bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), bit-identical to PyTorch for
/// the same generator state. fan_in: weight.size(1) * prod(kernel_size).
void torch_conv_init(Tensor& weight, Tensor& bias, int64_t fan_in, Generator* gen);

/// slot += g, as autograd accumulates .grad: an undefined slot becomes (a copy of) g.
void accumulate_grad(Tensor& slot, const Tensor& g);

/// Fingerprints taken for one forward: only of the weight and bias memory code outside convkit
/// may write (Tensor::writable_outside()).
struct ParamPrints {
  std::optional<uint64_t> w, b;
  static ParamPrints of(const Tensor& weight, const Tensor& bias);
};

/// What a module's cached plan was made for, besides its options: the input's shape and dtype,
/// the weight and bias (memory only convkit writes is known unchanged by its version(); memory
/// writable outside is compared by fingerprint), and the fast-Winograd switch.
struct PlanKey {
  Shape x_sizes;
  DType dtype = kFloat32;
  const void* w_ptr = nullptr;
  uint64_t w_version = 0;
  Shape w_sizes;
  const void* b_ptr = nullptr;
  uint64_t b_version = 0;
  uint64_t w_print = 0, b_print = 0;
  bool fast_winograd = false;

  bool matches(const Tensor& x, const Tensor& weight, const Tensor& bias, const ParamPrints& prints) const;
  /// Records the state; fingerprints are taken now even for memory only convkit writes (a
  /// writable pointer may be handed out later).
  void record(const Tensor& x, const Tensor& weight, const Tensor& bias, const ParamPrints& prints, bool fast_winograd);
};

}  // namespace convkit::internal

namespace convkit::nn::detail {

template <typename Cache>
CacheSlot<Cache>::CacheSlot() : p_(std::make_shared<Cache>()) {}
template <typename Cache>
CacheSlot<Cache>::CacheSlot(const CacheSlot&) : p_(std::make_shared<Cache>()) {}
template <typename Cache>
CacheSlot<Cache>& CacheSlot<Cache>::operator=(const CacheSlot&) {
  p_ = std::make_shared<Cache>();
  return *this;
}

}  // namespace convkit::nn::detail
