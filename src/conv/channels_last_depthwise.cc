// The float32 depthwise forward (one output channel per input channel) of a 2-d layer on
// channels-last data, written channels-last, with no layout change of either tensor: per
// output row, the dwconv family's channels-last row kernel runs the channels in vector lanes
// over the input rows its kernel rows read (zero padding: rows and columns outside the input
// are skipped, never copied).
#include <omp.h>

#include <vector>

#include "conv/plan.h"
#include "core/storage.h"
#include "kernels/dwconv/dwconv.h"

namespace convkit::internal {

namespace {

class ChannelsLastDepthwisePlan : public ConvPlan {
 public:
  ChannelsLastDepthwisePlan(const ConvParams& p, const Tensor& w, const Tensor& b)
      : g3_(lift3(p)), kernel_(kernels::dwconv_kernel(max_isa())) {
    params = p;
    // w [C, 1, KH, KW] -> [KH][KW][C]; conv_mode=convolution reads the kernel back to front.
    const int64_t C = p.C_out, taps = g3_.taps();
    w_ = Tensor::empty({taps * C});
    const Tensor wc = w.contiguous();
    const float* src = wc.const_data<float>();
    float* dst = internal::mutable_data<float>(w_);
    const bool flip = p.conv_mode == ConvMode::Convolution;
    for (int64_t c = 0; c < C; ++c)
      for (int64_t t = 0; t < taps; ++t) dst[t * C + c] = src[c * taps + (flip ? taps - 1 - t : t)];
    if (b.defined()) bias_ = b.contiguous().clone();
  }

  bool writes_channels_last() const override { return true; }

  void run(const Tensor& x, Tensor& y) const override {
    const ConvParams& p = params;
    const Lifted& g = g3_;
    const int64_t C = p.C_out, Ho = g.O[1], Wo = g.O[2];
    CONVKIT_CHECK(y.stride(1) == 1 && y.stride(3) == C && y.stride(2) == Wo * C && y.stride(0) == Ho * Wo * C,
                  "internal: the channels-last depthwise plan writes a channels-last output");
    // The kernel reads channels contiguous: a channels-last input whose channel stride is not
    // 1 (possible for strides PyTorch's rule calls channels-last) is copied first.
    Tensor xc = x;
    if (x.stride(1) != 1) {
      xc = Tensor::empty({p.N, g.S[1], g.S[2], C}).permute({0, 3, 1, 2});
      xc.copy_(x);
    }
    const float* xp = xc.const_data<float>();
    const int64_t xs_n = xc.stride(0), xs_h = xc.stride(2), xs_w = xc.stride(3);
    float* yp = internal::mutable_data<float>(y);
    const float* bias = bias_.defined() ? bias_.const_data<float>() : nullptr;
    const int64_t rows = p.N * Ho;
    const int threads = threads_for(rows, 2.0 * static_cast<double>(rows * Wo * C * g.taps()));
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
      std::vector<const float*> taps(static_cast<std::size_t>(g.K[1]));
#pragma omp for schedule(static)
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t n = r / Ho, oh = r % Ho;
        for (int64_t kh = 0; kh < g.K[1]; ++kh) {  // the input row of each kernel row, or padding
          const int64_t ih = oh * g.st[1] + kh * g.dl[1] - g.lo[1];
          taps[static_cast<std::size_t>(kh)] = ih >= 0 && ih < g.S[1] ? xp + n * xs_n + ih * xs_h : nullptr;
        }
        const kernels::DwNhwcRow a{taps.data(), g.K[1], g.K[2], w_.const_data<float>(), bias,
                                   C,           g.S[2], xs_w,   Wo,
                                   g.st[2],     g.dl[2], g.lo[2], yp + r * Wo * C, C};
        kernel_.nhwc_row(a);
      }
    }
  }

  int64_t memory_bytes() const override { return w_.numel() * 4 + (bias_.defined() ? bias_.numel() * 4 : 0); }

 private:
  Lifted g3_;
  const kernels::DwconvKernel& kernel_;
  Tensor w_, bias_;  // [KH][KW][C], [C]
};

}  // namespace

bool channels_last_depthwise_serves(const ConvParams& p) {
  return p.direction == Direction::Forward && !p.transposed && p.dim == 2 && p.dtype == kFloat32 &&
         p.groups == p.C_in && p.C_out == p.C_in && p.padding_mode == PaddingMode::Zeros;
}

std::unique_ptr<ConvPlan> make_channels_last_depthwise_plan(const ConvParams& p, const Tensor& w, const Tensor& b) {
  return std::make_unique<ChannelsLastDepthwisePlan>(p, w, b);
}

}  // namespace convkit::internal
