// The direct gradient paths for few channels per group (depthwise, any multiplier), float32,
// where a GEMM would have one or a few rows. Everything runs along output rows (the last
// lifted dim) of one channel pair (co, ci) at a time:
//
//   backward_weights: dW[co, ci, t] = sum over images, output rows and columns of
//                     dY[co, o] * x[ci, o * s + off_t]. Per image, channel ci's padded input
//                     is copied as column phases, so every tap reads unit-stride columns, and
//                     one multi-tap dot product per output plane loads dY once for up to 12
//                     taps. 3 x 3 planes with zeros padding of at most 1 before each column
//                     and column stride 1 or 2 skip the copy: dot_window3x3 reads the input
//                     plane in place. (Padded copies too large for the geometry, or a non-finite
//                     dY with zero padding, take a dot product per row range and tap that skips
//                     the padding.) Tasks own (co, ci) pairs and sum images and planes in order.
//   backward_data:    dX[ci, o * s + off_t] += W[co, ci, t] * dY[co, o] — one axpy per row and
//                     tap. Tasks own (image, group): the group's input channels. With column
//                     stride 2 and one channel per group, each input row is written once
//                     instead: its even and odd columns as sums of whole dY rows, interleaved
//                     (3 x 3 layers by input_window3x3 straight from dY, others from copies).
//
// backward_data skips columns whose tap reads padding with zeros padding and folds them back
// onto the element they copy with the other modes, as the reference does.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "conv/half_precision.h"
#include "conv/plan.h"
#include "core/storage.h"
#include "cpu/cache.h"
#include "kernels/blas1/blas1.h"
#include "kernels/copy/copy.h"

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
  explicit DepthwiseBackwardWeightsPlan(const ConvParams& p)
      : DirectRows(p), copy_(kernels::copy_kernel(max_isa())), window_(window3x3_serves(p)),
        padded_(!window_ && padded_copy_fits(p)) {
    params = p;
    if (padded_) plan_padded(p);
  }

  void run(const Tensor& x, const Tensor& gy, Tensor& gw) const override { run_with_bias(x, gy, gw, nullptr); }
  // The padded form sums dY's channels from the loads of its dot products.
  void run_with_bias(const Tensor& x_in, const Tensor& gy, Tensor& gw, Tensor* gb) const override {
    const Tensor x = x_in.contiguous(), dy = gy.contiguous();  // [N, C, D, H, W]
    if (window_) {
      run_window(x, dy, gw, gb);
      return;
    }
    if (padded_) {
      run_padded(x, dy, gw, gb);
      return;
    }
    run_rows(x, dy, gw);
    if (gb != nullptr) channel_sums(dy, *gb);
  }
  int64_t memory_bytes() const override { return ws_.bytes(); }

 private:
  // The padded input of one channel as phases of its rows (as the depthwise forward): Sp[d]
  // padded positions per dim, each padded row its column phases that some tap reads, each
  // phase phase_len_ long. Tap t of output (o0, o1, o2) then reads padded plane o0 st0 + kd dl0,
  // row o1 st1 + kh dl1, phase of kw dl2 at o2 + kw dl2 / st2: unit-stride columns at a fixed
  // offset from the output row's base, the same for every row.
  void plan_padded(const ConvParams& p) {
    for (int d = 0; d < 3; ++d) Sp_[d] = g_.read_extent(d);
    const std::vector<int64_t> phase_of = tap_phases(g_.K[2], g_.dl[2], g_.st[2], g_.lo[2], g_.S[2], Sp_[2], phases_);
    phase_len_ = ceil_div(Sp_[2], g_.st[2]);
    row_len_ = static_cast<int64_t>(phases_.size()) * phase_len_;
    plane_len_ = Sp_[1] * row_len_;
    const int64_t taps = g_.taps();
    for (int64_t t = 0; t < taps; ++t) {
      const int64_t u = p.conv_mode == ConvMode::Convolution ? taps - 1 - t : t;
      const int64_t kd = u / (g_.K[1] * g_.K[2]), kh = u / g_.K[2] % g_.K[1], kw = u % g_.K[2];
      tap_off_.push_back(kd * g_.dl[0] * plane_len_ + kh * g_.dl[1] * row_len_ +
                         phase_of[static_cast<std::size_t>(kw)] * phase_len_ + kw * g_.dl[2] / g_.st[2]);
    }
    // 3 x 3 taps whose kernel rows are one b row (output row) apart, stride and dilation 1 down
    // the rows: two output rows share the input rows both read (dot_taps3x3).
    grid3x3_ = taps == 9 && g_.K[1] == 3;
    for (int64_t t = 0; grid3x3_ && t < taps; ++t)
      grid3x3_ = tap_off_[static_cast<std::size_t>(t)] == tap_off_[static_cast<std::size_t>(t % 3)] + t / 3 * g_.st[1] * row_len_;
  }

  // dW from padded copies: per (co, ci) pair and image, channel c's padded input, then per
  // output plane one dot_taps call per group of at most kDotTapsMax taps (dY loaded once for
  // the group; the first group also sums dY, for gb[co] and as a finite check).
  // With several outputs per input channel (wav2vec2's first layer: 512 from one),
  // a thread keeps every image's copy of its last channel and makes them again only when the
  // channel changes, so a channel is copied once per thread, not once per output.
  // An image whose dY channel sums to inf or NaN may hold one (a finite sum has finite terms);
  // where the windows read zero padding, 0 * inf = NaN would land there, where the reference
  // adds no term: that image's sums are made again by the rows form, which skips the padding.
  void run_padded(const Tensor& x, const Tensor& dy, Tensor& gw, Tensor* gb) const {
    const int64_t taps = g_.taps(), groups = ceil_div(taps, kernels::kDotTapsMax);
    const int64_t one = Sp_[0] * plane_len_;
    const bool keep = keep_copies(params.N * one);
    const bool padding_read = zero_padding_is_read(params);
    float* bias = gb != nullptr ? internal::mutable_data<float>(*gb) : nullptr;
    for_each_pair(x, dy, gw, keep ? params.N * one : one, bias, [&](int64_t n, int64_t c, const float* xc, const float* yc, float* scratch, int64_t& held, double* acc) {
      float* padded = keep ? scratch + n * one : scratch;
      if (!keep || held != c) fill_padded(xc, padded);
      if (keep && n + 1 == params.N) held = c;  // every image of channel c is in the scratch
      // dY's sum: for the bias (input channel 0's pairs) and the finite check.
      const bool sum_y = padding_read || (bias != nullptr && c % params.c_in_per_group() == 0);
      double img[kDepthwiseMaxTaps + 1];  // this image's per-tap sums and dY's sum
      std::fill(img, img + taps + 1, 0.0);
      for (int64_t o0 = 0; o0 < g_.O[0]; ++o0)
        for (int64_t gr = 0; gr < groups; ++gr) {
          // Groups of about equal size: 9 taps in one call, 25 as 9 + 8 + 8.
          const int64_t t0 = taps * gr / groups, t1 = taps * (gr + 1) / groups;
          float out[kernels::kDotTapsMax + 1];
          const float* yo = yc + o0 * g_.O[1] * g_.O[2];
          const float* xo = padded + o0 * g_.st[0] * plane_len_;
          if (grid3x3_) k_.dot_taps3x3(yo, g_.O[2], xo, g_.st[1] * row_len_, tap_off_.data(), g_.O[2], g_.O[1], out, sum_y);
          else k_.dot_taps(yo, g_.O[2], xo, g_.st[1] * row_len_, tap_off_.data() + t0, t1 - t0, g_.O[2], g_.O[1], out, sum_y && gr == 0);
          for (int64_t t = t0; t < t1; ++t) img[t] += out[t - t0];
          if (sum_y && gr == 0) img[taps] += out[t1 - t0];
        }
      if (padding_read && !std::isfinite(img[taps]))  // (sum_y)
        for (int64_t t = 0; t < taps; ++t) {
          img[t] = 0;
          for (int64_t o0 = 0; o0 < g_.O[0]; ++o0) img[t] += plane_sum(params, t, o0, yc + o0 * g_.O[1] * g_.O[2], xc);
        }
      for (int64_t t = 0; t <= taps; ++t) acc[t] += img[t];
    });
  }
  // A 2-d 3 x 3 plane (one input plane read by one output plane, no depth padding) with zeros
  // padding, column stride 1 or 2, at most one padding column and two padding rows before the
  // input, no dilation: dot_window3x3 (where the ISA has one) reads it in place.
  bool window3x3_serves(const ConvParams& p) const { return k_.dot_window3x3 != nullptr && window3x3_reads_in_place(p); }
  // dW per (co, ci) pair and image from the kernel's nine sums (in cross-correlation order:
  // conv_mode=convolution stores them mirrored), dY's sum for the bias and the finite check
  // as run_padded makes them.
  void run_window(const Tensor& x, const Tensor& dy, Tensor& gw, Tensor* gb) const {
    const bool padding_read = zero_padding_is_read(params);
    const bool mirrored = params.conv_mode == ConvMode::Convolution;
    float* bias = gb != nullptr ? internal::mutable_data<float>(*gb) : nullptr;
    const kernels::Window3x3 geometry{nullptr, nullptr, g_.S[1], g_.S[2], g_.O[1], g_.O[2], g_.st[1], g_.st[2], g_.lo[1], g_.lo[2]};
    for_each_pair(x, dy, gw, 1, bias, [&](int64_t, int64_t c, const float* xc, const float* yc, float*, int64_t&, double* acc) {
      const bool sum_y = padding_read || (bias != nullptr && c % params.c_in_per_group() == 0);
      kernels::Window3x3 w = geometry;
      w.a = yc, w.x = xc;
      float out[10];
      k_.dot_window3x3(w, out, sum_y);
      double img[10];
      for (int64_t t = 0; t < 9; ++t) img[t] = out[mirrored ? 8 - t : t];
      img[9] = sum_y ? out[9] : 0.0;
      if (padding_read && !std::isfinite(img[9]))  // (see run_padded)
        for (int64_t t = 0; t < 9; ++t) img[t] = plane_sum(params, t, 0, yc, xc);
      for (int64_t t = 0; t < 10; ++t) acc[t] += img[t];
    });
  }

  // Whether the padded copies of every image of one channel (floats) are kept for the next
  // pair that reads them: with several outputs per input channel, and within half the L2.
  bool keep_copies(int64_t floats) const {
    return params.c_out_per_group() > 1 && floats * static_cast<int64_t>(sizeof(float)) <= cache_sizes().l2 / 2;
  }

  // What both forms share: tasks own (co, ci) pairs, ordered (group, ci, m) so that a
  // thread's consecutive pairs read the same input channel; per pair, sum(n, c, xc, yc,
  // scratch, held, acc) adds image n's per-tap sums (xc: input channel c of the image, yc: its
  // dY channel co) into acc, in image order, in double; scratch is the thread's scratch_floats
  // and held the channel it holds (-1: nothing yet; sum updates it). sum may add dY's sums into
  // acc[taps]: with bias, bias[co] gets them from the pairs of input channel 0 of the group.
  template <typename Sum>
  void for_each_pair(const Tensor& x, const Tensor& dy, Tensor& gw, int64_t scratch_floats, float* bias, Sum&& sum) const {
    const ConvParams& p = params;
    const float* xp = x.const_data<float>();
    const float* yp = dy.const_data<float>();
    float* wp = internal::mutable_data<float>(gw);
    const int64_t cin_g = p.c_in_per_group(), cout_g = p.c_out_per_group(), taps = g_.taps();
    const int64_t plane_x = g_.S[0] * g_.S[1] * g_.S[2], plane_y = g_.O[0] * g_.O[1] * g_.O[2];
    const int64_t pairs = p.C_out * cin_g;
    const int threads = threads_for(pairs, 2.0 * static_cast<double>(p.N * p.C_out * cin_g * taps * plane_y));
    const auto ws = ws_.lease(threads, scratch_floats);
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
      int64_t held = -1;
      float* scratch = ws.get(omp_get_thread_num());
#pragma omp for schedule(static)
      for (int64_t pair = 0; pair < pairs; ++pair) {
        // pair = (g, ci, m): output co = g * cout_g + m reads input channel c = g * cin_g + ci.
        const int64_t g = pair / (cin_g * cout_g), ci = pair / cout_g % cin_g, co = g * cout_g + pair % cout_g;
        const int64_t c = g * cin_g + ci;
        double acc[kDepthwiseMaxTaps + 1];  // per tap and dY's sum; unsupported_reason bounds taps
        std::fill(acc, acc + taps + 1, 0.0);
        for (int64_t n = 0; n < p.N; ++n)
          sum(n, c, xp + (n * p.C_in + c) * plane_x, yp + (n * p.C_out + co) * plane_y, scratch, held, acc);
        float* wc = wp + (co * cin_g + ci) * taps;
        for (int64_t t = 0; t < taps; ++t) wc[t] = static_cast<float>(acc[t]);
        if (bias != nullptr && ci == 0) bias[co] = static_cast<float>(acc[taps]);
      }
    }
  }

  // Channel xc [S0][S1][S2] into its padded phases (the padding through the padding mode; with
  // zeros padding the scratch's padding positions stay zero from allocation, never written).
  void fill_padded(const float* xc, float* padded) const {
    if (params.padding_mode == PaddingMode::Zeros && phases_.size() == 1) {
      // One phase (column stride 1): the in-range rows of each plane as one block copy (a call
      // per row cost a tenth of MobileNetV2's weight gradient). With several phases the row
      // by row copy reads each input row for all of them while it is in L1.
      const int64_t y0 = std::max<int64_t>(0, g_.lo[1]), y1 = std::min(Sp_[1], g_.lo[1] + g_.S[1]);
      for (int64_t z = std::max<int64_t>(0, g_.lo[0]); z < std::min(Sp_[0], g_.lo[0] + g_.S[0]) && y1 > y0; ++z)
        for (std::size_t k = 0; k < phases_.size(); ++k) {
          const PaddedPhase& f = phases_[k];
          if (f.i1 <= f.i0) continue;  // (only then is the first in-range column's pointer formed)
          copy_.rows(xc + ((z - g_.lo[0]) * g_.S[1] + y0 - g_.lo[1]) * g_.S[2] + f.ph + g_.st[2] * f.i0 - g_.lo[2],
                     f.i1 - f.i0 > 1 ? g_.st[2] : 1, f.i1 - f.i0, y1 - y0, g_.S[2],
                     padded + z * plane_len_ + y0 * row_len_ + static_cast<int64_t>(k) * phase_len_ + f.i0, row_len_);
        }
      return;
    }
    for (int64_t z = 0; z < Sp_[0]; ++z) {
      const int64_t iz = source_index(z - g_.lo[0], g_.S[0], params.padding_mode);
      for (int64_t y = 0; y < Sp_[1]; ++y) {
        const int64_t iy = source_index(y - g_.lo[1], g_.S[1], params.padding_mode);
        const float* row = iz < 0 || iy < 0 ? nullptr : xc + (iz * g_.S[1] + iy) * g_.S[2];
        float* dst = padded + z * plane_len_ + y * row_len_;
        for (std::size_t k = 0; k < phases_.size(); ++k)
          fill_padded_phase(row, 1, g_.S[2], g_.lo[2], g_.st[2], phases_[k], params.padding_mode, copy_,
                            dst + static_cast<int64_t>(k) * phase_len_);
      }
    }
  }
  // Per tap, the rows of each output plane that read inside the input in one dot product, then
  // the columns that read padding one by one (skipped with zeros padding).
  void run_rows(const Tensor& x, const Tensor& dy, Tensor& gw) const {
    for_each_pair(x, dy, gw, 1, nullptr, [&](int64_t, int64_t, const float* xc, const float* yc, float*, int64_t&, double* acc) {
      for (int64_t o0 = 0; o0 < g_.O[0]; ++o0)
        for (int64_t t = 0; t < g_.taps(); ++t) acc[t] += plane_sum(params, t, o0, yc + o0 * g_.O[1] * g_.O[2], xc);
    });
  }
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

  const kernels::CopyKernel& copy_;
  bool window_;  // window3x3_serves: run_window
  bool padded_;  // else padded copies fit (padded_copy_fits): run_padded, else run_rows
  bool grid3x3_ = false;  // run_padded's taps as dot_taps3x3 takes them
  int64_t Sp_[3] = {1, 1, 1}, phase_len_ = 0, row_len_ = 0, plane_len_ = 0;
  std::vector<PaddedPhase> phases_;  // the column phases some tap reads
  std::vector<int64_t> tap_off_;     // per stored tap: where it reads, from an output row's base
  Workspace ws_;                     // per thread: one channel's padded copy
};

