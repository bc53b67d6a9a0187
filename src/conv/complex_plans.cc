// complex64 on the float32 engine and complex128 on the float64 one: a complex convolution is
// one real convolution with twice the channels. Per group, the real input holds the group's real parts, then its imaginary parts
// ([re block; im block]), and so does the output; the real weight of output row (re, o) is
// [wr | -wi] and of (im, o) [wi | wr], so that y = w x (no conjugation) comes out in the two
// blocks. Every direction runs on the plans of that real layer, at the cost of the four
// real products a complex one is:
//   forward           y' = conv(W', x')
//   backward_data     x' = conv^T(W'', y') with W'' built from conj(w): the real transpose is
//                     the conjugate one, so conj(w)'s gives w's plain transpose
//   backward_weights  G = the real weight gradient (blocks [re|im] x [re|im]); gw = G_rr - G_ii
//                     + i (G_ri + G_ir), gb = the real bias gradient's two blocks
// The data are split into the blocks on the way in and interleaved back on the way out.
#include "conv/complex_plans.h"

#include <complex>

#include "conv/reference.h"
#include "core/finite.h"
#include "core/storage.h"

namespace convkit::internal {

namespace {

// Complex products with an infinite part follow C's Annex G in the reference (an infinite
// factor gives an infinite product, not the NaN of inf * 0 in one of its four real products),
// which the real layer does not: data, weights or a bias holding inf or NaN run the reference.

// R: the real component type (float for complex64, double for complex128).
template <typename R>
DType real_dtype() {
  return sizeof(R) == 4 ? kFloat32 : kFloat64;
}

// [N][C][*S] complex (any strides) -> real [N][2C][*S] in per-group [re; im] blocks.
template <typename R>
void split(const Tensor& t, int64_t groups, R* dst) {
  using c64 = std::complex<R>;
  const int64_t N = t.size(0), C = t.size(1), cg = C / groups, plane = t.numel() / std::max<int64_t>(N * C, 1);
  const Tensor v = t.contiguous();  // (a strided input is copied once: complex layers are rarely strided)
  const c64* src = v.const_data<c64>();
  const int threads = threads_for(N * C, static_cast<double>(t.numel()) * 8);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
  for (int64_t nc = 0; nc < N * C; ++nc) {
    const int64_t n = nc / C, g = nc % C / cg, c = nc % cg;
    R* re = dst + ((n * groups + g) * 2 * cg + c) * plane;
    R* im = re + cg * plane;
    const c64* s = src + nc * plane;
    for (int64_t i = 0; i < plane; ++i) re[i] = s[i].real(), im[i] = s[i].imag();
  }
}

// The reverse: real [N][2C][*S] blocks -> complex [N][C][*S] (contiguous).
template <typename R>
void merge(const R* src, int64_t groups, Tensor& t) {
  using c64 = std::complex<R>;
  const int64_t N = t.size(0), C = t.size(1), cg = C / groups, plane = t.numel() / std::max<int64_t>(N * C, 1);
  c64* dst = mutable_data<c64>(t);
  const int threads = threads_for(N * C, static_cast<double>(t.numel()) * 8);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
  for (int64_t nc = 0; nc < N * C; ++nc) {
    const int64_t n = nc / C, g = nc % C / cg, c = nc % cg;
    const R* re = src + ((n * groups + g) * 2 * cg + c) * plane;
    const R* im = re + cg * plane;
    c64* d = dst + nc * plane;
    for (int64_t i = 0; i < plane; ++i) d[i] = c64(re[i], im[i]);
  }
}

// The real weight [2 C_out][2 C_in/g][*K] of w [C_out][C_in/g][*K] (conj: of conj(w)).
template <typename R>
Tensor real_weight(const Tensor& w, int64_t groups, bool conj) {
  using c64 = std::complex<R>;
  const int64_t co_n = w.size(0), cg = w.size(1), taps = w.numel() / std::max<int64_t>(co_n * cg, 1), og = co_n / groups;
  Shape shape = w.sizes();
  shape[0] *= 2, shape[1] *= 2;
  Tensor r = Tensor::empty(shape, real_dtype<R>());
  const Tensor v = w.contiguous();
  const c64* src = v.const_data<c64>();
  R* dst = mutable_data<R>(r);
  const R s = conj ? -1 : 1;
  for (int64_t co = 0; co < co_n; ++co) {
    const int64_t g = co / og, o = co % og;
    R* re_row = dst + ((g * 2 * og + o) * 2 * cg) * taps;  // output (re, o): [wr | -wi]
    R* im_row = re_row + og * 2 * cg * taps;               // output (im, o): [wi | wr]
    for (int64_t ci = 0; ci < cg; ++ci)
      for (int64_t t = 0; t < taps; ++t) {
        const c64 e = src[(co * cg + ci) * taps + t];
        const R wr = e.real(), wi = s * e.imag();
        re_row[ci * taps + t] = wr, re_row[(cg + ci) * taps + t] = -wi;
        im_row[ci * taps + t] = wi, im_row[(cg + ci) * taps + t] = wr;
      }
  }
  return r;
}

// A complex bias [C] as the real [2C] of per-group [re; im] blocks.
template <typename R>
Tensor real_bias(const Tensor& b, int64_t groups) {
  if (!b.defined()) return b;
  using c64 = std::complex<R>;
  const int64_t C = b.size(0), cg = C / groups;
  Tensor r = Tensor::empty({2 * C}, real_dtype<R>());
  const Tensor v = b.contiguous();
  const c64* src = v.const_data<c64>();
  R* dst = mutable_data<R>(r);
  for (int64_t c = 0; c < C; ++c) {
    dst[(c / cg) * 2 * cg + c % cg] = src[c].real();
    dst[(c / cg) * 2 * cg + cg + c % cg] = src[c].imag();
  }
  return r;
}

template <typename R>
Tensor real_view(R* data, const Tensor& like) {
  Shape s = like.sizes();
  s[1] *= 2;
  return Tensor::from_blob(data, s, real_dtype<R>());
}

template <typename R>
class ComplexPlan : public ConvPlan {
 public:
  ComplexPlan(std::unique_ptr<ConvPlan> inner, int64_t groups, const Tensor& w, const Tensor& b)
      : inner_(std::move(inner)), groups_(groups), w_(w), b_(b) {}
  void run(const Tensor& x, Tensor& y) const override {
    if (!all_finite(x)) {
      reference_conv(params, x, w_, b_, y);
      return;
    }
    const ScratchParts<R> b(scratch_, {2 * x.numel(), 2 * y.numel()});
    split(x, groups_, b[0]);
    Tensor y2 = real_view(b[1], y);
    inner_->run(real_view(b[0], x), y2);
    merge(b[1], groups_, y);
  }
  int64_t memory_bytes() const override { return inner_->memory_bytes() + scratch_.bytes(); }

