#include "nn/module_util.h"

#include <cmath>

#include "convkit/settings.h"
#include "core/cast.h"
#include "core/fingerprint.h"

namespace convkit::internal {

void check_channels(const std::string& what, int64_t in_channels, int64_t out_channels, int64_t groups) {
  CONVKIT_CHECK(in_channels > 0, what, ": in_channels must be positive, got in_channels=", in_channels);
  CONVKIT_CHECK(out_channels > 0, what, ": out_channels must be positive, got out_channels=", out_channels);
  CONVKIT_CHECK(groups > 0, what, ": groups must be a positive integer, got groups=", groups);
  CONVKIT_CHECK(in_channels % groups == 0, what, ": in_channels must be divisible by groups (in_channels=",
                in_channels, ", groups=", groups, ")");
  CONVKIT_CHECK(out_channels % groups == 0, what, ": out_channels must be divisible by groups (out_channels=",
                out_channels, ", groups=", groups, ")");
}

Tensor allocate_weight(const Shape& shape, DType dtype, const std::string& what, const char* layout) {
  int64_t bytes = element_size(dtype);
  bool fits = true;
  for (int64_t s : shape) fits = fits && !__builtin_mul_overflow(bytes, s, &bytes);
  CONVKIT_CHECK(fits, what, ": the weight ", layout, " = ", shape_str(shape), " of ", dtype_name(dtype),
                " needs more bytes than fit in 64 bits; expected the product of its sizes times ",
                element_size(dtype), " <= ", INT64_MAX);
  try {
    return Tensor::empty(shape, dtype);
  } catch (const ArgumentError& e) {  // out of memory
    throw ArgumentError(str_cat(what, ": cannot allocate the weight: ", e.what()));
  }
}

void torch_conv_init(Tensor& weight, Tensor& bias, int64_t fan_in, Generator* gen) {
  // kaiming_uniform_(a = sqrt(5)), evaluated in double exactly as PyTorch does: the bound is
  // 1/sqrt(fan_in) mathematically but not bit for bit, and float64 weights see the difference.
  const double a = std::sqrt(5.0);
  const double gain = std::sqrt(2.0 / (1 + a * a));
  const double std_dev = gain / std::sqrt(static_cast<double>(fan_in));
  const double bound = std::sqrt(3.0) * std_dev;
  weight.uniform_(-bound, bound, gen);
  if (bias.defined()) {
    const double b = 1 / std::sqrt(static_cast<double>(fan_in));
    bias.uniform_(-b, b, gen);
  }
}

void accumulate_grad(Tensor& slot, const Tensor& g) {
  if (!slot.defined()) {
    slot = g.clone();
    return;
  }
  CONVKIT_CHECK(slot.sizes() == g.sizes() && slot.dtype() == g.dtype(), "cannot accumulate a gradient of size ",
                shape_str(g.sizes()), " (", dtype_name(g.dtype()), ") into a grad of size ", shape_str(slot.sizes()),
                " (", dtype_name(slot.dtype()), ")");
  if (!slot.is_contiguous()) slot = slot.contiguous();
  const Tensor gc = g.contiguous();
  visit_dtype(g.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using C = typename compute_type<T>::type;  // float16/bfloat16 add in float, round once
    T* s = static_cast<T*>(mutable_data_ptr(slot));
    const T* a = static_cast<const T*>(gc.const_data_ptr());
    for (int64_t i = 0; i < slot.numel(); ++i) s[i] = cast_value<T>(cast_value<C>(s[i]) + cast_value<C>(a[i]));
  });
  slot.bump_version();
}

ParamPrints ParamPrints::of(const Tensor& weight, const Tensor& bias) {
  ParamPrints p;
  if (weight.defined() && weight.writable_outside()) p.w = fingerprint(weight);
  if (bias.defined() && bias.writable_outside()) p.b = fingerprint(bias);
  return p;
}

bool PlanKey::matches(const Tensor& x, const Tensor& weight, const Tensor& bias, const ParamPrints& prints) const {
  return x.sizes() == x_sizes && x.dtype() == dtype && weight.defined() && weight.const_data_ptr() == w_ptr &&
         weight.version() == w_version && weight.sizes() == w_sizes &&
         (bias.defined() ? bias.const_data_ptr() : nullptr) == b_ptr && bias.version() == b_version &&
         (!prints.w || *prints.w == w_print) && (!prints.b || *prints.b == b_print) &&
         fast_winograd == allow_fast_winograd();
}

void PlanKey::record(const Tensor& x, const Tensor& weight, const Tensor& bias, const ParamPrints& prints,
                     bool fast) {
  x_sizes = x.sizes();
  dtype = x.dtype();
  w_ptr = weight.const_data_ptr();
  w_version = weight.version();
  w_sizes = weight.sizes();
  b_ptr = bias.defined() ? bias.const_data_ptr() : nullptr;
  b_version = bias.version();
  w_print = prints.w ? *prints.w : fingerprint(weight);
  b_print = prints.b ? *prints.b : fingerprint(bias);
  fast_winograd = fast;
}

}  // namespace convkit::internal
