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

Tensor run_plan(const ConvPlan& plan, const Tensor& x) {
  const ConvParams& p = plan.params;
  // [C_in, *S] -> [1, C_in, *S]: unbatched input is a batch of one (a view, no copy).
  const Tensor xb = p.batched ? x : x.unsqueeze(0);
  // A channels-last input gives a channels-last output (PyTorch's Conv2d). A plan that writes
  // the other format computes into a buffer that is then converted; a planar plan also gets
  // the input planar (a transpose per image for float32: the planar paths read strided
  // channels slowly, 15x on depthwise layers).
  const Shape s = p.output_shape();  // [N, C_out, *S_out]
  const bool cl = p.batched && p.dim == 2 && is_channels_last(x);
  Tensor y = cl ? Tensor::empty({s[0], s[2], s[3], s[1]}, p.dtype).permute({0, 3, 1, 2}) : Tensor::empty(s, p.dtype);
  if (y.numel() == 0) return p.batched ? y : y.squeeze(0);
  if (plan.writes_channels_last() == cl) {
    plan.run(xb, y);
  } else {
    Tensor other = cl ? Tensor::empty(s, p.dtype) : Tensor::empty({s[0], s[2], s[3], s[1]}, p.dtype).permute({0, 3, 1, 2});
    plan.run(cl ? xb.contiguous() : xb, other);
    y.copy_(other);
  }
  return p.batched ? y : y.squeeze(0);
}

Tensor conv_forward(const Tensor& x, const Tensor& w_any, const Tensor& b_any, const ConvArgs& args) {
  const ConvCall c = prepare_conv(x, w_any, b_any, args);
  const bool cl = c.params.batched && c.params.dim == 2 && is_channels_last(x);
  const auto plan = make_plan(c.params, c.w, c.b, args.algorithm, allow_fast_winograd(), cl);
  return run_plan(*plan, x);
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
