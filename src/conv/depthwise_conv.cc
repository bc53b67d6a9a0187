// Direct convolution for depthwise and few-channels-per-group layers (float32, 1-d and 2-d).
// A task is (image, group, block of output rows). It copies the padded input rows its outputs
// read — every padding mode materialized, strided rows split into phases so each tap reads
// consecutive floats — into per-thread scratch planes, then one dwconv kernel call computes
// all its output rows of all the group's output channels, writing the user's output in place.
// Depthwise with multiplier K is groups == C_in, C_in/g = 1.
// float16 and bfloat16 layers run the same float32 kernels: their rows are widened as they are
// copied and the kernel's output rows rounded once as they are stored (no whole-tensor passes).
// float64 runs the float64 kernels on float64 planes (C, the compute type, is double).
// 3 x 3 depthwise layers with zeros padding of at most one column before the input and column
// stride 1 or 2 (MobileNet's) skip the padded copies: the window kernel reads the input plane
// in place (16-bit planes widened first), with the same bits.
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "conv/plan.h"
#include "core/storage.h"
#include "convkit/threads.h"
#include "kernels/convert/convert.h"
#include "kernels/copy/copy.h"
#include "kernels/dwconv/dwconv.h"

namespace convkit::internal {

namespace {

template <typename C>
class DirectPlan : public ConvPlan {
 public:
  DirectPlan(const ConvParams& p, const Tensor& w, const Tensor& b)
      : kernel_(kernels::dwconv_kernel(max_isa())), copy_(kernels::copy_kernel(max_isa())),
        convert_(kernels::convert_kernel(max_isa())) {
    params = p;  // (w and b are float32 for every dtype but float64)
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
    // Padded columns and rows the outputs read. A padded row is stored as the phases of its
    // column index modulo the stride that some tap reads (stride 1: the row itself), each
    // phase followed by the kernel's read slack and 16-float aligned, so that every tap reads
    // consecutive floats. One output row reads a span of padded rows.
    Wp_ = (Wo_ - 1) * sw_ + (KW_ - 1) * dw_ + 1;
    span_ = (KH_ - 1) * dh_ + 1;
    Hp_ = (Ho_ - 1) * sh_ + span_;
    overlap_ = sh_ <= span_;  // consecutive output rows share input rows
    const std::vector<int64_t> phase_of = tap_phases(KW_, dw_, sw_, low_, W_, Wp_, phases_);
    zero_padded_ = p.padding_mode == PaddingMode::Zeros;
    phase_len_ = (ceil_div(Wp_, sw_) + kernels::kDwRowSlack + 15) / 16 * 16;
    slot_ = static_cast<int64_t>(phases_.size()) * phase_len_;
    // Output rows per kernel call: the padded rows they read (~ chunk * sh) stay in L1 (~24 KiB)
    // between being filled and being read.
    chunk_ = std::max<int64_t>(2, ((24 << 10) / (static_cast<int64_t>(sizeof(C)) * cin_g_ * slot_) - span_) / sh_ / 2 * 2);
    // Where tap (ci, kh, kw) reads for output (0, 0), from the first padded plane.
    for (int64_t ci = 0; ci < cin_g_; ++ci)
      for (int64_t kh = 0; kh < KH_; ++kh)
        for (int64_t kw = 0; kw < KW_; ++kw)
          tap_off_.push_back((ci * Hp_ + kh * dh_) * slot_ + phase_of[static_cast<std::size_t>(kw)] * phase_len_ +
                             kw * dw_ / sw_);
    // Weights [C_out][C_in/g][KH][KW], each channel's taps reversed for conv_mode=convolution.
    w_ = Tensor::empty({p.C_out, cin_g_ * taps_}, kDouble ? kFloat64 : kFloat32);
    const Tensor wc = w.contiguous();
    const bool flip = p.conv_mode == ConvMode::Convolution;
    for (int64_t co = 0; co < p.C_out; ++co)
      for (int64_t ci = 0; ci < cin_g_; ++ci)
        for (int64_t t = 0; t < taps_; ++t)
          internal::mutable_data<C>(w_)[(co * cin_g_ + ci) * taps_ + t] =
              wc.const_data<C>()[(co * cin_g_ + ci) * taps_ + (flip ? taps_ - 1 - t : t)];
    if (b.defined()) bias_ = b.contiguous().clone();
    window_ = !kDouble && p.dim == 2 && kernel_.window3x3 != nullptr && cin_g_ == 1 && window3x3_reads_in_place(p);
  }