 private:
  std::unique_ptr<ConvPlan> inner_;
  int64_t groups_;
  Tensor w_, b_;  // the complex weight and bias, for the reference
  Workspace scratch_;
};

template <typename R>
class ComplexBackwardDataPlan : public BackwardDataPlan {
 public:
  ComplexBackwardDataPlan(std::unique_ptr<BackwardDataPlan> inner, int64_t groups, const Tensor& w, const Tensor& b)
      : inner_(std::move(inner)), groups_(groups), w_(w), b_(b) {}
  void run(const Tensor& gy, Tensor& gx) const override {
    if (!all_finite(gy)) {
      reference_backward_data(params, gy, w_, b_, gx);
      return;
    }
    const ScratchParts<R> b(scratch_, {2 * gy.numel(), 2 * gx.numel()});
    split(gy, groups_, b[0]);
    Tensor gx2 = real_view(b[1], gx);
    inner_->run(real_view(b[0], gy), gx2);
    merge(b[1], groups_, gx);
  }
  int64_t memory_bytes() const override { return inner_->memory_bytes() + scratch_.bytes(); }

 private:
  std::unique_ptr<BackwardDataPlan> inner_;
  int64_t groups_;
  Tensor w_, b_;  // the complex weight and bias, for the reference
  Workspace scratch_;
};

template <typename R>
class ComplexBackwardWeightsPlan : public BackwardWeightsPlan {
 public:
  ComplexBackwardWeightsPlan(std::unique_ptr<BackwardWeightsPlan> inner, int64_t groups)
      : inner_(std::move(inner)), groups_(groups) {}
  void run(const Tensor& x, const Tensor& gy, Tensor& gw) const override { run_with_bias(x, gy, gw, nullptr); }
  void run_with_bias(const Tensor& x, const Tensor& gy, Tensor& gw, Tensor* gb) const override {
    if (!all_finite(x) || !all_finite(gy)) {
      reference_backward_weights(params, x, gy, gw);
      if (gb) reference_channel_sums(gy, *gb);
      return;
    }
    const int64_t gbn = gb ? gb->numel() : 0;
    const ScratchParts<R> b(scratch_, {2 * x.numel(), 2 * gy.numel(), 4 * gw.numel(), 2 * gbn});
    split(x, groups_, b[0]);
    split(gy, groups_, b[1]);
    Shape ws = gw.sizes();
    ws[0] *= 2, ws[1] *= 2;
    Tensor g2 = Tensor::from_blob(b[2], ws, real_dtype<R>()), gb2;
    if (gb) gb2 = Tensor::from_blob(b[3], {2 * gbn}, real_dtype<R>());
    inner_->run_with_bias(real_view(b[0], x), real_view(b[1], gy), g2, gb ? &gb2 : nullptr);
    // G [2 C_out][2 C_in/g][taps] in per-group blocks -> gw = G_rr - G_ii + i (G_ri + G_ir).
    const int64_t co_n = gw.size(0), cg = gw.size(1), og = co_n / groups_, taps = gw.numel() / std::max<int64_t>(co_n * cg, 1);
    using c64 = std::complex<R>;
    c64* dst = mutable_data<c64>(gw);
    for (int64_t co = 0; co < co_n; ++co) {
      const int64_t g = co / og, o = co % og;
      const R* re_row = b[2] + ((g * 2 * og + o) * 2 * cg) * taps;
      const R* im_row = re_row + og * 2 * cg * taps;
      for (int64_t ci = 0; ci < cg; ++ci)
        for (int64_t t = 0; t < taps; ++t)
          dst[(co * cg + ci) * taps + t] = c64(re_row[ci * taps + t] - im_row[(cg + ci) * taps + t],
                                               re_row[(cg + ci) * taps + t] + im_row[ci * taps + t]);
    }
    if (gb) {
      c64* bd = mutable_data<c64>(*gb);
      const int64_t bg = gbn / groups_;
      for (int64_t c = 0; c < gbn; ++c) bd[c] = c64(b[3][(c / bg) * 2 * bg + c % bg], b[3][(c / bg) * 2 * bg + bg + c % bg]);
    }
  }
  int64_t memory_bytes() const override { return inner_->memory_bytes() + scratch_.bytes(); }

