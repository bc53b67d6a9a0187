#include "conv/backward.h"

#include "convkit/settings.h"
#include "core/storage.h"

#include <iterator>
#include <list>
#include <mutex>
#include <vector>

namespace convkit {
namespace internal {

namespace {

using nn::functional::ConvGradients;
using nn::functional::OutputMask;

// [C, *S] -> [1, C, *S] for unbatched tensors (a view).
Tensor batched_view(const Tensor& t, const ConvParams& p) { return p.batched ? t : t.unsqueeze(0); }

// gy as the gradient paths read it best. Each direction reads it in full and some step through
// it element by element with its strides: a gy that is not contiguous — typically the
// stride-0 expansion autograd makes for y.sum() — is copied once (5x faster depthwise weight
// gradients for it).
Tensor dense(const Tensor& gy) { return gy.is_contiguous() ? gy : gy.contiguous(); }
Tensor unbatched_if(const Tensor& t, const ConvParams& p) { return p.batched ? t : t.squeeze(0); }

// grad_output must have the shape of the output the forward call gave, and its dtype.
void check_grad_output(const Tensor& gy, const ConvParams& p, const Shape& out_batched, const Tensor& x) {
  const std::string op = op_label(p);
  CONVKIT_CHECK(gy.defined(), op, " backward: grad_output is undefined");
  Shape want = out_batched;
  if (!p.batched) want.erase(want.begin());
  CONVKIT_CHECK(gy.sizes() == want, op, " backward: expected grad_output of size ", shape_str(want),
                " (the output's size for input of size ", shape_str(x.sizes()), "), but got grad_output of size ",
                shape_str(gy.sizes()));
  CONVKIT_CHECK(gy.dtype() == p.dtype, op, " backward: grad_output dtype ", dtype_name(gy.dtype()),
                " should be the input's dtype ", dtype_name(p.dtype));
}

Tensor run_channel_sums(const Tensor& t, int64_t channels, DType dtype) {
  Tensor s = Tensor::empty({channels}, dtype);
  channel_sums(t, s);
  return s;
}

}  // namespace

Tensor conj_if_complex(const Tensor& t) {
  if (t.dtype() != kComplex64 && t.dtype() != kComplex128) return t;
  Tensor c = t.contiguous().clone();
  visit_dtype(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, complex64> || std::is_same_v<T, complex128>) {
      T* p = static_cast<T*>(mutable_data_ptr(c));
      for (int64_t i = 0; i < c.numel(); ++i) p[i] = std::conj(p[i]);
    }
  });
  return c;
}

std::unique_ptr<GradientPlans> GradientPlans::for_conv(const Tensor& x, const Tensor& w_any, const ConvArgs& args,
                                                       bool fast_winograd, int weight_cl) {
  // The forward call's params; gradients are its other two directions.
  const ConvCall c = prepare_conv(x, w_any, Tensor(), args);
  std::unique_ptr<GradientPlans> g(new GradientPlans());
  g->p_ = c.params;
  g->w_ = conj_if_complex(c.w);
  g->w_shape_ = w_any.sizes();
  g->weight_cl_ = weight_cl < 0 ? weight_channels_last(w_any) : weight_cl != 0;
  g->algorithm_ = args.algorithm;
  g->fast_winograd_ = fast_winograd;
  return g;
}

std::unique_ptr<GradientPlans> GradientPlans::for_transpose(const Tensor& x, const Tensor& w, const TransposeArgs& args,
                                                            bool fast_winograd) {
  std::unique_ptr<GradientPlans> g(new GradientPlans());
  g->p_ = make_transpose_params(x, w, Tensor(), args);
  g->transposed_ = true;
  g->w_ = conj_if_complex(w);
  g->w_shape_ = w.sizes();
  g->algorithm_ = args.algorithm;
  g->fast_winograd_ = fast_winograd;
  return g;
}