  int64_t memory_bytes() const override { return w_.numel() * static_cast<int64_t>(sizeof(C)) + ws_.bytes(); }

  void run(const Tensor& x, Tensor& y) const override {
    if constexpr (kDouble) run_as<double>(x, y);
    else if (params.dtype == kFloat32 && window_ && x.stride(3) == 1) run_window<float>(x, y);
    else if (params.dtype == kFloat32) run_as<float>(x, y);
    else if (window_ && x.stride(3) == 1) run_window<uint16_t>(x, y);
    else run_as<uint16_t>(x, y);
  }

 private:
  static constexpr bool kDouble = std::is_same_v<C, double>;
  static constexpr int64_t kSlots = sizeof(C) / sizeof(float);  // workspace floats per element

  // The tasks: (image, group, block of output rows). Rows are split only when there are too
  // few (image, group) planes to keep the threads busy; rows are independent outputs, so the
  // split never changes a result.
  struct Split {
    int64_t row_blocks, rows_per, tasks;
    int threads;
    // Task t's image, group and output rows [oh0, oh1) (empty past the last row).
    void of(int64_t t, int64_t groups, int64_t ho, int64_t& n, int64_t& g, int64_t& oh0, int64_t& oh1) const {
      g = t / row_blocks % groups, n = t / (row_blocks * groups);
      oh0 = t % row_blocks * rows_per, oh1 = std::min(ho, oh0 + rows_per);
    }
  };
  Split split() const {
    const ConvParams& p = params;
    const int64_t planes = p.N * p.groups;
    Split s{};
    s.row_blocks = std::min<int64_t>(Ho_, (4 * get_num_threads() + planes - 1) / planes);
    s.rows_per = (Ho_ + s.row_blocks - 1) / s.row_blocks;
    s.tasks = planes * s.row_blocks;
    s.threads = threads_for(s.tasks, 2.0 * static_cast<double>(p.N * p.C_out * Ho_ * Wo_ * cin_g_ * taps_));
    return s;
  }

