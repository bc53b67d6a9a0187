// Direct convolution for depthwise and few-channels-per-group layers (float32, 1-d and 2-d).
// Per (image, group) task the group's input channel planes are copied once into padded
// scratch planes (every padding mode materialized), so each output row is one bounds-free
// sweep over C_in/groups * KH * KW tap pointers (the dwconv row kernel, which also takes the
// stride). Depthwise with multiplier K is groups == C_in, C_in/g = 1.
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
    // Padded rows and columns the outputs read.
    Hp_ = (Ho_ - 1) * sh_ + (KH_ - 1) * dh_ + 1;
    Wp_ = (Wo_ - 1) * sw_ + (KW_ - 1) * dw_ + 1;
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
    // Where each tap reads for output row 0, relative to the group's first plane; row oh adds
    // oh * sh * sw * Lw. Computed once so a row costs one add per tap.
    const int64_t plane = Hp_ * Wp_;
    for (int64_t ci = 0; ci < cin_g_; ++ci)
      for (int64_t kh = 0; kh < KH_; ++kh)
        for (int64_t kw = 0; kw < KW_; ++kw) tap_off_.push_back(ci * plane + kh * dh_ * Wp_ + kw * dw_);
  }

  int64_t memory_bytes() const override { return w_.numel() * 4 + ws_.bytes(); }

  void run(const Tensor& x, Tensor& y) override {
    const ConvParams& p = params;
    const int64_t tasks = p.N * p.groups;
    const int threads =
        threads_for(tasks, 2.0 * static_cast<double>(p.N * p.C_out * Ho_ * Wo_ * cin_g_ * taps_));
    const int64_t plane = Hp_ * Wp_;
    // Stride 1 with several rows: one kernel sweep over the whole padded plane, as if it were
    // one long row (positions ow >= Wo of each row are computed into scratch and dropped) —
    // measured faster than per-row sweeps, whose 56-wide rows end in a partial vector.
    const bool flat = sh_ == 1 && sw_ == 1 && Ho_ > 1;
    const int64_t flat_len = (Ho_ - 1) * Wp_ + Wo_;
    ws_.reserve(threads, plane * cin_g_ + 64 + (flat ? Ho_ * Wp_ : 0));  // + the kernel's read slack
    float* yp = y.data<float>();

#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t task = 0; task < tasks; ++task) {
      const int64_t n = task / p.groups, g = task % p.groups;
      float* planes = ws_.get(omp_get_thread_num());
      for (int64_t ci = 0; ci < cin_g_; ++ci) fill_plane(x, n, g * cin_g_ + ci, planes + ci * plane);
      // The taps are the same for every output channel of the group.
      const float* tap[kDepthwiseMaxTaps];
      for (std::size_t t = 0; t < tap_off_.size(); ++t) tap[t] = planes + tap_off_[t];
      for (int64_t m = 0; m < cout_g_; ++m) {
        const int64_t co = g * cout_g_ + m;
        const float bias = bias_.defined() ? bias_.data<float>()[co] : 0.0f;
        float* yc = yp + (n * p.C_out + co) * Ho_ * Wo_;
        if (flat) {
          float* out = planes + plane * cin_g_ + 64;  // [Ho][Wp]
          kernel_.fn(tap, w_.data<float>() + co * cin_g_ * taps_, cin_g_ * taps_, out, flat_len, 1, bias, 1, 0);
          for (int64_t oh = 0; oh < Ho_; ++oh)
            std::memcpy(yc + oh * Wo_, out + oh * Wp_, static_cast<std::size_t>(Wo_) * sizeof(float));
        } else {  // all Ho output rows in one call: row r reads Wp * sh floats further on
          kernel_.fn(tap, w_.data<float>() + co * cin_g_ * taps_, cin_g_ * taps_, yc, Wo_, sw_, bias, Ho_, sh_ * Wp_);
        }
      }
    }
  }

 private:
  // pl[r * Wp + i] = padded input (row r, column i) of channel c of image n.
  void fill_plane(const Tensor& x, int64_t n, int64_t c, float* pl) const {
    const bool one = params.dim == 1;
    const int64_t xsh = one ? 0 : x.stride(2), xsw = x.stride(one ? 2 : 3);
    const float* xc = x.data<float>() + n * x.stride(0) + c * x.stride(1);
    const PaddingMode mode = params.padding_mode;
    // Columns [i0, i1) read input columns i - low directly; the rest are padding.
    const int64_t i0 = std::min(Wp_, low_), i1 = std::max(i0, std::min(Wp_, W_ + low_));
    for (int64_t r = 0; r < Hp_; ++r) {
      float* dst = pl + r * Wp_;
      const int64_t ih = source_index(r - loh_, H_, mode);
      if (ih < 0) {
        std::memset(dst, 0, static_cast<std::size_t>(Wp_) * sizeof(float));
        continue;
      }
      const float* row = xc + ih * xsh;
      auto edge = [&](int64_t i) {
        const int64_t iw = source_index(i - low_, W_, mode);
        dst[i] = iw < 0 ? 0.0f : row[iw * xsw];
      };
      for (int64_t i = 0; i < i0; ++i) edge(i);
      if (i1 == i0) {
        // no in-range columns in this row
      } else if (xsw == 1) {
        std::memcpy(dst + i0, row + (i0 - low_), static_cast<std::size_t>(i1 - i0) * sizeof(float));
      } else {
        for (int64_t i = i0; i < i1; ++i) dst[i] = row[(i - low_) * xsw];
      }
      for (int64_t i = i1; i < Wp_; ++i) edge(i);
    }
  }

  const kernels::DwconvKernel& kernel_;
  int64_t H_, W_, Ho_, Wo_, KH_, KW_, sh_, sw_, dh_, dw_, loh_, low_, cin_g_, cout_g_, taps_, Hp_, Wp_;
  std::vector<int64_t> tap_off_;
  Tensor w_, bias_;
  Workspace ws_;
};

}  // namespace

std::unique_ptr<ConvPlan> make_depthwise_plan(const ConvParams& p, const Tensor& w, const Tensor& b) {
  return std::make_unique<DirectPlan>(p, w, b);
}

}  // namespace convkit::internal