class DepthwiseBackwardDataPlan : public BackwardDataPlan, private DirectRows {
 public:
  DepthwiseBackwardDataPlan(const ConvParams& p, const Tensor& w, const Tensor& b)
      : DirectRows(p), w_(w.contiguous()), b_(b.defined() ? b.contiguous() : b), copy_(kernels::copy_kernel(max_isa())) {
    params = p;
    // (Weights with an inf or NaN, which would meet the copy's zero margins, never get here:
    // make_backward_data_plan gives them the reference.)
    if (depthwise_rows_serve_backward_data(p)) {
      if (window_serves(p)) plan_window(p);
      else plan_interleaved();
    }
  }

  void run(const Tensor& gy, Tensor& gx) const override {
    if (w9_.defined()) {
      run_window(gy.contiguous(), gx);
      return;
    }
    if (pitch_ > 0) {
      run_interleaved(gy.contiguous(), gx);
      return;
    }
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
        fill_value(xc, plane_x, bp ? bp[c] : 0.0f);
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
  int64_t memory_bytes() const override { return ws_.bytes(); }

 private:
  // A float32 2-d 3 x 3 layer (column stride 2, depthwise_rows_serve_backward_data; one input
  // plane read by one output plane, no depth padding) with no dilation and at most one padding
  // column before the input: input_window3x3 (where the ISA has one) writes each input row
  // from dY's rows in place.
  bool window_serves(const ConvParams& p) const {
    return k_.input_window3x3 != nullptr && p.dtype == kFloat32 && window3x3_reads_in_place(p);
  }
  // Each channel's 9 weights in cross-correlation order (conv_mode=convolution stores them mirrored).
  void plan_window(const ConvParams& p) {
    w9_ = Tensor::empty({p.C_in, 9}, kFloat32);
    const bool mirrored = p.conv_mode == ConvMode::Convolution;
    for (int64_t c = 0; c < p.C_in; ++c)
      for (int64_t u = 0; u < 9; ++u) internal::mutable_data<float>(w9_)[c * 9 + u] = w_.const_data<float>()[c * 9 + (mirrored ? 8 - u : u)];
  }
  // One kernel call per (image, channel) plane.
  void run_window(const Tensor& dy, Tensor& gx) const {
    const ConvParams& p = params;
    const int64_t planes = p.N * p.C_in, plane_x = g_.S[1] * g_.S[2], plane_y = g_.O[1] * g_.O[2];
    const int threads = threads_for(planes, 2.0 * static_cast<double>(planes * 9 * plane_y));
    const float* yp = dy.const_data<float>();
    const float* bp = b_.defined() ? b_.const_data<float>() : nullptr;
    float* xp = internal::mutable_data<float>(gx);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t nc = 0; nc < planes; ++nc) {
      const int64_t c = nc % p.C_in;
      k_.input_window3x3(kernels::InputWindow3x3{yp + nc * plane_y, w9_.const_data<float>() + c * 9, xp + nc * plane_x,
                                                 g_.S[1], g_.S[2], g_.O[1], g_.O[2], 0, g_.S[1], g_.st[1], g_.lo[1],
                                                 g_.lo[2], bp ? bp[c] : 0.0f});
    }
  }

