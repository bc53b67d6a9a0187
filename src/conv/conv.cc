#include "conv/conv.h"

#include <algorithm>

#include "convkit/nn/functional/conv.h"
#include "convkit/settings.h"
#include "core/storage.h"
#include "kernels/transpose/transpose.h"

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

namespace {

// [N, C, H, W] contiguous -> channels-last dst (to_cl), or back: per image a transpose of
// [C][H W] or [H W][C], 16 rows per kernel call.
void convert_layout(const Tensor& src, Tensor& dst, bool to_cl) {
  if (src.dtype() != kFloat32) {
    dst.copy_(src);
    return;
  }
  const int64_t N = src.size(0), C = src.size(1), P = src.size(2) * src.size(3);
  const int64_t R = to_cl ? C : P, L = to_cl ? P : C;  // rows of the source matrix, their length
  const auto& k = kernels::transpose_kernel(max_isa());
  const float* sp = src.const_data<float>();
  float* dp = internal::mutable_data<float>(dst);
  const int64_t blocks = ceil_div(R, kernels::kTransposeMaxRows);
  const int threads = threads_for(N * blocks, static_cast<double>(N * R * L) * 2);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
  for (int64_t t = 0; t < N * blocks; ++t) {
    const int64_t n = t / blocks, r0 = t % blocks * kernels::kTransposeMaxRows;
    const int64_t rows = std::min(kernels::kTransposeMaxRows, R - r0);
    const float* rowp[kernels::kTransposeMaxRows];
    for (int64_t i = 0; i < rows; ++i) rowp[i] = sp + n * C * P + (r0 + i) * L;
    k.fn(rowp, 1, rows, L, dp + n * C * P + r0, R);
  }
}

}  // namespace

Tensor run_plan(const ConvPlan& plan, const Tensor& x) {
  const ConvParams& p = plan.params;
  // [C_in, *S] -> [1, C_in, *S]: unbatched input is a batch of one (a view, no copy).
  const Tensor xb = p.batched ? x : x.unsqueeze(0);
  // A channels-last input gives a channels-last output (PyTorch's Conv2d); a plan that writes
  // the other format computes into a buffer that is then converted.
  const Shape s = p.output_shape();  // [N, C_out, *S_out]
  const bool cl = p.batched && p.dim == 2 && is_channels_last(x);
  Tensor y = cl ? Tensor::empty({s[0], s[2], s[3], s[1]}, p.dtype).permute({0, 3, 1, 2}) : Tensor::empty(s, p.dtype);
  if (y.numel() == 0) return p.batched ? y : y.squeeze(0);
  if (plan.writes_channels_last() == cl) {
    plan.run(xb, y);
  } else {
    Tensor other = cl ? Tensor::empty(s, p.dtype) : Tensor::empty({s[0], s[2], s[3], s[1]}, p.dtype).permute({0, 3, 1, 2});
    plan.run(xb, other);
    convert_layout(other, y, cl);
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
