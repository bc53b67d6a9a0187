#include "conv/conv.h"

#include "convkit/nn/functional/conv.h"
#include "convkit/settings.h"

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
  Tensor y = Tensor::empty(p.output_shape(), p.dtype);  // [N, C_out, *S_out]
  if (y.numel() > 0) plan.run(xb, y);
  return p.batched ? y : y.squeeze(0);
}

Tensor conv_forward(const Tensor& x, const Tensor& w_any, const Tensor& b_any, const ConvArgs& args) {
  const ConvCall c = prepare_conv(x, w_any, b_any, args);
  const auto plan = make_plan(c.params, c.w, c.b, args.algorithm, allow_fast_winograd());
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