  // The interleaved form (depthwise_rows_serve_backward_data): input column 2m + p reads dY
  // column m + shift(p, t) through tap t, when p - off_t is even. So each input row's even and
  // odd columns are two sums of whole dY rows, one per tap that reaches the row, made by
  // taps_sum from a copy of the channel's dY rows with zero margins (the reads past an edge)
  // and interleaved into the row: every input element written once, no strided adds.
  void plan_interleaved() {
    const int64_t n[2] = {ceil_div(g_.S[2], 2), g_.S[2] / 2};  // even and odd columns
    // Taps whose reads [shift, shift + n - 1] miss dY's columns add nothing (a huge dilation
    // or padding): left out, so the margins stay below a row's length.
    auto reads_row = [&](int64_t t, int64_t par, int64_t& sh) {
      const int64_t off = off_[2][static_cast<std::size_t>(t)];
      sh = (par - off) / 2;
      return (par - off) % 2 == 0 && n[par] > 0 && sh + n[par] - 1 >= 0 && sh <= g_.O[2] - 1;
    };
    int64_t lo = 0, hi = 0;
    for (int64_t t = 0; t < g_.taps(); ++t)
      for (int64_t par = 0, sh = 0; par < 2; ++par)
        if (reads_row(t, par, sh)) lo = std::min(lo, sh), hi = std::max(hi, n[par] - 1 + sh - (g_.O[2] - 1));
    margin_ = std::max(-lo, hi);
    // Which dY rows, where, and through which tap, each input row's two halves read: the same
    // for every channel, worked out here (two divisions per tap and row were 3x the sums).
    if (g_.S[0] * g_.S[1] * g_.taps() > (int64_t{1} << 20)) return;  // (huge: the axpys)
    pitch_ = g_.O[2] + 2 * margin_;
    first_read_.push_back(0);
    for (int64_t i0 = 0; i0 < g_.S[0]; ++i0)
      for (int64_t i1 = 0; i1 < g_.S[1]; ++i1)
        for (int64_t par = 0; par < 2; ++par) {
          for (int64_t t = 0, sh = 0; t < g_.taps(); ++t) {
            const auto ut = static_cast<std::size_t>(t);
            const int64_t d0 = i0 - off_[0][ut], d1 = i1 - off_[1][ut];
            if (!reads_row(t, par, sh) || d0 < 0 || d1 < 0 || d0 % g_.st[0] != 0 || d1 % g_.st[1] != 0) continue;
            const int64_t o0 = d0 / g_.st[0], o1 = d1 / g_.st[1];
            if (o0 < g_.O[0] && o1 < g_.O[1]) reads_.push_back({(o0 * g_.O[1] + o1) * pitch_ + margin_ + sh, t});
          }
          first_read_.push_back(static_cast<int64_t>(reads_.size()));
        }
  }

