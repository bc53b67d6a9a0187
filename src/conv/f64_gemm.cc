// float64 forward on the float64 kernels (gemm_f64.h), through the float GEMM driver in float
// slots (two per double):
//   A: the weight, [G][M/MR panels][Kd][MR] doubles, packed once (k = (ci, tap)).
//   B: a padded float64 copy of the input [N][C][Sp0][Sp1][Sp2] made per call (padded_copy.h),
//      from which each block's rows are packed: row k, column j = output position.
//   C: the driver's blocks; the bias is added as they are stored into y[N][C_out][positions].
#include <array>

#include "conv/padded_copy.h"
#include "core/storage.h"
#include "convkit/threads.h"
#include "gemm/driver.h"
#include "kernels/gemm_f64/gemm_f64.h"

namespace convkit::internal {

namespace {

class F64GemmPlan : public ConvPlan {
 public:
  F64GemmPlan(const ConvParams& p, const Tensor& w, const Tensor& b, const kernels::GemmKernel& k)
      : k_(k), driver_(k), pc_(p) {
    G_ = p.groups, C_ = p.C_in, cin_g_ = p.c_in_per_group(), M_ = p.c_out_per_group();
    taps_ = pc_.g.taps(), Kd_ = cin_g_ * taps_, P_ = pc_.g.O[0] * pc_.g.O[1] * pc_.g.O[2];
    // K blocks of about 64 steps (128 slots): the kernel's B panel and A panel stay in L1.
    kc_ = Kd_ <= 80 ? Kd_ : ceil_div(Kd_, ceil_div(Kd_, 64));
    for (int64_t t = 0; t < taps_; ++t) tap_off_.push_back(pc_.tap_offset(t));
    if (p.conv_mode == ConvMode::Convolution) std::reverse(tap_off_.begin(), tap_off_.end());
    // A: [G][panels][Kd][MR], rows past M zero.
    const int64_t mr = k_.mr, panels = ceil_div(M_, mr);
    a_ = Tensor::zeros({G_ * panels * Kd_ * mr}, kFloat64);
    const Tensor wc = w.contiguous();  // [C_out][C_in/g][taps]
    const double* wp = wc.const_data<double>();
    double* ap = mutable_data<double>(a_);
    for (int64_t co = 0; co < G_ * M_; ++co) {
      const int64_t g = co / M_, m = co % M_;
      double* panel = ap + (g * panels + m / mr) * Kd_ * mr + m % mr;
      for (int64_t kk = 0; kk < Kd_; ++kk) panel[kk * mr] = wp[co * Kd_ + kk];
    }
    if (b.defined()) bias_ = b.contiguous().clone();
  }

  int64_t memory_bytes() const override {
    return a_.numel() * 8 + (bias_.defined() ? bias_.numel() * 8 : 0) + padded_.bytes() + driver_.memory_bytes();
  }

  void run(const Tensor& x, Tensor& y) const override {
    const int64_t N = x.size(0);
    const auto lease = padded_.lease(1, 2 * N * C_ * pc_.plane);  // (float slots)
    auto* pad = reinterpret_cast<double*>(lease.get(0));
    const PaddedCopy::Source<double> src(x);
    const int64_t rows = pc_.Sp[0] * pc_.Sp[1];
    const int threads = threads_for(N * C_, static_cast<double>(N * C_ * pc_.plane) * 8);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t nc = 0; nc < N * C_; ++nc)
      for (int64_t r = 0; r < rows; ++r) pc_.fill_row(src, nc / C_, nc % C_, r, pad + nc * pc_.plane + r * pc_.Sp[2]);
    gemm::Problem pr;  // in float slots: two per reduction step and per column
    pr.batch = N * G_, pr.M = M_, pr.N = 2 * P_, pr.K = 2 * Kd_, pr.kc = 2 * kc_;
    pr.rows_in_task = true, pr.c_blocks = true;
    pr.flops = 2.0 * static_cast<double>(N * G_ * M_ * P_) * static_cast<double>(Kd_);
    driver_.run(Bound(*this, pad, y), pr);
  }

 private:
  class Bound : public gemm::Operands {
   public:
    Bound(const F64GemmPlan& plan, const double* pad, Tensor& y)
        : p_(plan), pad_(pad), y_(mutable_data<double>(y)) {}

    const float* a(int64_t b, int64_t, int64_t i0, int64_t, int64_t k0, int64_t, float*,
                   int64_t& panel_stride) const override {
      const int64_t mr = p_.k_.mr, panels = ceil_div(p_.M_, mr);
      panel_stride = 2 * p_.Kd_ * mr;
      const double* a = p_.a_.const_data<double>() + ((b % p_.G_ * panels + i0 / mr) * p_.Kd_ + k0 / 2) * mr;
      return reinterpret_cast<const float*>(a);
    }

    // Rows k in [k0, k0 + kc) / 2, columns j0 / 2 + [0, n / 2) of image b / G, group b % G.
    const float* b(int64_t b, int64_t, int64_t k0, int64_t kc, int64_t j0, int64_t n, float* buf,
                   int64_t& ldb) const override {
      std::array<PaddedCopy::Run, kGemmNC> runs;
      const int64_t count = p_.pc_.runs(j0 / 2, n / 2, runs.data()), ld = ldb / 2, st = p_.pc_.g.st[2];
      const double* base = pad_ + (b / p_.G_ * p_.C_ + b % p_.G_ * p_.cin_g_) * p_.pc_.plane;
      auto* out = reinterpret_cast<double*>(buf);
      for (int64_t kk = k0 / 2; kk < (k0 + kc) / 2; ++kk) {
        const double* src = base + kk / p_.taps_ * p_.pc_.plane + p_.tap_off_[static_cast<std::size_t>(kk % p_.taps_)];
        double* row = out + (kk - k0 / 2) * ld;
        for (int64_t r = 0; r < count; ++r) {
          const PaddedCopy::Run& u = runs[static_cast<std::size_t>(r)];
          const double* s = src + u.src;
          for (int64_t t = 0; t < u.len; ++t) row[u.dst + t] = s[t * st];
        }
      }
      return buf;
    }

    void store(int64_t b, int64_t i0, int64_t m, int64_t j0, int64_t n, const float* c, int64_t ldc) const override {
      const int64_t co = b % p_.G_ * p_.M_ + i0;
      double* y = y_ + (b / p_.G_ * p_.G_ * p_.M_ + co) * p_.P_ + j0 / 2;
      const auto* cd = reinterpret_cast<const double*>(c);
      const double* bias = p_.bias_.defined() ? p_.bias_.const_data<double>() + co : nullptr;
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n / 2; ++j) y[i * p_.P_ + j] = (bias ? bias[i] : 0.0) + cd[i * (ldc / 2) + j];
    }

   private:
    const F64GemmPlan& p_;
    const double* pad_;
    double* y_;
  };

  const kernels::GemmKernel& k_;
  gemm::Driver driver_;
  PaddedCopy pc_;
  int64_t G_ = 1, C_ = 0, cin_g_ = 0, M_ = 0, taps_ = 1, Kd_ = 0, kc_ = 0, P_ = 0;
  std::vector<int64_t> tap_off_;
  Tensor a_, bias_;
  Workspace padded_;  // the padded float64 copies of a call's images
};

}  // namespace

std::unique_ptr<ConvPlan> make_f64_gemm_plan(const ConvParams& p, const Tensor& w, const Tensor& b) {
  return std::make_unique<F64GemmPlan>(p, w, b, kernels::gemm_f64_kernel(max_isa()));
}

}  // namespace convkit::internal
