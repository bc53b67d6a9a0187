// Direct convolution for depthwise and few-channels-per-group layers (float32, 1-d and 2-d).
// Per (image, group) task the group's input channel planes are copied once into padded
// scratch planes — every padding mode materialized, the stride de-interleaved into `sw` phase
// rows — so each output row is one stride-1, bounds-free sweep over C_in/groups * KH * KW tap
// pointers (the dwconv row kernel). Depthwise with multiplier K is groups == C_in, C_in/g = 1.
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "conv/plan.h"
#include "kernels/dwconv/dwconv.h"

namespace convkit::internal {

namespace {

class DirectPlan : public ConvPlan {
 public:
  DirectPlan(const ConvParams& p, const Tensor& w, const Tensor& b) : kernel_(kernels::dwconv_kernel(max_isa())) {
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
    cin_g_ = p.c_in_per_group();
    cout_g_ = p.c_out_per_group();
    taps_ = KH_ * KW_;
    // Padded rows the outputs read, the padded columns they read, and per phase row the
    // columns stored (enough for every tap's Wo-long sweep).
    Hp_ = (Ho_ - 1) * sh_ + (KH_ - 1) * dh_ + 1;
    Wp_ = (Wo_ - 1) * sw_ + (KW_ - 1) * dw_ + 1;
    Lw_ = Wo_ + (KW_ - 1) * dw_ / sw_ + 1;
    // Weights [C_out][C_in/g][taps], each channel's taps reversed for conv_mode=convolution.
    w_ = Tensor::empty({p.C_out, cin_g_ * taps_});
    const Tensor wc = w.contiguous();
    const bool flip = p.conv_mode == ConvMode::Convolution;
    for (int64_t co = 0; co < p.C_out; ++co)
      for (int64_t ci = 0; ci < cin_g_; ++ci)
        for (int64_t t = 0; t < taps_; ++t)
          w_.data<float>()[(co * cin_g_ + ci) * taps_ + t] =
              wc.data<float>()[(co * cin_g_ + ci) * taps_ + (flip ? taps_ - 1 - t : t)];
    if (b.defined()) bias_ = b.contiguous().clone();
  }

  int64_t memory_bytes() const override { return w_.numel() * 4 + ws_.bytes(); }

  void run(const Tensor& x, Tensor& y) override {
    const ConvParams& p = params;
    const int64_t tasks = p.N * p.groups;
    const int threads =
        threads_for(tasks, 2.0 * static_cast<double>(p.N * p.C_out * Ho_ * Wo_ * cin_g_ * taps_));
    const int64_t plane = Hp_ * sw_ * Lw_;
    ws_.reserve(threads, plane * cin_g_);
    float* yp = y.data<float>();

#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t task = 0; task < tasks; ++task) {
      const int64_t n = task / p.groups, g = task % p.groups;
      float* planes = ws_.get(omp_get_thread_num());
      for (int64_t ci = 0; ci < cin_g_; ++ci) fill_plane(x, n, g * cin_g_ + ci, planes + ci * plane);
      const float* tap[kDepthwiseMaxTaps];
      for (int64_t m = 0; m < cout_g_; ++m) {
        const int64_t co = g * cout_g_ + m;
        const float bias = bias_.defined() ? bias_.data<float>()[co] : 0.0f;
        for (int64_t oh = 0; oh < Ho_; ++oh) {
          for (int64_t ci = 0; ci < cin_g_; ++ci)
            for (int64_t kh = 0; kh < KH_; ++kh)
              for (int64_t kw = 0; kw < KW_; ++kw) {
                const int64_t col = kw * dw_;
                tap[(ci * KH_ + kh) * KW_ + kw] =
                    planes + ci * plane + ((oh * sh_ + kh * dh_) * sw_ + col % sw_) * Lw_ + col / sw_;
              }
          kernel_.fn(tap, w_.data<float>() + co * cin_g_ * taps_, cin_g_ * taps_,
                     yp + ((n * p.C_out + co) * Ho_ + oh) * Wo_, Wo_, bias);
        }
      }
    }
  }

 private:
  // pl[(r * sw + s) * Lw + i] = padded input (row r, column i * sw + s) of channel c of image n.
  void fill_plane(const Tensor& x, int64_t n, int64_t c, float* pl) const {
    const bool one = params.dim == 1;
    const int64_t xsh = one ? 0 : x.stride(2), xsw = x.stride(one ? 2 : 3);
    const float* xc = x.data<float>() + n * x.stride(0) + c * x.stride(1);
    const PaddingMode mode = params.padding_mode;
    for (int64_t r = 0; r < Hp_; ++r) {
      const int64_t ih = source_index(r - loh_, H_, mode);
      for (int64_t s = 0; s < sw_; ++s) {
        float* dst = pl + (r * sw_ + s) * Lw_;
        if (ih < 0) {
          std::memset(dst, 0, static_cast<std::size_t>(Lw_) * sizeof(float));
          continue;
        }
        const float* row = xc + ih * xsh;
        // Column i reads input column i * sw + s - low: in range for i in [i0, i1); columns
        // past Wp are never read (and stay zero, which also keeps reflect in range).
        const int64_t first = s - low_;
        const int64_t i0 = std::min(Lw_, first >= 0 ? 0 : (-first + sw_ - 1) / sw_);
        const int64_t last = std::min(W_, Wp_ - low_);  // exclusive input column bound
        const int64_t i1 = std::max(i0, std::min(Lw_, last > first ? (last - first + sw_ - 1) / sw_ : 0));
        auto edge = [&](int64_t i) {  // padding columns: the mode decides
          const int64_t col = i * sw_ + s;
          const int64_t iw = col >= Wp_ ? -1 : source_index(col - low_, W_, mode);
          dst[i] = iw < 0 ? 0.0f : row[iw * xsw];
        };
        for (int64_t i = 0; i < i0; ++i) edge(i);
        if (i1 > i0) {
          const float* src = row + (i0 * sw_ + first) * xsw;
          if (sw_ * xsw == 1) {
            std::memcpy(dst + i0, src, static_cast<std::size_t>(i1 - i0) * sizeof(float));
          } else {
            for (int64_t j = i0; j < i1; ++j) dst[j] = src[(j - i0) * sw_ * xsw];
          }
        }
        for (int64_t i = i1; i < Lw_; ++i) edge(i);
      }
    }
  }

  const kernels::DwconvKernel& kernel_;
  int64_t H_, W_, Ho_, Wo_, KH_, KW_, sh_, sw_, dh_, dw_, loh_, low_, cin_g_, cout_g_, taps_, Hp_, Wp_, Lw_;
  Tensor w_, bias_;
  Workspace ws_;
};

}  // namespace

std::unique_ptr<ConvPlan> make_depthwise_plan(const ConvParams& p, const Tensor& w, const Tensor& b) {
  return std::make_unique<DirectPlan>(p, w, b);
}

}  // namespace convkit::internal
