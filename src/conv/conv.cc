#include "conv/conv.h"

#include "conv/reference.h"
#include "conv/select.h"
#include "convkit/nn/functional/conv.h"

namespace convkit {
namespace internal {

Tensor conv_forward(const Tensor& x, const Tensor& w_any, const Tensor& b_any, const ConvArgs& args) {
  CONVKIT_CHECK(args.device == "cpu", op_name(args.dim), ": device '", args.device,
                "' is not supported: convkit computes on the CPU only (device='cpu')");
  CONVKIT_CHECK(args.groups > 0, "non-positive groups is not supported: got groups=", args.groups);
  const Tensor w = canonical_weight(w_any, args.dim, args.groups);
  Tensor b = canonical_bias(b_any, args.dim);
  if (b.defined()) b = b.contiguous();
  const ConvParams p = make_conv_params(x, w, b, args);

  // [C_in, *S] -> [1, C_in, *S]: unbatched input is a batch of one (a view, no copy).
  const Tensor xb = p.batched ? x : x.unsqueeze(0);
  Tensor y = Tensor::empty(p.output_shape(), p.dtype);  // [N, C_out, *S_out]
  const AlgorithmChoice choice = select_algorithm(p);
  log_choice(p, choice);
  switch (choice.algorithm) {
    case Algorithm::Reference:
      reference_conv(p, xb, w, b, y);
      break;
  }
  return p.batched ? y : y.squeeze(0);
}

}  // namespace internal

namespace nn::functional {

Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv1dFuncOptions& o) {
  return internal::conv_forward(x, weight, bias, internal::conv_args<1>(o));
}
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dFuncOptions& o) {
  return internal::conv_forward(x, weight, bias, internal::conv_args<2>(o));
}
Tensor conv3d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv3dFuncOptions& o) {
  return internal::conv_forward(x, weight, bias, internal::conv_args<3>(o));
}

}  // namespace nn::functional
}  // namespace convkit