  // Tasks as run_as makes them; each output channel's rows in one window kernel call. 16-bit
  // data (S uint16_t): the input rows a task reads widened into a float32 plane first, the
  // kernel's rows rounded once as they are stored (the same bits as run_as, whose copies hold
  // the same widened values).
  template <typename S>
  void run_window(const Tensor& x, Tensor& y) const {
    constexpr bool kHalf = std::is_same_v<S, uint16_t>;
    const ConvParams& p = params;
    const Split sp = split();
    const auto ws = ws_.lease(sp.threads, kHalf ? H_ * W_ + sp.rows_per * Wo_ : 1);  // [H][W] widened, [rows][Wo] out
    const S* xp = static_cast<const S*>(x.const_data_ptr());
    S* yp = static_cast<S*>(internal::mutable_data_ptr(y));
    const float* wp = w_.const_data<float>();
    const float* bp = bias_.defined() ? bias_.const_data<float>() : nullptr;
    const kernels::ToF32Fn widen = p.dtype == kFloat16 ? convert_.f16_to_f32 : convert_.bf16_to_f32;
    const kernels::FromF32Fn narrow = p.dtype == kFloat16 ? convert_.f32_to_f16 : convert_.f32_to_bf16;
#pragma omp parallel for num_threads(sp.threads) schedule(static) if (sp.threads > 1)
    for (int64_t task = 0; task < sp.tasks; ++task) {
      int64_t n = 0, g = 0, oh0 = 0, oh1 = 0;
      sp.of(task, p.groups, Ho_, n, g, oh0, oh1);
      if (oh0 >= oh1) continue;
      const S* xc = xp + n * x.stride(0) + g * x.stride(1);
      const float* plane = nullptr;
      int64_t pitch = x.stride(2);
      float* out32 = nullptr;
      if constexpr (kHalf) {
        float* buf = ws.get(omp_get_thread_num());
        const int64_t r0 = std::clamp<int64_t>(oh0 * sh_ - loh_, 0, H_), r1 = std::clamp<int64_t>((oh1 - 1) * sh_ - loh_ + 3, 0, H_);
        for (int64_t r = r0; r < r1; ++r) widen(xc + r * x.stride(2), W_, buf + r * W_);
        plane = buf, pitch = W_, out32 = buf + H_ * W_;
      } else {
        plane = xc;
      }
      for (int64_t m = 0; m < cout_g_; ++m) {
        const int64_t co = g * cout_g_ + m;
        S* y0 = yp + ((n * p.C_out + co) * Ho_ + oh0) * Wo_;
        float* to = nullptr;
        if constexpr (kHalf) to = out32;
        else to = y0;
        kernel_.window3x3(kernels::DwWindow3x3{plane, H_, W_, pitch, wp + co * taps_, bp ? bp[co] : 0.0f, to, Wo_, oh0,
                                               oh1, sh_, sw_, loh_, low_});
        if constexpr (kHalf) narrow(out32, (oh1 - oh0) * Wo_, y0);
      }
    }
  }