ConvGradients GradientPlans::run(const Tensor& gy, const Tensor& x, OutputMask mask) const {
  const ConvParams& p = p_;
  ConvGradients g;
  if (!transposed_) {
    check_grad_output(gy, p, p.output_shape(), x);
    const bool cl = channels_last_result(p, x, weight_cl_);  // the forward's output format
    // In the forward's memory format, as PyTorch's; with a padding mode other than zeros
    // contiguous (there it is the gradient of the padded copy torch.nn's modules make, which
    // comes back contiguous).
    const bool dx_cl = cl && p.padding_mode == PaddingMode::Zeros;
    Tensor gyb;  // [N, C_out, *S_out] dense, made when a path reads it
    auto planar_gy = [&]() -> const Tensor& {
      if (!gyb.defined()) gyb = batched_view(dense(gy), p);
      return gyb;
    };
    if (mask[0]) {  // dx[N, C_in, *S_in]: the transpose of conv(., w) applied to dy
      std::call_once(data_once_, [&] {
        ConvParams q = p;
        q.direction = Direction::BackwardData;
        q.has_bias = false;
        data_ = make_backward_data_plan(q, w_, Tensor(), algorithm_, fast_winograd_);
      });
      Shape shape{p.N, p.C_in};
      shape.insert(shape.end(), p.in_size.begin(), p.in_size.end());
      if (dx_cl && p.batched && data_->serves_channels_last()) {  // dy and dx channels-last, no conversion
        Tensor dx = empty_channels_last(shape, p.dtype);
        if (dx.numel() > 0) data_->run_channels_last(is_channels_last(gy) ? gy : to_channels_last(gy), dx);
        g.grad_input = dx;
      } else {
        Tensor dx = Tensor::empty(shape, p.dtype);
        if (dx.numel() > 0) data_->run(planar_gy(), dx);
        g.grad_input = unbatched_if(dx, p);
        if (dx_cl) g.grad_input = to_channels_last(g.grad_input);
      }
    }
    // The bias gradient sums dy's channels: with the weight gradient's own reads when it has one.
    Tensor gb = mask[2] ? Tensor::empty({p.C_out}, p.dtype) : Tensor();
    if (mask[1]) {
      // (A MegEngine grouped weight's gradient keeps that layout, contiguous.)
      const bool dw_cl = cl && w_shape_.size() == 4;
      const Tensor dw = weight_gradient(conj_if_complex(batched_view(x, p)), planar_gy(), mask[2] ? &gb : nullptr, dw_cl);
      g.grad_weight = dw_cl ? dw : dw.view(w_shape_);
    } else if (mask[2]) {
      channel_sums(planar_gy(), gb);
    }
    if (mask[2]) g.grad_bias = gb;
    return g;
  }
  Shape out{p.N, p.C_in};
  out.insert(out.end(), p.in_size.begin(), p.in_size.end());
  check_grad_output(gy, p, out, x);
  // In the matching convolution's terms gy is an input [N, C_in, *S_in] and x a grad_output
  // [N, C_out, *S_out]: grad_input is the convolution's forward of gy, grad_weight its
  // backward_weights with the roles swapped.
  const Tensor gyb = batched_view(dense(gy), p), xb = batched_view(x, p);
  if (mask[0]) {
    ConvParams pf = p;
    pf.direction = Direction::Forward;
    pf.has_bias = false;
    std::call_once(data_once_, [&] { data_forward_ = make_plan(pf, w_, Tensor(), algorithm_, fast_winograd_); });
    Tensor gx = Tensor::empty(pf.output_shape(), p.dtype);
    if (gx.numel() > 0) data_forward_->run(gyb, gx);
    g.grad_input = unbatched_if(gx, p);
  }
  if (mask[1]) g.grad_weight = weight_gradient(gyb, conj_if_complex(xb), nullptr);
  if (mask[2]) g.grad_bias = run_channel_sums(gyb, p.C_in, p.dtype);
  return g;
}

