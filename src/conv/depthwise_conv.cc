// Direct depthwise convolution (float32, groups == C_in, any multiplier C_out / C_in), 1-d and
// 2-d. Per (image, input channel) task the channel plane is copied once into a padded scratch
// plane — every padding mode materialized, the stride de-interleaved into `sw` phase rows —
// so each output row is a stride-1, bounds-free sweep over KH*KW tap pointers.
#include <omp.h>

#include <algorithm>

#include "conv/plan.h"
#include "convkit/threads.h"
#include "kernels/dwconv/dwconv.h"

namespace convkit::internal {

namespace {


class DepthwisePlan : public ConvPlan {
 public:
  DepthwisePlan(const ConvParams& p, const Tensor& w, const Tensor& b) : kernel_(kernels::dwconv_kernel(max_isa())) {
    params = p;
    // 1-d is 2-d with H = 1.
    const bool one = p.dim == 1;
    auto at = [&](const Shape& v, int i, int64_t fill) { return one ? (i == 0 ? fill : v[0]) : v[static_cast<std::size_t>(i)]; };
    H_ = at(p.in_size, 0, 1), W_ = at(p.in_size, 1, 1);
    Ho_ = at(p.out_size, 0, 1), Wo_ = at(p.out_size, 1, 1);
    KH_ = at(p.kernel, 0, 1), KW_ = at(p.kernel, 1, 1);
    sh_ = at(p.stride, 0, 1), sw_ = at(p.stride, 1, 1);
    dh_ = at(p.dilation, 0, 1), dw_ = at(p.dilation, 1, 1);
    loh_ = at(p.pad_lo, 0, 0), low_ = at(p.pad_lo, 1, 0);
    mult_ = p.C_out / p.C_in;
    taps_ = KH_ * KW_;
    // Padded rows the outputs read, and per phase row the columns they read.
    Hp_ = (Ho_ - 1) * sh_ + (KH_ - 1) * dh_ + 1;
    Wp_ = (Wo_ - 1) * sw_ + (KW_ - 1) * dw_ + 1;
    Lw_ = Wo_ + (KW_ - 1) * dw_ / sw_ + 1;
    // Weights [C_out][taps], reversed for conv_mode=convolution.
    w_ = Tensor::empty({p.C_out, taps_});
    const Tensor wc = w.contiguous();
    const bool flip = p.conv_mode == ConvMode::Convolution;
    for (int64_t co = 0; co < p.C_out; ++co)
      for (int64_t t = 0; t < taps_; ++t)
        w_.data<float>()[co * taps_ + t] = wc.data<float>()[co * taps_ + (flip ? taps_ - 1 - t : t)];
    if (b.defined()) bias_ = b.contiguous().clone();
  }

  int64_t memory_bytes() const override { return w_.numel() * 4 + ws_.bytes(); }

  void run(const Tensor& x, Tensor& y) override {
    const ConvParams& p = params;
    const bool one = p.dim == 1;
    const int64_t xsn = x.stride(0), xsc = x.stride(1);
    const int64_t xsh = one ? 0 : x.stride(2), xsw = x.stride(one ? 2 : 3);
    const int64_t tasks = p.N * p.C_in;
    const int threads = threads_for(tasks, 2.0 * static_cast<double>(p.N * p.C_out * Ho_ * Wo_ * taps_));
    const int64_t plane = Hp_ * sw_ * Lw_;
    ws_.reserve(threads, plane);
    const float* xp = x.data<float>();
    float* yp = y.data<float>();
    const PaddingMode mode = p.padding_mode;

#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t task = 0; task < tasks; ++task) {
      const int64_t n = task / p.C_in, c = task % p.C_in;
      float* pl = ws_.get(omp_get_thread_num());
      const float* xc = xp + n * xsn + c * xsc;
      // [Hp rows][sw phases][Lw]: pl[(r * sw + s) * Lw + i] = padded(r, i * sw + s).
      for (int64_t r = 0; r < Hp_; ++r) {
        const int64_t ih = source_index(r - loh_, H_, mode);
        for (int64_t s = 0; s < sw_; ++s) {
          float* dst = pl + (r * sw_ + s) * Lw_;
          for (int64_t i = 0; i < Lw_; ++i) {
            // Columns past Wp are never read; leaving them zero also keeps reflect in range.
            const int64_t col = i * sw_ + s;
            const int64_t iw = ih < 0 || col >= Wp_ ? -1 : source_index(col - low_, W_, mode);
            dst[i] = iw < 0 ? 0.0f : xc[ih * xsh + iw * xsw];
          }
        }
      }
      const float* tap[kDepthwiseMaxTaps];
      for (int64_t m = 0; m < mult_; ++m) {
        const int64_t co = c * mult_ + m;
        const float bias = bias_.defined() ? bias_.data<float>()[co] : 0.0f;
        for (int64_t oh = 0; oh < Ho_; ++oh) {
          for (int64_t kh = 0; kh < KH_; ++kh)
            for (int64_t kw = 0; kw < KW_; ++kw) {
              const int64_t col = kw * dw_;
              tap[kh * KW_ + kw] = pl + ((oh * sh_ + kh * dh_) * sw_ + col % sw_) * Lw_ + col / sw_;
            }
          kernel_.fn(tap, w_.data<float>() + co * taps_, taps_, yp + ((n * p.C_out + co) * Ho_ + oh) * Wo_, Wo_, bias);
        }
      }
    }
  }

 private:
  const kernels::DwconvKernel& kernel_;
  int64_t H_, W_, Ho_, Wo_, KH_, KW_, sh_, sw_, dh_, dw_, loh_, low_, mult_, taps_, Hp_, Wp_, Lw_;
  Tensor w_, bias_;
  Workspace ws_;
};

}  // namespace

std::unique_ptr<ConvPlan> make_depthwise_plan(const ConvParams& p, const Tensor& w, const Tensor& b) {
  return std::make_unique<DepthwisePlan>(p, w, b);
}

}  // namespace convkit::internal