  void run_interleaved(const Tensor& dy, Tensor& gx) const {
    const ConvParams& p = params;
    const float* yp = dy.const_data<float>();
    const float* wp = w_.const_data<float>();
    const float* bp = b_.defined() ? b_.const_data<float>() : nullptr;
    float* xp = internal::mutable_data<float>(gx);
    const int64_t taps = g_.taps(), rows_y = g_.O[0] * g_.O[1], n0 = ceil_div(g_.S[2], 2), n1 = g_.S[2] / 2;
    const int64_t plane_x = g_.S[0] * g_.S[1] * g_.S[2], plane_y = rows_y * g_.O[2];
    const int64_t planes = p.N * p.C_in;
    const int threads = threads_for(planes, 2.0 * static_cast<double>(planes * taps * plane_y));
    // Per thread: the channel's dY rows with margins, then the even and odd sums of a row.
    const auto ws = ws_.lease(threads, rows_y * pitch_ + 2 * n0);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t nc = 0; nc < planes; ++nc) {
      const int64_t c = nc % p.C_in;
      float* ym = ws.get(omp_get_thread_num());  // [rows_y][pitch]: margins stay zero
      float* even = ym + rows_y * pitch_;
      for (int64_t r = 0; r < rows_y; ++r)
        std::memcpy(ym + r * pitch_ + margin_, yp + nc * plane_y + r * g_.O[2], static_cast<std::size_t>(g_.O[2]) * sizeof(float));
      const float* wc = wp + c * taps;
      const float init = bp ? bp[c] : 0.0f;
      for (int64_t i0 = 0; i0 < g_.S[0]; ++i0)
        for (int64_t i1 = 0; i1 < g_.S[1]; ++i1) {
          const float* rows[2][kDepthwiseMaxTaps];
          float w[2][kDepthwiseMaxTaps];
          int64_t count[2] = {0, 0};
          const int64_t row = i0 * g_.S[1] + i1;
          for (int64_t par = 0; par < 2; ++par)
            for (int64_t r = first_read_[static_cast<std::size_t>(2 * row + par)]; r < first_read_[static_cast<std::size_t>(2 * row + par + 1)]; ++r) {
              const TapRead& tr = reads_[static_cast<std::size_t>(r)];
              rows[par][count[par]] = ym + tr.at;
              w[par][count[par]++] = wc[tr.t];
            }
          float* odd = even + n0;
          k_.taps_sum(rows[0], w[0], count[0], n0, init, even);
          k_.taps_sum(rows[1], w[1], count[1], n1, init, odd);
          float* xrow = xp + nc * plane_x + (i0 * g_.S[1] + i1) * g_.S[2];
          copy_.interleave(even, n0, odd, n1, xrow);
        }
    }
  }

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
  Tensor w9_;  // defined: run_window (window_serves), with these weights [C_in][9]
  const kernels::CopyKernel& copy_;  // its interleave writes a row's even and odd columns
  int64_t margin_ = 0, pitch_ = 0;   // the interleaved form's dY row copies (pitch 0: axpys)
  struct TapRead {
    int64_t at, t;  // a dY row copy's read (its offset in the copies), through stored tap t
  };
  std::vector<TapRead> reads_;      // per input row and column parity, in tap order
  std::vector<int64_t> first_read_;  // reads_ of (row, parity) k: [first_read_[k], first_read_[k + 1])
  Workspace ws_;
};

}  // namespace

bool depthwise_rows_serve_backward_data(const ConvParams& p) {
  return engine_dtype(p.dtype) && p.padding_mode == PaddingMode::Zeros && p.c_in_per_group() == 1 &&
         p.c_out_per_group() == 1 && p.stride.back() == 2;
}

std::unique_ptr<BackwardDataPlan> make_depthwise_backward_data_plan(const ConvParams& p, const Tensor& w,
                                                                    const Tensor& b) {
  return std::make_unique<DepthwiseBackwardDataPlan>(p, w, b);
}

std::unique_ptr<BackwardWeightsPlan> make_depthwise_backward_weights_plan(const ConvParams& p) {
  return std::make_unique<DepthwiseBackwardWeightsPlan>(p);
}

}  // namespace convkit::internal
