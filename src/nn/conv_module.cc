#include <cmath>
#include <mutex>

#include "conv/backward.h"
#include "conv/conv.h"
#include "conv/spec.h"
#include "nn/module_util.h"
#include "convkit/random.h"
#include "convkit/settings.h"
#include "convkit/nn/modules/conv.h"

namespace convkit::nn {

using internal::str_cat;

namespace {

using internal::tuple_str;

using internal::all_at_least;

template <std::size_t D>
void check_options(const ConvOptions<D>& o) {
  const std::string what = str_cat("Conv", D, "d");
  internal::check_channels(what, o.in_channels(), o.out_channels(), o.groups());
  CONVKIT_CHECK(all_at_least(o.kernel_size(), 1), what, ": kernel_size must be positive, got kernel_size=",
                tuple_str(o.kernel_size().vec()));
  CONVKIT_CHECK(all_at_least(o.stride(), 1), what, ": non-positive stride is not supported, got stride=",
                tuple_str(o.stride().vec()));
  CONVKIT_CHECK(all_at_least(o.dilation(), 1), what, ": non-positive dilation is not supported, got dilation=",
                tuple_str(o.dilation().vec()));
  CONVKIT_CHECK(all_at_least(o.padding().lo(), 0) && all_at_least(o.padding().hi(), 0), what,
                ": negative padding is not supported, got padding lo=", tuple_str(o.padding().lo().vec()),
                " hi=", tuple_str(o.padding().hi().vec()));
  CONVKIT_CHECK(o.padding().kind() != PaddingKind::Causal || D == 1, what,
                ": padding='causal' is only supported for 1-d convolutions (Conv1d)");
  CONVKIT_CHECK(o.device() == "cpu", what, ": device '", o.device(),
                "' is not supported: convkit computes on the CPU only (device='cpu')");
}

// "Conv1d(in_channels=4, out_channels=6, kernel_size=(3,), groups=1)": the options that size
// the weight, for messages about it.
template <std::size_t D>
std::string sizes_str(const ConvOptions<D>& o) {
  return str_cat("Conv", D, "d(in_channels=", o.in_channels(), ", out_channels=", o.out_channels(),
                 ", kernel_size=", tuple_str(o.kernel_size().vec()), ", groups=", o.groups(), ")");
}

// The weight (out_channels, in_channels / groups, *kernel_size).
template <std::size_t D>
Tensor allocate_weight(const ConvOptions<D>& o) {
  Shape ws{o.out_channels(), o.in_channels() / o.groups()};
  for (std::size_t i = 0; i < D; ++i) ws.push_back(o.kernel_size()[i]);
  return internal::allocate_weight(ws, o.dtype(), sizes_str(o), "(out_channels, in_channels / groups, *kernel_size)");
}

template <std::size_t D>
bool same_array(const ExpandingArray<D>& a, const ExpandingArray<D>& b) {
  for (std::size_t i = 0; i < D; ++i)
    if (a[i] != b[i]) return false;
  return true;
}

// True when two option sets describe the same computation (allocation-free, so a cached plan
// is checked on every forward without cost).
template <std::size_t D>
bool same_computation(const ConvOptions<D>& a, const ConvOptions<D>& b) {
  return same_array(a.stride(), b.stride()) && same_array(a.dilation(), b.dilation()) &&
         a.padding().kind() == b.padding().kind() && same_array(a.padding().lo(), b.padding().lo()) &&
         same_array(a.padding().hi(), b.padding().hi()) && a.groups() == b.groups() &&
         a.padding_mode().value == b.padding_mode().value && a.conv_mode().value == b.conv_mode().value &&
         a.compute_mode().value == b.compute_mode().value && a.algorithm().value == b.algorithm().value &&
         a.device() == b.device();
}

}  // namespace

// What the cached plan was built for; any difference rebuilds it. Weight and bias memory
// that only convkit writes is known unchanged by its version(); memory that code outside may
// write (borrowed, or a writable pointer was handed out) is compared by content, through a
// fingerprint taken when the plan was built and again on every forward. The plan itself is
// immutable and shared: forward() takes it under the mutex and runs it outside, so
// concurrent forwards run in parallel, and one that finds the plan stale builds a new one
// while running forwards finish on the old.
template <std::size_t D>
struct ConvNdImpl<D>::PlanCache {
  ConvOptions<D> options{1, 1, 1};
  internal::PlanKey key;
  ConvPlan plan;
  mutable std::mutex mutex;  // guards every member above

  // (Hidden: the struct is a member of an exported class template, so its members would be
  // exported with it.)
  [[gnu::visibility("hidden")]] bool matches(const ConvNdImpl<D>& m, const Tensor& x,
                                             const internal::ParamPrints& prints) const {
    return plan.defined() && key.matches(x, m.weight, m.bias, prints) && same_computation(m.options, options);
  }

