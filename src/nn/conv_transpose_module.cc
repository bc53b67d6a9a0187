// ConvTranspose1d/2d/3d: options checked at construction, PyTorch's initialization, and
// forward/backward through the transposed-convolution entries of conv/backward.h.
#include <mutex>

#include "conv/backward.h"
#include "conv/spec.h"
#include "convkit/nn/modules/conv.h"
#include "convkit/settings.h"
#include "nn/module_util.h"

namespace convkit::nn {

using internal::str_cat;
using internal::tuple_str;

namespace {

using internal::all_at_least;

// PyTorch's _ConvNd and _ConvTransposeNd checks, worded as PyTorch words them.
template <std::size_t D>
void check_options(const ConvTransposeOptions<D>& o) {
  const std::string what = str_cat("ConvTranspose", D, "d");
  internal::check_channels(what, o.in_channels(), o.out_channels(), o.groups());
  CONVKIT_CHECK(all_at_least(o.kernel_size(), 1), what, ": kernel_size must be positive, got kernel_size=",
                tuple_str(o.kernel_size().vec()));
  CONVKIT_CHECK(o.padding_mode().value == PaddingMode::Zeros, "Only \"zeros\" padding mode is supported for ", what,
                ", but got padding_mode='", name_of(o.padding_mode()), "'");
  // The remaining arguments (stride, padding kinds and signs, output_padding against stride and
  // dilation, device) are the functional's checks: run them now, on the options alone.
  internal::check_transpose_args(internal::transpose_args(ConvSpec::from(o)));
}

template <std::size_t D>
std::string sizes_str(const ConvTransposeOptions<D>& o) {
  return str_cat("ConvTranspose", D, "d(in_channels=", o.in_channels(), ", out_channels=", o.out_channels(),
                 ", kernel_size=", tuple_str(o.kernel_size().vec()), ", groups=", o.groups(), ")");
}

bool same_args(const internal::TransposeArgs& a, const internal::TransposeArgs& b) {
  return a.dim == b.dim && a.stride == b.stride && a.dilation == b.dilation && a.pad_lo == b.pad_lo &&
         a.pad_hi == b.pad_hi && a.output_padding == b.output_padding && a.padding_kind == b.padding_kind &&
         a.groups == b.groups && a.padding_mode == b.padding_mode && a.device == b.device && a.algorithm == b.algorithm;
}

}  // namespace

// The plan and what it was made for (internal::PlanKey, as ConvNd's cache). The plan is
// immutable: forward() takes it under the mutex and runs it outside.
template <std::size_t D>
struct ConvTransposeNdImpl<D>::PlanCache {
  internal::TransposeArgs args;
  internal::PlanKey key;
  ConvPlan plan;
  std::mutex mutex;  // guards every member above
};

template <std::size_t D>
ConvTransposeNdImpl<D>::ConvTransposeNdImpl(ConvTransposeOptions<D> opts) : options(std::move(opts)) {
  check_options(options);
  Shape ws{options.in_channels(), options.out_channels() / options.groups()};
  for (std::size_t i = 0; i < D; ++i) ws.push_back(options.kernel_size()[i]);
  weight = internal::allocate_weight(ws, options.dtype(), sizes_str(options),
                                     "(in_channels, out_channels / groups, *kernel_size)");
  if (options.bias()) bias = Tensor::empty({options.out_channels()}, options.dtype());
  reset_parameters();
}

template <std::size_t D>
void ConvTransposeNdImpl<D>::reset_parameters(Generator* gen) {
  if (weight.numel() == 0) return;
  // fan_in = weight.size(1) * prod(K) = (C_out / groups) * prod(K): PyTorch's
  // _calculate_fan_in_and_fan_out reads the transposed weight as if it were a conv weight.
  internal::torch_conv_init(weight, bias, weight.numel() / weight.size(0), gen);
}

template <std::size_t D>
ConvPlan ConvTransposeNdImpl<D>::plan_for(const Tensor& x, const Shape& output_size) const {
  ConvSpec spec = ConvSpec::from(options);
  spec.output_size = output_size;
  const internal::TransposeArgs a = internal::transpose_args_for(spec, x, weight);
  PlanCache& c = *cache_;
  const internal::ParamPrints prints = internal::ParamPrints::of(weight, bias);
  std::lock_guard<std::mutex> lock(c.mutex);
  if (!c.plan.defined() || !c.key.matches(x, weight, bias, prints) || !same_args(a, c.args)) {
    c.plan = internal::prepare_plan(spec, weight, bias, x);
    c.args = a;
    c.key.record(x, weight, bias, prints, internal::prepared_with_fast_winograd(c.plan));
  }
  return c.plan;
}

template <std::size_t D>
Tensor ConvTransposeNdImpl<D>::forward(const Tensor& x, const Shape& output_size) const {
  return plan_for(x, output_size).run(x);
}

template <std::size_t D>
Tensor ConvTransposeNdImpl<D>::backward(const Tensor& x, const Tensor& grad_output) {
  // forward may have been given an output_size: grad_output's spatial sizes say which (the
  // plan then checks them as forward(x, output_size) would).
  Shape output_size;
  if (grad_output.defined() && grad_output.dim() == x.dim() && grad_output.dim() > static_cast<int64_t>(D)) {
    const Shape want(grad_output.sizes().end() - static_cast<std::ptrdiff_t>(D), grad_output.sizes().end());
    const internal::TransposeArgs a = internal::transpose_args(ConvSpec::from(options));
    if (internal::make_transpose_params(x, weight, Tensor(), a).in_size != want) output_size = want;
  }
  const bool want_bias = bias.defined();
  const auto g = plan_for(x, output_size).backward(x, grad_output, {true, true, want_bias});
  internal::accumulate_grad(weight.mutable_grad(), g.grad_weight);
  if (want_bias) internal::accumulate_grad(bias.mutable_grad(), g.grad_bias);
  return g.grad_input;
}

template <std::size_t D>
void ConvTransposeNdImpl<D>::zero_grad() {
  weight.mutable_grad() = Tensor();
  if (bias.defined()) bias.mutable_grad() = Tensor();
}

template <std::size_t D>
void ConvTransposeNdImpl<D>::set_weight(const Tensor& w) {
  CONVKIT_CHECK(w.defined(), "ConvTranspose", D, "d: set_weight got an undefined tensor");
  CONVKIT_CHECK(w.dtype() == options.dtype().value, "ConvTranspose", D, "d: weight dtype ", dtype_name(w.dtype()),
                " does not match the module's dtype ", dtype_name(options.dtype()));
  CONVKIT_CHECK(w.sizes() == weight.sizes(), "ConvTranspose", D, "d: expected weight of size ",
                shape_str(weight.sizes()), " (in_channels, out_channels / groups, *kernel_size), but got ",
                shape_str(w.sizes()));
  weight = w.clone();
}

template <std::size_t D>
void ConvTransposeNdImpl<D>::set_bias(const Tensor& b) {
  if (!b.defined()) {
    bias = Tensor();
    return;
  }
  CONVKIT_CHECK(b.dtype() == options.dtype().value, "ConvTranspose", D, "d: bias dtype ", dtype_name(b.dtype()),
                " does not match the module's dtype ", dtype_name(options.dtype()));
  CONVKIT_CHECK(b.dim() == 1 && b.size(0) == options.out_channels(), "ConvTranspose", D, "d: expected bias of size [",
                options.out_channels(), "], but got ", shape_str(b.sizes()));
  bias = b.clone();
}

template class ConvTransposeNdImpl<1>;
template class ConvTransposeNdImpl<2>;
template class ConvTransposeNdImpl<3>;
// (The plan caches' slots, defined in nn/module_util.h; access is not checked here.)
template class detail::CacheSlot<ConvTransposeNdImpl<1>::PlanCache>;
template class detail::CacheSlot<ConvTransposeNdImpl<2>::PlanCache>;
template class detail::CacheSlot<ConvTransposeNdImpl<3>::PlanCache>;

}  // namespace convkit::nn