// dw[C_out, C_in/groups, *K] = sum over N and S_out of dy[N, C_out, *S_out] times the inputs
// of x[N, C_in, *S_in] each tap read; and with gb, gb[C_out] = dy's channel sums.
Tensor GradientPlans::weight_gradient(const Tensor& x, const Tensor& dy, Tensor* gb, bool cl) const {
  ConvParams q = p_;
  q.direction = Direction::BackwardWeights;
  q.has_bias = false;
  std::call_once(weights_once_, [&] { weights_ = shared_weights_plan(q, algorithm_); });
  const bool direct = cl && weights_->writes_channels_last();
  Tensor dw = direct ? empty_channels_last(q.weight_shape(), q.dtype) : Tensor::empty(q.weight_shape(), q.dtype);
  weights_->run_with_bias(x, dy, dw, gb);
  return cl && !direct ? to_channels_last(dw) : dw;
}

namespace {

// The kept plans, most recently used first (shared_weights_plan).
using KeptPlan = std::pair<std::vector<int64_t>, std::shared_ptr<const BackwardWeightsPlan>>;
std::mutex& kept_mutex() {
  static std::mutex m;
  return m;
}
std::list<KeptPlan>& kept_plans() {
  static std::list<KeptPlan> kept;
  return kept;
}
void drop_kept_plans() {
  std::list<KeptPlan> dropped;  // (freed outside the lock)
  const std::lock_guard<std::mutex> lock(kept_mutex());
  dropped.swap(kept_plans());
}

}  // namespace

std::shared_ptr<const BackwardWeightsPlan> shared_weights_plan(const ConvParams& q, Algorithm forced) {
  // Plans kept: a ResNet-50 has 23 distinct layer shapes, all met each step; and at most this
  // many bytes of their buffers (each keeps its last run's copies and products).
  constexpr std::size_t kKept = 64;
  constexpr int64_t kKeptBytes = int64_t{256} << 20;
  static const bool hooked = (add_release_hook(drop_kept_plans), true);  // release_cached_memory() drops them
  (void)hooked;
  std::vector<int64_t> key = {static_cast<int64_t>(q.direction), q.transposed, q.dim, q.batched, q.N, q.C_in, q.C_out,
                              q.groups, static_cast<int64_t>(q.padding_mode), static_cast<int64_t>(q.conv_mode),
                              static_cast<int64_t>(q.compute_mode), static_cast<int64_t>(q.dtype), q.has_bias,
                              static_cast<int64_t>(forced), static_cast<int64_t>(max_isa()),
                              channels_last_weights_min_channels(), channels_last_piece_bytes(), tap_source_limit()};
  for (const Shape* v : {&q.in_size, &q.kernel, &q.stride, &q.dilation, &q.pad_lo, &q.pad_hi, &q.out_size}) {
    key.push_back(static_cast<int64_t>(v->size()));
    key.insert(key.end(), v->begin(), v->end());
  }
  auto find = [&]() -> std::shared_ptr<const BackwardWeightsPlan> {  // (under the lock)
    std::list<KeptPlan>& kept = kept_plans();
    for (auto it = kept.begin(); it != kept.end(); ++it)
      if (it->first == key) {
        kept.splice(kept.begin(), kept, it);
        return kept.front().second;
      }
    return nullptr;
  };
  {
    const std::lock_guard<std::mutex> lock(kept_mutex());
    if (auto plan = find()) return plan;
  }
  std::shared_ptr<const BackwardWeightsPlan> plan = make_backward_weights_plan(q, forced);  // (outside the lock)
  std::list<KeptPlan> dropped;  // (freed outside the lock)
  const std::lock_guard<std::mutex> lock(kept_mutex());
  if (auto made = find()) return made;  // another caller made it meanwhile
  std::list<KeptPlan>& kept = kept_plans();
  kept.emplace_front(std::move(key), plan);
  int64_t bytes = 0;
  for (const KeptPlan& k : kept) bytes += k.second->memory_bytes();
  while (kept.size() > 1 && (kept.size() > kKept || bytes > kKeptBytes)) {
    bytes -= kept.back().second->memory_bytes();
    dropped.splice(dropped.begin(), kept, std::prev(kept.end()));
  }
  return plan;
}

