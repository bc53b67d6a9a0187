// The direct gradient paths for few channels per group (depthwise, any multiplier), float32,
// where a GEMM would have one or a few rows. Everything runs along output rows (the last
// lifted dim) of one channel pair (co, ci) at a time:
//
//   backward_weights: dW[co, ci, t] = sum over images, output rows and columns of
//                     dY[co, o] * x[ci, o * s + off_t] — one dot product per row and tap.
//                     Tasks own (co, ci) pairs and sum images and rows in order.
//   backward_data:    dX[ci, o * s + off_t] += W[co, ci, t] * dY[co, o] — one axpy per row and
//                     tap. Tasks own (image, group): the group's input channels.
//
// Columns whose tap reads padding are skipped with zeros padding and folded back onto the
// element they copy with the other modes, as the reference does.
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "conv/plan.h"
#include "core/storage.h"
#include "kernels/blas1/blas1.h"

namespace convkit::internal {

namespace {

// One dim of a tap over a run of outputs: outputs [lo, hi) read columns inside [0, S); the
// others read padding.
struct Inside {
  int64_t lo, hi;
};
Inside inside_columns(int64_t O, int64_t st, int64_t off, int64_t S) {
  const int64_t lo = off >= 0 ? 0 : std::min(O, ceil_div(-off, st));
  const int64_t hi = off < S ? std::max(lo, std::min(O, ceil_div(S - off, st))) : lo;
  return {lo, hi};
}

// What both directions share: the lifted geometry, the taps' offsets and the kernel.
class DirectRows {
 protected:
  explicit DirectRows(const ConvParams& p) : g_(lift3(p)), k_(kernels::blas1_kernel(max_isa())) {
    const int64_t taps = g_.taps();
    for (int64_t t = 0; t < taps; ++t) {
      // The forward applies stored tap t at the mirrored position for conv_mode=convolution.
      const int64_t u = p.conv_mode == ConvMode::Convolution ? taps - 1 - t : t;
      const int64_t k[3] = {u / (g_.K[1] * g_.K[2]), u / g_.K[2] % g_.K[1], u % g_.K[2]};
      for (int d = 0; d < 3; ++d) off_[d].push_back(k[d] * g_.dl[d] - g_.lo[d]);
      cols_.push_back(inside_columns(g_.O[2], g_.st[2], off_[2].back(), g_.S[2]));
    }
  }
  // The input row (within a channel) that tap t of output row (o0, o1) reads, or -1.
  int64_t input_row(const ConvParams& p, int64_t t, int64_t o0, int64_t o1) const {
    const auto ut = static_cast<std::size_t>(t);
    const int64_t i0 = source_index(o0 * g_.st[0] + off_[0][ut], g_.S[0], p.padding_mode);
    const int64_t i1 = source_index(o1 * g_.st[1] + off_[1][ut], g_.S[1], p.padding_mode);
    return i0 < 0 || i1 < 0 ? -1 : i0 * g_.S[1] + i1;
  }
  // The input column of output column o for tap t, through the padding mode (-1: zero).
  int64_t input_col(const ConvParams& p, int64_t t, int64_t o) const {
    return source_index(o * g_.st[2] + off_[2][static_cast<std::size_t>(t)], g_.S[2], p.padding_mode);
  }

  Lifted g_;
  const kernels::Blas1Kernel& k_;
  std::vector<int64_t> off_[3];
  std::vector<Inside> cols_;  // per tap: the output columns reading inside the row
};

class DepthwiseBackwardWeightsPlan : public BackwardWeightsPlan, private DirectRows {
 public:
  explicit DepthwiseBackwardWeightsPlan(const ConvParams& p) : DirectRows(p) { params = p; }

  void run(const Tensor& x_in, const Tensor& gy, Tensor& gw) const override {
    const ConvParams& p = params;
    const Tensor x = x_in.contiguous(), dy = gy.contiguous();  // [N, C, D, H, W]
    const float* xp = x.const_data<float>();
    const float* yp = dy.const_data<float>();
    float* wp = internal::mutable_data<float>(gw);
    const int64_t cin_g = p.c_in_per_group(), cout_g = p.c_out_per_group(), taps = g_.taps();
    const int64_t plane_x = g_.S[0] * g_.S[1] * g_.S[2], plane_y = g_.O[0] * g_.O[1] * g_.O[2];
    const int64_t pairs = p.C_out * cin_g;
    const int threads = threads_for(pairs, 2.0 * static_cast<double>(p.N * p.C_out * cin_g * taps * plane_y));
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t pair = 0; pair < pairs; ++pair) {
      const int64_t co = pair / cin_g, ci = pair % cin_g, c = co / cout_g * cin_g + ci;
      double acc[1024];  // per tap; kDepthwiseMaxTaps bounds taps (unsupported_reason)
      std::fill(acc, acc + taps, 0.0);
      for (int64_t n = 0; n < p.N; ++n) {
        const float* xc = xp + (n * p.C_in + c) * plane_x;
        const float* yc = yp + (n * p.C_out + co) * plane_y;
        for (int64_t o0 = 0; o0 < g_.O[0]; ++o0)
          for (int64_t t = 0; t < taps; ++t) acc[t] += plane_sum(p, t, o0, yc + o0 * g_.O[1] * g_.O[2], xc);
      }
      for (int64_t t = 0; t < taps; ++t) wp[pair * taps + t] = static_cast<float>(acc[t]);
    }
  }
  int64_t memory_bytes() const override { return 0; }