 private:
  std::unique_ptr<BackwardWeightsPlan> inner_;
  int64_t groups_;
  Workspace scratch_;
};

constexpr const char* kReason = "complex as one real layer of twice the channels (real and imaginary blocks)";

}  // namespace

bool complex_on_engine(const ConvParams& p) { return p.dtype == kComplex64 || p.dtype == kComplex128; }

namespace {
// A forced algorithm the real layer cannot take is refused in the complex layer's terms (its
// label, dtype and channels), with the real layer's reason.
void check_forced(const ConvParams& p, Algorithm forced) {
  if (forced == Algorithm::Auto || forced == Algorithm::Reference) return;
  const ConvParams q = real_params(p);
  const char* why = unsupported_reason(forced, q);
  CONVKIT_CHECK(why == nullptr, "algorithm '", name_of(forced), "' cannot compute this ", op_label(p), " (",
                dtype_name(p.dtype), ", groups=", p.groups, ", C_in=", p.C_in, "): ", dtype_name(p.dtype),
                " runs as a ", dtype_name(q.dtype), " layer of twice the channels, and ", why);
}
}  // namespace

ConvParams real_params(const ConvParams& p) {
  ConvParams q = p;
  q.dtype = p.dtype == kComplex64 ? kFloat32 : kFloat64;
  q.C_in *= 2, q.C_out *= 2;
  return q;
}

namespace {
template <typename R>
std::unique_ptr<ConvPlan> complex_plan(const ConvParams& p, const Tensor& w, const Tensor& b, Algorithm forced,
                                       bool winograd) {
  auto inner = make_plan(real_params(p), real_weight<R>(w, p.groups, false), real_bias<R>(b, p.groups), forced, winograd);
  const Algorithm a = inner->choice.algorithm;
  auto plan = std::make_unique<ComplexPlan<R>>(std::move(inner), p.groups, w.contiguous(), b);
  plan->params = p;
  plan->choice = {a, kReason};
  return plan;
}
}  // namespace

std::unique_ptr<ConvPlan> make_complex_plan(const ConvParams& p, const Tensor& w, const Tensor& b, Algorithm forced,
                                            bool winograd) {
  check_forced(p, forced);
  if (!all_finite(w) || !all_finite(b)) return nullptr;
  return p.dtype == kComplex64 ? complex_plan<float>(p, w, b, forced, winograd)
                               : complex_plan<double>(p, w, b, forced, winograd);
}

namespace {
template <typename R>
std::unique_ptr<BackwardDataPlan> complex_backward_data_plan(const ConvParams& p, const Tensor& w, const Tensor& b,
                                                             Algorithm forced, bool winograd) {
  auto inner = make_backward_data_plan(real_params(p), real_weight<R>(w, p.groups, true), real_bias<R>(b, p.groups),
                                       forced, winograd);
  const Algorithm a = inner->choice.algorithm;
  auto plan = std::make_unique<ComplexBackwardDataPlan<R>>(std::move(inner), p.groups, w.contiguous(), b);
  plan->params = p;
  plan->choice = {a, kReason};
  return plan;
}

template <typename R>
std::unique_ptr<BackwardWeightsPlan> complex_backward_weights_plan(const ConvParams& p, Algorithm forced) {
  auto inner = make_backward_weights_plan(real_params(p), forced);
  const Algorithm a = inner->choice.algorithm;
  auto plan = std::make_unique<ComplexBackwardWeightsPlan<R>>(std::move(inner), p.groups);
  plan->params = p;
  plan->choice = {a, kReason};
  return plan;
}
}  // namespace

std::unique_ptr<BackwardDataPlan> make_complex_backward_data_plan(const ConvParams& p, const Tensor& w,
                                                                  const Tensor& b, Algorithm forced, bool winograd) {
  // (p's direction is BackwardData: w maps the C_out side to the C_in side; the bias is over C_in.)
  check_forced(p, forced);
  if (!all_finite(w) || !all_finite(b)) return nullptr;
  return p.dtype == kComplex64 ? complex_backward_data_plan<float>(p, w, b, forced, winograd)
                               : complex_backward_data_plan<double>(p, w, b, forced, winograd);
}

std::unique_ptr<BackwardWeightsPlan> make_complex_backward_weights_plan(const ConvParams& p, Algorithm forced) {
  check_forced(p, forced);
  return p.dtype == kComplex64 ? complex_backward_weights_plan<float>(p, forced)
                               : complex_backward_weights_plan<double>(p, forced);
}

}  // namespace convkit::internal
