// ConvSpec, the rank-free public entry: its conversion to the internal arguments, F::conv and
// F::conv_backward on it, output_shape(), and ConvPlan (prepare once, run many).
#include "conv/spec.h"

#include <algorithm>
#include <mutex>

#include "conv/backward.h"
#include "convkit/nn/functional/conv.h"
#include "convkit/plan.h"
#include "convkit/settings.h"
#include "core/storage.h"

namespace convkit {
namespace internal {

namespace {

std::string list_str(const Shape& v) {
  std::string r;
  for (int64_t e : v) r += str_cat(r.empty() ? "" : ", ", e);
  return "[" + r + "]";
}

// A list field of the spec as `rank` values: {} is the default, one value repeats. The message
// is the one the rank-specific options give for a list of the wrong length.
Shape expand(const Shape& v, int64_t rank, int64_t fallback, const char* name) {
  if (v.empty()) return Shape(static_cast<std::size_t>(rank), fallback);
  if (v.size() == 1) return Shape(static_cast<std::size_t>(rank), v[0]);
  CONVKIT_CHECK(static_cast<int64_t>(v.size()) == rank, "expected ", name,
                " to be a single integer value or a list of ", rank,
                " values to match the convolution dimensions, but got ", name, "=", list_str(v));
  return v;
}

const char* padding_name(nn::PaddingKind k) {
  switch (k) {
    case nn::PaddingKind::Explicit: return "explicit";
    case nn::PaddingKind::Pairs: return "pairs";
    case nn::PaddingKind::Valid: return "valid";
    case nn::PaddingKind::Same: return "same";
    case nn::PaddingKind::Causal: return "causal";
  }
  return "?";
}

// The padding amounts every kind takes: Explicit pads both sides by pad_lo (pad_hi, if given,
// must agree), Pairs takes both, the named kinds take none.
void resolve_padding(const ConvSpec& s, Shape& lo, Shape& hi) {
  switch (s.padding) {
    case nn::PaddingKind::Explicit:
      lo = expand(s.pad_lo, s.rank, 0, "padding");
      hi = s.pad_hi.empty() ? lo : expand(s.pad_hi, s.rank, 0, "pad_hi");
      CONVKIT_CHECK(hi == lo, "ConvSpec: explicit padding pads both sides by pad_lo, but pad_hi=", list_str(s.pad_hi),
                    " differs from pad_lo=", list_str(s.pad_lo), " (use padding kind Pairs for (lo, hi) pairs)");
      return;
    case nn::PaddingKind::Pairs:
      lo = expand(s.pad_lo, s.rank, 0, "pad_lo");
      hi = expand(s.pad_hi, s.rank, 0, "pad_hi");
      return;
    default:
      auto none = [](const Shape& v) { return std::all_of(v.begin(), v.end(), [](int64_t e) { return e == 0; }); };
      CONVKIT_CHECK(none(s.pad_lo) && none(s.pad_hi), "ConvSpec: padding '", padding_name(s.padding),
                    "' takes no amounts, but got pad_lo=", list_str(s.pad_lo), " pad_hi=", list_str(s.pad_hi));
      lo = hi = Shape(static_cast<std::size_t>(s.rank), 0);
  }
}

void check_rank(const ConvSpec& s) {
  CONVKIT_CHECK(s.rank >= 1 && s.rank <= 3, "ConvSpec: rank (the number of spatial dims) must be 1, 2 or 3, got ",
                s.rank);
}

// A tensor of this shape and dtype whose memory is never read: the checks and the plan of a
// prepared convolution need only its input's shape.
Tensor shape_only(const Shape& shape, DType dtype) {
  alignas(64) static const std::byte kNothing[64] = {};
  return Tensor::from_blob(const_cast<std::byte*>(kNothing), shape, dtype, Shape(shape.size(), 0));
}

// The arguments ConvArgs and TransposeArgs both have, from a spec.
template <typename Args>
Args shared_args(const ConvSpec& s) {
  Args a;
  a.dim = s.rank;
  a.stride = expand(s.stride, s.rank, 1, "stride");
  a.dilation = expand(s.dilation, s.rank, 1, "dilation");
  a.padding_kind = s.padding;
  resolve_padding(s, a.pad_lo, a.pad_hi);
  a.groups = s.groups;
  a.padding_mode = s.padding_mode;
  a.device = s.device;
  a.algorithm = s.algorithm;
  return a;
}

}  // namespace

ConvArgs conv_args(const ConvSpec& s) {
  check_rank(s);
  CONVKIT_CHECK(!s.transposed, "ConvSpec: a transposed spec describes conv_transpose", s.rank, "d, not conv", s.rank,
                "d");
  CONVKIT_CHECK(s.output_padding.empty() && s.output_size.empty(), op_name(s.rank),
                ": output_padding and output_size are for transposed convolutions only (ConvSpec.transposed)");
  ConvArgs a = shared_args<ConvArgs>(s);
  a.conv_mode = s.conv_mode;
  a.compute_mode = s.compute_mode;
  return a;
}

TransposeArgs transpose_args(const ConvSpec& s) {
  check_rank(s);
  CONVKIT_CHECK(s.transposed, "ConvSpec: a spec that is not transposed describes conv", s.rank,
                "d, not conv_transpose", s.rank, "d");
  const std::string op = str_cat("conv_transpose", s.rank, "d");
  CONVKIT_CHECK(s.conv_mode == ConvMode::CrossCorrelation, op, ": conv_mode='", name_of(s.conv_mode),
                "' is not supported for transposed convolutions");
  CONVKIT_CHECK(s.compute_mode == ComputeMode::Default, op, ": compute_mode='", name_of(s.compute_mode),
                "' is not supported for transposed convolutions");
  TransposeArgs a = shared_args<TransposeArgs>(s);
  a.output_padding = expand(s.output_padding, s.rank, 0, "output_padding");
  return a;
}

TransposeArgs transpose_args_for(const ConvSpec& s, const Tensor& x, const Tensor& w) {
  TransposeArgs a = transpose_args(s);
  if (s.output_size.empty()) return a;
  // output_size replaces output_padding (PyTorch ignores the layer's own): only the padding it
  // gives is checked.
  a.output_padding.assign(static_cast<std::size_t>(s.rank), 0);
  check_transpose_args(a);
  CONVKIT_CHECK(x.defined() && w.defined() && w.dim() == s.rank + 2, "conv_transpose", s.rank,
                "d: output_size needs a defined input and a weight (C_in, C_out/groups, *K), but got weight of size ",
                w.defined() ? shape_str(w.sizes()) : std::string("undefined"));
  a.output_padding = output_padding_for(x, s.output_size, a, Shape(w.sizes().begin() + 2, w.sizes().end()));
  return a;
}

// What a ConvPlan holds: the checked spec and shapes, and the internal plan of its direction.
struct PreparedConv {
  ConvSpec spec;
  Shape input_shape, output_shape;
  DType dtype = kFloat32;
  std::shared_ptr<const internal::ConvPlan> forward;           // !spec.transposed
  std::shared_ptr<const BackwardDataPlan> transposed;          // spec.transposed
  std::unique_ptr<const GradientPlans> gradients;              // backward()'s, made on first use
  // allow_fast_winograd() when it was made, which the forward plan was made with (a transposed
  // plan's stride-1 route reads it again while it is made).
  bool fast_winograd = false;
  // The forward's other memory format: `forward` serves inputs of the format of the input it
  // was prepared with (channels-last or not); the first input of the other format makes
  // `other` from the same weights, so every call takes F::conv's path for its input.
  bool forward_cl = false;
  bool layouts_differ = false;  // channels_last_plan_differs: else `forward` serves both
  bool weight_cl = false;       // weight_channels_last of the weight as given (channels_last_result)
  ConvParams params;
  Tensor w, b;
  Algorithm algorithm = Algorithm::Auto;
  mutable std::mutex other_mutex;  // (not std::call_once: its instantiation would be exported)
  mutable std::shared_ptr<const internal::ConvPlan> other;