ConvGradients conv_backward(const Tensor& gy, const Tensor& x, const Tensor& w_any, const ConvArgs& args,
                            OutputMask mask) {
  return GradientPlans::for_conv(x, w_any, args, allow_fast_winograd())->run(gy, x, mask);
}

std::unique_ptr<BackwardDataPlan> make_transpose_plan(const Tensor& x, const Tensor& w, const Tensor& b,
                                                      const TransposeArgs& args) {
  return make_backward_data_plan(make_transpose_params(x, w, b, args), w, b.defined() ? b.contiguous() : b,
                                 args.algorithm, allow_fast_winograd());
}

Tensor run_transpose_plan(const BackwardDataPlan& plan, const Tensor& x) {
  // The transposed layer's input is its matching convolution's grad_output.
  const ConvParams& p = plan.params;
  Shape shape{p.N, p.C_in};
  shape.insert(shape.end(), p.in_size.begin(), p.in_size.end());
  Tensor y = Tensor::empty(shape, p.dtype);
  if (y.numel() > 0) plan.run(batched_view(x, p), y);
  return unbatched_if(y, p);
}

Tensor conv_transpose(const Tensor& x, const Tensor& w, const Tensor& b, const TransposeArgs& args) {
  return run_transpose_plan(*make_transpose_plan(x, w, b, args), x);
}

ConvGradients conv_transpose_backward(const Tensor& gy, const Tensor& x, const Tensor& w, const TransposeArgs& args,
                                      OutputMask mask) {
  return GradientPlans::for_transpose(x, w, args, allow_fast_winograd())->run(gy, x, mask);
}

}  // namespace internal

namespace nn::functional {

ConvGradients conv_backward(const Tensor& gy, const Tensor& x, const Tensor& w, const Conv1dFuncOptions& o,
                            OutputMask mask) {
  return internal::conv_backward(gy, x, w, internal::conv_args(ConvSpec::from(o)), mask);
}
ConvGradients conv_backward(const Tensor& gy, const Tensor& x, const Tensor& w, const Conv2dFuncOptions& o,
                            OutputMask mask) {
  return internal::conv_backward(gy, x, w, internal::conv_args(ConvSpec::from(o)), mask);
}
ConvGradients conv_backward(const Tensor& gy, const Tensor& x, const Tensor& w, const Conv3dFuncOptions& o,
                            OutputMask mask) {
  return internal::conv_backward(gy, x, w, internal::conv_args(ConvSpec::from(o)), mask);
}

Tensor conv_transpose1d(const Tensor& x, const Tensor& w, const Tensor& b, const ConvTranspose1dFuncOptions& o) {
  return internal::conv_transpose(x, w, b, internal::transpose_args(ConvSpec::from(o)));
}
Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor& b, const ConvTranspose2dFuncOptions& o) {
  return internal::conv_transpose(x, w, b, internal::transpose_args(ConvSpec::from(o)));
}
Tensor conv_transpose3d(const Tensor& x, const Tensor& w, const Tensor& b, const ConvTranspose3dFuncOptions& o) {
  return internal::conv_transpose(x, w, b, internal::transpose_args(ConvSpec::from(o)));
}

ConvGradients conv_transpose_backward(const Tensor& gy, const Tensor& x, const Tensor& w,
                                      const ConvTranspose1dFuncOptions& o, OutputMask mask) {
  return internal::conv_transpose_backward(gy, x, w, internal::transpose_args(ConvSpec::from(o)), mask);
}
ConvGradients conv_transpose_backward(const Tensor& gy, const Tensor& x, const Tensor& w,
                                      const ConvTranspose2dFuncOptions& o, OutputMask mask) {
  return internal::conv_transpose_backward(gy, x, w, internal::transpose_args(ConvSpec::from(o)), mask);
}
ConvGradients conv_transpose_backward(const Tensor& gy, const Tensor& x, const Tensor& w,
                                      const ConvTranspose3dFuncOptions& o, OutputMask mask) {
  return internal::conv_transpose_backward(gy, x, w, internal::transpose_args(ConvSpec::from(o)), mask);
}

}  // namespace nn::functional
}  // namespace convkit