  // S: the data's element: C, or the bits of float16 / bfloat16 (C float).
  template <typename S>
  void run_as(const Tensor& x, Tensor& y) const {
    constexpr bool kHalf = std::is_same_v<S, uint16_t>;
    const ConvParams& p = params;
    const Split sp = split();
    const int threads = sp.threads;
    // Per thread: the padded planes; for 16-bit data also a widened input row (and its gathered
    // bits) and the float32 output rows of a kernel call, [C_out/g][chunk][Wo].
    const int64_t row_floats = (W_ + 15) / 16 * 16, out_floats = cout_g_ * chunk_ * Wo_;
    const auto ws = ws_.lease(threads, kSlots * cin_g_ * Hp_ * slot_ + (kHalf ? 2 * row_floats + out_floats : 0));
    const S* xp = static_cast<const S*>(x.const_data_ptr());
    S* yp = static_cast<S*>(internal::mutable_data_ptr(y));
    const kernels::ToF32Fn widen = p.dtype == kFloat16 ? convert_.f16_to_f32 : convert_.bf16_to_f32;
    const kernels::FromF32Fn narrow = p.dtype == kFloat16 ? convert_.f32_to_f16 : convert_.f32_to_bf16;
    const bool one = p.dim == 1;
    const int64_t xs0 = x.stride(0), xs1 = x.stride(1), xsh = one ? 0 : x.stride(2), xsw = x.stride(one ? 2 : 3);

#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t task = 0; task < sp.tasks; ++task) {
      int64_t n = 0, g = 0, oh0 = 0, oh1 = 0;
      sp.of(task, p.groups, Ho_, n, g, oh0, oh1);
      // [C_in/g][Hp][slot] padded planes (each phase's slack, and with zero padding every padding
      // position, is zero since allocation and never written). Chunks of output rows alternate
      // with filling the padded rows they read (all rows of their window when windows overlap,
      // else each row's own), so what the kernel reads was just written and is still in L1.
      C* planes = reinterpret_cast<C*>(ws.get(omp_get_thread_num()));
      float* row32 = ws.get(omp_get_thread_num()) + kSlots * cin_g_ * Hp_ * slot_;  // (16-bit data)
      auto* row16 = reinterpret_cast<uint16_t*>(row32 + row_floats);
      float* out32 = row32 + 2 * row_floats;
      const S* xg = xp + n * xs0 + g * cin_g_ * xs1;
      const C* taps[kDepthwiseMaxTaps];  // what output (c0, 0) reads, per tap
      kernels::DwRows<C> a{};
      a.taps = taps, a.ntaps = cin_g_ * taps_;
      a.w = w_.const_data<C>() + g * cout_g_ * cin_g_ * taps_;
      a.bias = bias_.defined() ? bias_.const_data<C>() + g * cout_g_ : nullptr;
      a.ys_c = Ho_ * Wo_, a.ys_r = Wo_, a.wo = Wo_, a.mo = cout_g_;
      a.row_step = Ho_ > 1 ? sh_ * slot_ : 0;  // (Ho - 1) * sh < Hp: the product is inside the planes
      int64_t filled = -1;  // padded rows up to this one are in the planes
      for (int64_t c0 = oh0; c0 < oh1; c0 += chunk_) {
        const int64_t c1 = std::min(oh1, c0 + chunk_);
        for (int64_t oh = c0; oh < c1; oh = overlap_ ? c1 : oh + 1) {
          const int64_t r1 = (overlap_ ? c1 - 1 : oh) * sh_ + span_;
          const int64_t r0 = std::max(filled + 1, oh * sh_);
          if constexpr (kDouble) {
            for (int64_t r = r0; r < r1; ++r) {
              const int64_t ih = source_index(r - loh_, H_, params.padding_mode);
              for (int64_t ci = 0; ci < cin_g_; ++ci)
                fill_row_of(ih < 0 ? nullptr : xg + ci * xs1 + ih * xsh, xsw, planes + (ci * Hp_ + r) * slot_);
            }
          } else if constexpr (kHalf) {
            // Each row widened straight into its slot (zero padding, stride 1, contiguous rows:
            // one phase, the padding kept zero), else widened in full, then placed as float32
            // rows are.
            const bool direct = zero_padded_ && sw_ == 1 && xsw == 1;
            const PaddedPhase& f = phases_[0];
            for (int64_t r = r0; r < r1; ++r) {
              const int64_t ih = source_index(r - loh_, H_, params.padding_mode);
              for (int64_t ci = 0; ci < cin_g_; ++ci) {
                float* slot = planes + (ci * Hp_ + r) * slot_;
                if (direct) {
                  if (ih >= 0 && f.i1 > f.i0) widen(xg + ci * xs1 + ih * xsh + f.i0 - low_, f.i1 - f.i0, slot + f.i0);
                  continue;
                }
                if (ih >= 0) widen_row(xg + ci * xs1 + ih * xsh, xsw, widen, row16, row32);
                fill_row(ih < 0 ? nullptr : row32, 1, slot);
              }
            }
          } else if (zero_padded_) {
            // Zero padding: the in-range rows are one block copy per channel and phase (rows
            // and columns past the input stay zero, as written at allocation).
            const int64_t a0 = std::clamp<int64_t>(r0 - loh_, 0, H_), a1 = std::clamp<int64_t>(r1 - loh_, 0, H_);
            for (int64_t ci = 0; ci < cin_g_ && a1 > a0; ++ci)
              for (std::size_t k = 0; k < phases_.size(); ++k) {
                const PaddedPhase& f = phases_[k];
                if (f.i1 <= f.i0) continue;  // (only then is the first in-range column's pointer formed)
                copy_.rows(xg + ci * xs1 + a0 * xsh + (f.ph + sw_ * f.i0 - low_) * xsw, f.i1 - f.i0 > 1 ? sw_ * xsw : 1,
                           f.i1 - f.i0, a1 - a0, xsh,
                           planes + (ci * Hp_ + a0 + loh_) * slot_ + static_cast<int64_t>(k) * phase_len_ + f.i0, slot_);
              }
          } else {
            for (int64_t r = r0; r < r1; ++r) {
              const int64_t ih = source_index(r - loh_, H_, params.padding_mode);
              for (int64_t ci = 0; ci < cin_g_; ++ci)
                fill_row(ih < 0 ? nullptr : xg + ci * xs1 + ih * xsh, xsw, planes + (ci * Hp_ + r) * slot_);
            }
          }
          filled = r1 - 1;
        }
        for (std::size_t t = 0; t < tap_off_.size(); ++t) taps[t] = planes + c0 * sh_ * slot_ + tap_off_[t];
        S* y0 = yp + (n * p.C_out + g * cout_g_) * Ho_ * Wo_ + c0 * Wo_;
        a.orows = c1 - c0;
        if constexpr (kHalf) {
          a.y = out32, a.ys_c = chunk_ * Wo_;
          kernel_.fn(a);
          for (int64_t co = 0; co < cout_g_; ++co) narrow(out32 + co * chunk_ * Wo_, (c1 - c0) * Wo_, y0 + co * Ho_ * Wo_);
        } else {
          a.y = y0;
          if constexpr (kDouble) kernel_.fn64(a);
          else kernel_.fn(a);
        }
      }
    }
  }