  const internal::ConvPlan& forward_for(const Tensor& x) const {
    const bool cl = params.batched && params.dim == 2 && is_channels_last(x);
    if (cl == forward_cl || !layouts_differ) return *forward;
    const std::lock_guard<std::mutex> lock(other_mutex);
    if (!other) other = make_plan(params, w, b, algorithm, fast_winograd, cl);
    return *other;
  }

  static convkit::ConvPlan wrap(std::shared_ptr<const PreparedConv> p) { return convkit::ConvPlan(std::move(p)); }
  static const PreparedConv& of(const convkit::ConvPlan& plan) { return plan.impl(); }
};

convkit::ConvPlan prepare_plan(const ConvSpec& spec, const Tensor& w, const Tensor& b, const Tensor& x, int weight_cl) {
  auto p = std::make_shared<PreparedConv>();
  p->spec = spec;
  p->input_shape = x.sizes();
  p->dtype = x.dtype();
  p->fast_winograd = allow_fast_winograd();
  if (!spec.transposed) {
    const ConvArgs args = conv_args(spec);
    const ConvCall call = prepare_conv(x, w, b, args);
    p->forward_cl = call.params.batched && call.params.dim == 2 && is_channels_last(x);
    p->forward = make_plan(call.params, call.w, call.b, args.algorithm, p->fast_winograd, p->forward_cl);
    p->params = call.params;
    p->w = call.w;
    p->b = call.b;
    p->algorithm = args.algorithm;
    p->weight_cl = weight_cl < 0 ? weight_channels_last(w) : weight_cl != 0;
    p->layouts_differ = channels_last_plan_differs(call.params, call.w, call.b, args.algorithm, p->fast_winograd);
    p->output_shape = call.params.output_shape();
    if (!call.params.batched) p->output_shape.erase(p->output_shape.begin());
    p->gradients = GradientPlans::for_conv(x, w, args, p->fast_winograd, p->weight_cl);
  } else {
    const TransposeArgs args = transpose_args_for(spec, x, w);
    p->transposed = make_transpose_plan(x, w, b, args);
    p->gradients = GradientPlans::for_transpose(x, w, args, p->fast_winograd);
    const ConvParams& q = p->transposed->params;
    p->output_shape = {q.N, q.C_in};  // the matching convolution's input
    p->output_shape.insert(p->output_shape.end(), q.in_size.begin(), q.in_size.end());
    if (!q.batched) p->output_shape.erase(p->output_shape.begin());
  }
  return PreparedConv::wrap(std::move(p));
}

bool prepared_with_fast_winograd(const convkit::ConvPlan& plan) { return PreparedConv::of(plan).fast_winograd; }

}  // namespace internal

// ---- the public entries ------------------------------------------------------------------

Shape output_shape(const ConvSpec& spec, const Shape& input_shape, const Shape& weight_shape, DType dtype) {
  // A MegEngine grouped weight (groups, C_out/g, C_in/g, *K) as its canonical shape: reshaping
  // the shape-only tensor would copy it (its strides are 0). Any other weight shape is checked
  // as given.
  Shape ws = weight_shape;
  int64_t c_out = 0;
  if (!spec.transposed && spec.rank >= 1 && static_cast<int64_t>(ws.size()) == spec.rank + 3 && ws[0] == spec.groups &&
      !__builtin_mul_overflow(ws[0], ws[1], &c_out)) {
    ws.erase(ws.begin());
    ws[0] = c_out;
  }
  const Tensor x = internal::shape_only(input_shape, dtype), w = internal::shape_only(ws, dtype);
  if (!spec.transposed) {
    const internal::ConvArgs args = internal::conv_args(spec);
    const internal::ConvCall call = internal::prepare_conv(x, w, Tensor(), args);
    Shape s = call.params.output_shape();
    if (!call.params.batched) s.erase(s.begin());
    return s;
  }
  const internal::ConvParams q =
      internal::make_transpose_params(x, w, Tensor(), internal::transpose_args_for(spec, x, w));
  Shape s{q.N, q.C_in};
  s.insert(s.end(), q.in_size.begin(), q.in_size.end());
  if (!q.batched) s.erase(s.begin());
  return s;
}

ConvPlan prepare(const ConvSpec& spec, const Tensor& weight, const Tensor& bias, const Shape& input_shape) {
  CONVKIT_CHECK(weight.defined(), "prepare: weight is undefined");
  // Own copies: the plan must not see later writes to the caller's tensors (algorithms that do
  // not pack keep the weight itself).
  // (A channels-last weight makes the outputs channels-last: its format is read here.)
  return internal::prepare_plan(spec, weight.clone(), bias.defined() ? bias.clone() : bias,
                                internal::shape_only(input_shape, weight.dtype()), internal::weight_channels_last(weight));
}

const internal::PreparedConv& ConvPlan::impl() const {
  CONVKIT_CHECK(impl_, "ConvPlan: the plan is empty (make one with convkit::prepare)");
  return *impl_;
}

namespace {
// The checks of run() and backward(): x has the prepared shape and dtype.
void check_input(const internal::PreparedConv& p, const Tensor& x, const char* fn) {
  CONVKIT_CHECK(x.defined(), "ConvPlan::", fn, ": input is undefined");
  CONVKIT_CHECK(x.sizes() == p.input_shape && x.dtype() == p.dtype, "ConvPlan::", fn, ": the plan was prepared for ",
                dtype_name(p.dtype), " input of size ", shape_str(p.input_shape), ", but got ", dtype_name(x.dtype()),
                " input of size ", shape_str(x.sizes()));
}
}  // namespace

Tensor ConvPlan::run(const Tensor& x) const {
  const internal::PreparedConv& p = impl();
  check_input(p, x, "run");
  return p.forward ? internal::run_plan(p.forward_for(x), x, internal::channels_last_result(p.params, x, p.weight_cl))
                   : internal::run_transpose_plan(*p.transposed, x);
}


nn::functional::ConvGradients ConvPlan::backward(const Tensor& x, const Tensor& grad_output,
                                                 nn::functional::OutputMask mask) const {
  const internal::PreparedConv& p = impl();
  check_input(p, x, "backward");
  return p.gradients->run(grad_output, x, mask);
}

const Shape& ConvPlan::input_shape() const { return impl().input_shape; }
const Shape& ConvPlan::output_shape() const { return impl().output_shape; }
const ConvSpec& ConvPlan::spec() const { return impl().spec; }

const char* ConvPlan::algorithm() const {
  const internal::PreparedConv& p = impl();
  return name_of(p.forward ? p.forward->choice.algorithm : p.transposed->choice.algorithm);
}

int64_t ConvPlan::memory_bytes() const {
  const internal::PreparedConv& p = impl();
  if (!p.forward) return p.transposed->memory_bytes();
  const std::lock_guard<std::mutex> lock(p.other_mutex);
  return p.forward->memory_bytes() + (p.other ? p.other->memory_bytes() : 0);
}

namespace nn::functional {

Tensor conv(const Tensor& x, const Tensor& weight, const Tensor& bias, const ConvSpec& spec) {
  if (!spec.transposed) return internal::conv_forward(x, weight, bias, internal::conv_args(spec));
  return internal::conv_transpose(x, weight, bias, internal::transpose_args_for(spec, x, weight));
}

ConvGradients conv_backward(const Tensor& grad_output, const Tensor& input, const Tensor& weight,
                            const ConvSpec& spec, OutputMask output_mask) {
  if (!spec.transposed) return internal::conv_backward(grad_output, input, weight, internal::conv_args(spec), output_mask);
  return internal::conv_transpose_backward(grad_output, input, weight, internal::transpose_args_for(spec, input, weight),
                                           output_mask);
}

}  // namespace nn::functional
}  // namespace convkit