 private:
  // Tap t's sum over the output rows o1 of plane o0 (yp: that plane of dY, xc: the input
  // channel): the rows and columns that read inside the input in one kernel call, then the
  // ones reading padding (zeros: nothing; other modes: the element they copy).
  double plane_sum(const ConvParams& p, int64_t t, int64_t o0, const float* yp, const float* xc) const {
    const auto ut = static_cast<std::size_t>(t);
    const int64_t i0 = source_index(o0 * g_.st[0] + off_[0][ut], g_.S[0], p.padding_mode);
    if (i0 < 0) return 0;
    const Inside rows = inside_columns(g_.O[1], g_.st[1], off_[1][ut], g_.S[1]);
    const Inside cols = cols_[ut];
    const float* x0 = xc + i0 * g_.S[1] * g_.S[2];
    double s = 0;
    if (rows.hi > rows.lo && cols.hi > cols.lo)
      s += k_.dot(yp + rows.lo * g_.O[2] + cols.lo, g_.O[2],
                  x0 + (rows.lo * g_.st[1] + off_[1][ut]) * g_.S[2] + cols.lo * g_.st[2] + off_[2][ut],
                  g_.st[1] * g_.S[2], g_.st[2], cols.hi - cols.lo, rows.hi - rows.lo);
    if (p.padding_mode == PaddingMode::Zeros) return s;
    for (int64_t o1 = 0; o1 < g_.O[1]; ++o1) {
      const bool row_inside = o1 >= rows.lo && o1 < rows.hi;
      const float* xrow = x0 + source_index(o1 * g_.st[1] + off_[1][ut], g_.S[1], p.padding_mode) * g_.S[2];
      const float* yrow = yp + o1 * g_.O[2];
      for (int64_t o2 = 0; o2 < g_.O[2]; ++o2)
        if (!row_inside || o2 < cols.lo || o2 >= cols.hi) s += yrow[o2] * xrow[input_col(p, t, o2)];
    }
    return s;
  }
};

class DepthwiseBackwardDataPlan : public BackwardDataPlan, private DirectRows {
 public:
  DepthwiseBackwardDataPlan(const ConvParams& p, const Tensor& w, const Tensor& b)
      : DirectRows(p), w_(w.contiguous()), b_(b.defined() ? b.contiguous() : b) {
    params = p;
  }

  void run(const Tensor& gy, Tensor& gx) const override {
    const ConvParams& p = params;
    const Tensor dy = gy.contiguous();  // [N, C_out, D, H, W]
    const float* yp = dy.const_data<float>();
    const float* wp = w_.const_data<float>();
    const float* bp = b_.defined() ? b_.const_data<float>() : nullptr;
    float* xp = internal::mutable_data<float>(gx);  // [N, C_in, D, H, W]
    const int64_t cin_g = p.c_in_per_group(), cout_g = p.c_out_per_group(), taps = g_.taps();
    const int64_t plane_x = g_.S[0] * g_.S[1] * g_.S[2], plane_y = g_.O[0] * g_.O[1] * g_.O[2];
    const int64_t tasks = p.N * p.groups;
    const int threads = threads_for(tasks, 2.0 * static_cast<double>(p.N * p.C_out * cin_g * taps * plane_y));
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t task = 0; task < tasks; ++task) {
      const int64_t n = task / p.groups, g = task % p.groups;
      for (int64_t ci = 0; ci < cin_g; ++ci) {
        const int64_t c = g * cin_g + ci;
        float* xc = xp + (n * p.C_in + c) * plane_x;
        std::fill(xc, xc + plane_x, bp ? bp[c] : 0.0f);
        for (int64_t m = 0; m < cout_g; ++m) {
          const int64_t co = g * cout_g + m;
          const float* yc = yp + (n * p.C_out + co) * plane_y;
          const float* wc = wp + (co * cin_g + ci) * taps;
          for (int64_t o0 = 0; o0 < g_.O[0]; ++o0)
            for (int64_t o1 = 0; o1 < g_.O[1]; ++o1)
              scatter_row(p, yc + (o0 * g_.O[1] + o1) * g_.O[2], wc, o0, o1, xc);
        }
      }
    }
  }
  int64_t memory_bytes() const override { return 0; }

 private:
  // Adds every tap of one dY row onto the input rows it read.
  void scatter_row(const ConvParams& p, const float* yrow, const float* wc, int64_t o0, int64_t o1, float* xc) const {
    for (int64_t t = 0; t < g_.taps(); ++t) {
      const int64_t row = input_row(p, t, o0, o1);
      if (row < 0) continue;
      float* xrow = xc + row * g_.S[2];
      const Inside in = cols_[static_cast<std::size_t>(t)];
      const float w = wc[t];
      if (in.hi > in.lo)
        k_.axpy(w, yrow + in.lo, in.hi - in.lo, xrow + in.lo * g_.st[2] + off_[2][static_cast<std::size_t>(t)], g_.st[2]);
      if (p.padding_mode != PaddingMode::Zeros) {  // padding folds back onto the element it copied
        for (int64_t o = 0; o < in.lo; ++o) xrow[input_col(p, t, o)] += w * yrow[o];
        for (int64_t o = in.hi; o < g_.O[2]; ++o) xrow[input_col(p, t, o)] += w * yrow[o];
      }
    }
  }

  Tensor w_, b_;
};

}  // namespace

std::unique_ptr<BackwardDataPlan> make_depthwise_backward_data_plan(const ConvParams& p, const Tensor& w,
                                                                    const Tensor& b) {
  return std::make_unique<DepthwiseBackwardDataPlan>(p, w, b);
}

std::unique_ptr<BackwardWeightsPlan> make_depthwise_backward_weights_plan(const ConvParams& p) {
  return std::make_unique<DepthwiseBackwardWeightsPlan>(p);
}

}  // namespace convkit::internal