  // A row of W 16-bit values (elements xsw apart) -> out[W] in float32, exactly.
  void widen_row(const uint16_t* row, int64_t xsw, kernels::ToF32Fn widen, uint16_t* gathered, float* out) const {
    if (xsw != 1) {
      for (int64_t w = 0; w < W_; ++w) gathered[w] = row[w * xsw];
      row = gathered;
    }
    widen(row, W_, out);
  }

  // fill_row for float64: the same rows, their in-range runs in plain loops (the copy kernels
  // take floats).
  void fill_row_of(const double* row, int64_t xsw, double* slot) const {
    auto inside = [](const double* src, int64_t step, int64_t n, double* to) {
      if (step == 1) std::copy(src, src + n, to);
      else
        for (int64_t t = 0; t < n; ++t) to[t] = src[t * step];
    };
    for (std::size_t k = 0; k < phases_.size(); ++k)
      fill_phase(row, xsw, W_, low_, sw_, phases_[k], params.padding_mode, inside,
                 slot + static_cast<int64_t>(k) * phase_len_);
  }

  // One padded row (row == nullptr: a zero row) into its slot as the phases the taps read.
  void fill_row(const float* row, int64_t xsw, float* slot) const {
    for (std::size_t k = 0; k < phases_.size(); ++k)
      fill_padded_phase(row, xsw, W_, low_, sw_, phases_[k], params.padding_mode, copy_,
                        slot + static_cast<int64_t>(k) * phase_len_);
  }

  const kernels::DwconvKernel& kernel_;
  const kernels::CopyKernel& copy_;
  const kernels::ConvertKernel& convert_;
  int64_t H_, W_, Ho_, Wo_, KH_, KW_, sh_, sw_, dh_, dw_, loh_, low_, cin_g_, cout_g_, taps_, Wp_, Hp_, span_;
  int64_t phase_len_ = 0, slot_ = 0, chunk_ = 2;
  std::vector<PaddedPhase> phases_;
  std::vector<int64_t> tap_off_;
  bool overlap_ = false;
  bool zero_padded_ = false;  // padded rows fill as one block copy per channel and phase
  bool window_ = false;       // 3 x 3 layers the window kernel reads in place (16-bit: widened first)
  Tensor w_, bias_;
  Workspace ws_;
};

}  // namespace

std::unique_ptr<ConvPlan> make_depthwise_plan(const ConvParams& p, const Tensor& w, const Tensor& b) {
  if (p.dtype == kFloat64) return std::make_unique<DirectPlan<double>>(p, w, b);
  return std::make_unique<DirectPlan<float>>(p, w, b);
}

}  // namespace convkit::internal
