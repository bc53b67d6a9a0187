#include "conv/conv.h"

#include <algorithm>

#include "convkit/nn/functional/conv.h"
#include "convkit/settings.h"
#include "core/storage.h"

namespace convkit {
namespace internal {

ConvCall prepare_conv(const Tensor& x, const Tensor& w_any, const Tensor& b_any, const ConvArgs& args) {
  CONVKIT_CHECK(args.device == "cpu", op_name(args.dim), ": device '", args.device,
                "' is not supported: convkit computes on the CPU only (device='cpu')");
  CONVKIT_CHECK(args.groups > 0, "non-positive groups is not supported: got groups=", args.groups);
  ConvCall c;
  c.w = canonical_weight(w_any, args.dim, args.groups);
  c.b = canonical_bias(b_any, args.dim);
  if (c.b.defined()) c.b = c.b.contiguous();
  c.params = make_conv_params(x, c.w, c.b, args);
  return c;
}

bool weight_channels_last(const Tensor& w) { return w.dim() == 4 && is_channels_last(w); }

bool channels_last_result(const ConvParams& p, const Tensor& x, bool weight_cl) {
  if (p.dim != 2 || p.transposed) return false;
  return weight_cl || (p.batched && p.padding_mode == PaddingMode::Zeros && is_channels_last(x));
}

Tensor empty_channels_last(const Shape& s, DType dtype) {
  return Tensor::empty({s[0], s[2], s[3], s[1]}, dtype).permute({0, 3, 1, 2});
}

Tensor to_channels_last(const Tensor& t) {
  const bool batched = t.dim() == 4;
  const Tensor tb = batched ? t : t.unsqueeze(0);
  Tensor c = empty_channels_last(tb.sizes(), tb.dtype());
  c.copy_(tb);
  return batched ? c : c.squeeze(0);
}

Tensor run_plan(const ConvPlan& plan, const Tensor& x, bool cl) {
  const ConvParams& p = plan.params;
  // [C_in, *S] -> [1, C_in, *S]: unbatched input is a batch of one (a view, no copy).
  const Tensor xb = p.batched ? x : x.unsqueeze(0);
  // A plan that writes the other format than the output's computes into a buffer that is then
  // converted; a planar plan also gets the input planar (a transpose per image for float32: the
  // planar paths read strided channels slowly, 15x on depthwise layers).
  const Shape s = p.output_shape();  // [N, C_out, *S_out]
  Tensor y = cl ? empty_channels_last(s, p.dtype) : Tensor::empty(s, p.dtype);
  if (y.numel() == 0) return p.batched ? y : y.squeeze(0);
  const Tensor in = !plan.writes_channels_last() && p.dim == 2 && is_channels_last(xb) ? xb.contiguous() : xb;
  if (plan.writes_channels_last() == cl) {
    plan.run(in, y);
  } else {
    Tensor other = cl ? Tensor::empty(s, p.dtype) : empty_channels_last(s, p.dtype);
    plan.run(in, other);
    y.copy_(other);
  }
  return p.batched ? y : y.squeeze(0);
}

Tensor conv_forward(const Tensor& x, const Tensor& w_any, const Tensor& b_any, const ConvArgs& args) {
  const ConvCall c = prepare_conv(x, w_any, b_any, args);
  // The plan follows the input's format (it reads it); the output's may differ.
  const bool cl = c.params.batched && c.params.dim == 2 && is_channels_last(x);
  const auto plan = make_plan(c.params, c.w, c.b, args.algorithm, allow_fast_winograd(), cl);
  return run_plan(*plan, x, channels_last_result(c.params, x, weight_channels_last(w_any)));
}

}  // namespace internal

namespace nn::functional {

Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv1dFuncOptions& o) {
  return internal::conv_forward(x, weight, bias, internal::conv_args(ConvSpec::from(o)));
}
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dFuncOptions& o) {
  return internal::conv_forward(x, weight, bias, internal::conv_args(ConvSpec::from(o)));
}
Tensor conv3d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv3dFuncOptions& o) {
  return internal::conv_forward(x, weight, bias, internal::conv_args(ConvSpec::from(o)));
}

}  // namespace nn::functional
}  // namespace convkit