  [[gnu::visibility("hidden")]] ConvPlan current() const {
    std::lock_guard<std::mutex> lock(mutex);
    return plan;
  }
};


template <std::size_t D>
ConvNdImpl<D>::ConvNdImpl(ConvOptions<D> opts) : options(std::move(opts)) {
  check_options(options);
  weight = allocate_weight(options);
  if (options.bias()) bias = Tensor::empty({options.out_channels()}, options.dtype());
  reset_parameters();
}

template <std::size_t D>
void ConvNdImpl<D>::reset_parameters(Generator* gen) {
  if (weight.numel() == 0) return;
  // fan_in = (C_in / groups) * prod(K): PyTorch's _calculate_fan_in_and_fan_out.
  const int64_t fan_in = weight.numel() / weight.size(0);
  if (options.init() == InitMode::MegEngine) {
    // MegEngine: N(0, sqrt(1 / fan_in)) with fan_in over all input channels, bias zeros.
    const double fan_in_all = static_cast<double>(fan_in * options.groups());
    weight.normal_(0.0, std::sqrt(1.0 / fan_in_all), gen);
    if (bias.defined()) bias.copy_(Tensor::zeros(bias.sizes(), bias.dtype()));
    return;
  }
  internal::torch_conv_init(weight, bias, fan_in, gen);
}

template <std::size_t D>
ConvPlan ConvNdImpl<D>::plan_for(const Tensor& x) const {
  PlanCache& c = *cache_;
  const internal::ParamPrints prints = internal::ParamPrints::of(weight, bias);
  std::lock_guard<std::mutex> lock(c.mutex);
  if (!c.matches(*this, x, prints)) {
    // Validation, algorithm choice and weight packing happen here, once per shape/weight.
    // The plan reads weight and bias in place: the key notices when they change.
    c.plan = internal::prepare_plan(ConvSpec::from(options), weight, bias, x);
    c.options = options;
    c.key.record(x, weight, bias, prints, internal::prepared_with_fast_winograd(c.plan));
  }
  return c.plan;
}

template <std::size_t D>
Tensor ConvNdImpl<D>::forward(const Tensor& x) const {
  return plan_for(x).run(x);
}

template <std::size_t D>
Tensor ConvNdImpl<D>::backward(const Tensor& x, const Tensor& grad_output) {
  const bool want_bias = bias.defined();
  const auto g = plan_for(x).backward(x, grad_output, {true, true, want_bias});
  internal::accumulate_grad(weight.mutable_grad(), g.grad_weight);
  if (want_bias) internal::accumulate_grad(bias.mutable_grad(), g.grad_bias);
  return g.grad_input;
}

template <std::size_t D>
void ConvNdImpl<D>::zero_grad() {
  weight.mutable_grad() = Tensor();
  if (bias.defined()) bias.mutable_grad() = Tensor();
}

template <std::size_t D>
int64_t ConvNdImpl<D>::plan_memory_bytes() const {
  const ConvPlan plan = cache_->current();
  return plan.defined() ? plan.memory_bytes() : 0;
}

template <std::size_t D>
const char* ConvNdImpl<D>::plan_algorithm() const {
  const ConvPlan plan = cache_->current();
  return plan.defined() ? plan.algorithm() : "none";
}

template <std::size_t D>
void ConvNdImpl<D>::set_weight(const Tensor& w) {
  CONVKIT_CHECK(w.defined(), "Conv", D, "d: set_weight got an undefined tensor");
  CONVKIT_CHECK(w.dtype() == options.dtype().value, "Conv", D, "d: weight dtype ", dtype_name(w.dtype()),
                " does not match the module's dtype ", dtype_name(options.dtype()));
  const Tensor c = internal::canonical_weight(w, D, options.groups());
  CONVKIT_CHECK(c.sizes() == weight.sizes(), "Conv", D, "d: expected weight of size ", shape_str(weight.sizes()),
                " (or MegEngine's ", shape_str(weight_as(WeightLayout::MegEngine).sizes()), "), but got ",
                shape_str(w.sizes()));
  weight = c.clone();
}

template <std::size_t D>
void ConvNdImpl<D>::set_bias(const Tensor& b) {
  if (!b.defined()) {
    bias = Tensor();
    return;
  }
  CONVKIT_CHECK(b.dtype() == options.dtype().value, "Conv", D, "d: bias dtype ", dtype_name(b.dtype()),
                " does not match the module's dtype ", dtype_name(options.dtype()));
  const Tensor c = internal::canonical_bias(b, D);
  CONVKIT_CHECK(c.dim() == 1 && c.size(0) == options.out_channels(), "Conv", D, "d: expected bias of size [",
                options.out_channels(), "], but got ", shape_str(b.sizes()));
  bias = c.clone();
}

template <std::size_t D>
Tensor ConvNdImpl<D>::weight_as(WeightLayout layout) const {
  if (layout == WeightLayout::Torch) return weight;
  const int64_t g = options.groups();
  Shape s{g, weight.size(0) / g, weight.size(1)};
  for (int64_t i = 2; i < weight.dim(); ++i) s.push_back(weight.size(i));
  return weight.view(s);
}

template class ConvNdImpl<1>;
template class ConvNdImpl<2>;
template class ConvNdImpl<3>;
// (The plan caches' slots, defined in nn/module_util.h; access is not checked here.)
template class detail::CacheSlot<ConvNdImpl<1>::PlanCache>;
template class detail::CacheSlot<ConvNdImpl<2>::PlanCache>;
template class detail::CacheSlot<ConvNdImpl<3>::PlanCache>;

}  // namespace convkit::nn
