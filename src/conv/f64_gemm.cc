// float64 products on the float64 kernels (gemm_f64.h), through the float GEMM driver in float
// slots (two per double). Both read a padded float64 copy of the input [N][C][Sp0][Sp1][Sp2]
// made per call (padded_copy.h). Per group, M = C_out/g, Kd = C_in/g * taps, P positions:
//   forward:          y_g[M, P] = W_g[M, Kd] * im2col(x)[Kd, P]
//     A: the weight, [G][M/MR panels][Kd][MR] doubles, packed once (k = (ci, tap)).
//     B: each block's rows packed from the copy: row k, column j = output position.
//     C: the driver's blocks; the bias is added as they are stored into y[N][C_out][positions].
//   backward_weights: dW_g[M, Kd] = sum over images n of dY_g[n][M, P] * im2col(x[n])^T[P, Kd]
//     A: dY rows packed per block as MR-row panels; B: im2col^T packed from the copy (row =
//     position, column = (ci, tap)); C: dW in place, images summed in order (a long reduction
//     in chunks the driver adds in order: the same bits for any thread count).
#include <array>

#include "conv/padded_copy.h"
#include "core/storage.h"
#include "convkit/threads.h"
#include "gemm/driver.h"
#include "kernels/gemm_f64/gemm_f64.h"

namespace convkit::internal {

namespace {

// x [N][C][*S] (any strides) -> its padded copy at pad, rows over the threads.
void fill_padded(const PaddedCopy& pc, const Tensor& x, double* pad) {
  const int64_t N = x.size(0), C = x.size(1), rows = pc.Sp[0] * pc.Sp[1];
  const PaddedCopy::Source<double> src(x);
  const int threads = threads_for(N * C, static_cast<double>(N * C * pc.plane) * 8);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
  for (int64_t nc = 0; nc < N * C; ++nc)
    for (int64_t r = 0; r < rows; ++r) pc.fill_row(src, nc / C, nc % C, r, pad + nc * pc.plane + r * pc.Sp[2]);
}

// The K block in reduction steps: about 64 (128 slots), so that the kernel's B panel and A panel
// stay in L1.
int64_t f64_k_block(int64_t K) { return K <= 80 ? std::max<int64_t>(K, 1) : ceil_div(K, ceil_div(K, 64)); }

// The taps' offsets in a channel's copy, in the weight's order: back to front for
// conv_mode=convolution, which applies the kernel mirrored.
std::vector<int64_t> tap_offsets(const ConvParams& p, const PaddedCopy& pc) {
  std::vector<int64_t> off;
  for (int64_t t = 0; t < pc.g.taps(); ++t) off.push_back(pc.tap_offset(t));
  if (p.conv_mode == ConvMode::Convolution) std::reverse(off.begin(), off.end());
  return off;
}

class F64GemmPlan : public ConvPlan {
 public:
  F64GemmPlan(const ConvParams& p, const Tensor& w, const Tensor& b, const kernels::GemmKernel& k)
      : k_(k), driver_(k), pc_(p) {
    G_ = p.groups, C_ = p.C_in, cin_g_ = p.c_in_per_group(), M_ = p.c_out_per_group();
    taps_ = pc_.g.taps(), Kd_ = cin_g_ * taps_, P_ = pc_.g.O[0] * pc_.g.O[1] * pc_.g.O[2];
    kc_ = f64_k_block(Kd_);
    tap_off_ = tap_offsets(p, pc_);
    // A: [G][panels][Kd][MR], rows past M zero.
    const int64_t mr = k_.mr, panels = ceil_div(M_, mr);
    a_ = Tensor::zeros({G_ * panels * Kd_ * mr}, kFloat64);
    // [C_out][C_in/g][taps] read through its strides (an input gradient's weight is a transposed
    // view: a contiguous copy of it would cost more than the packing).
    const WeightView v = weight_view(w);
    const double* wp = v.w.const_data<double>();
    double* ap = mutable_data<double>(a_);
    // Output channel co's k step 0 in A; its k step kk is kk * MR further.
    std::vector<int64_t> at(static_cast<std::size_t>(G_ * M_));
    for (int64_t co = 0; co < G_ * M_; ++co)
      at[static_cast<std::size_t>(co)] = (co / M_ * panels + co % M_ / mr) * Kd_ * mr + co % M_ % mr;
    // In the weight's memory order: output channels innermost for a transposed view.
    if (v.s_co < v.s_ci) {
      for (int64_t g = 0; g < G_; ++g)
        for (int64_t ci = 0; ci < cin_g_; ++ci)
          for (int64_t t = 0; t < taps_; ++t)
            for (int64_t co = g * M_; co < (g + 1) * M_; ++co)
              ap[at[static_cast<std::size_t>(co)] + (ci * taps_ + t) * mr] = wp[co * v.s_co + ci * v.s_ci + t * v.s_t];
    } else {
      for (int64_t co = 0; co < G_ * M_; ++co)
        for (int64_t ci = 0; ci < cin_g_; ++ci)
          for (int64_t t = 0; t < taps_; ++t)
            ap[at[static_cast<std::size_t>(co)] + (ci * taps_ + t) * mr] = wp[co * v.s_co + ci * v.s_ci + t * v.s_t];
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
    fill_padded(pc_, x, pad);
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

class F64WeightsPlan : public BackwardWeightsPlan {
 public:
  F64WeightsPlan(const ConvParams& p, const kernels::GemmKernel& k) : k_(k), driver_(k), pc_(p) {
    params = p;
    G_ = p.groups, M_ = p.c_out_per_group(), cin_g_ = p.c_in_per_group();
    taps_ = pc_.g.taps(), R_ = cin_g_ * taps_, P_ = pc_.g.O[0] * pc_.g.O[1] * pc_.g.O[2];
    kc_ = f64_k_block(P_);
    tap_off_ = tap_offsets(p, pc_);
  }

  int64_t memory_bytes() const override { return padded_.bytes() + driver_.memory_bytes(); }

  void run(const Tensor& x, const Tensor& gy, Tensor& gw) const override {
    const ConvParams& p = params;
    const Tensor dy = gy.contiguous();  // [N, C_out, P]
    if (reference_weights_if_nonfinite(p, x, dy, gw)) return;  // (the copy's zero padding)
    const int64_t N = x.size(0);
    const auto lease = padded_.lease(1, 2 * N * p.C_in * pc_.plane);  // (float slots)
    auto* pad = reinterpret_cast<double*>(lease.get(0));
    fill_padded(pc_, x, pad);
    gemm::Problem pr;  // in float slots: two per reduction step and per column
    pr.batch = G_, pr.M = M_, pr.N = 2 * R_, pr.outer = N, pr.K = 2 * P_, pr.kc = 2 * kc_;
    pr.split_reduction = true, pr.doubles = true;
    pr.flops = 2.0 * static_cast<double>(N * G_ * M_ * R_) * static_cast<double>(P_);
    driver_.run(Bound(*this, pad, dy.const_data<double>(), mutable_data<double>(gw)), pr);
  }

 private:
  class Bound : public gemm::Operands {
   public:
    Bound(const F64WeightsPlan& plan, const double* pad, const double* dy, double* dw)
        : p_(plan), pad_(pad), dy_(dy), dw_(dw) {}

    // dY rows [i0, i0 + m) of group g, image o, positions [k0, k0 + kc) / 2 as MR-row panels
    // [kc / 2][MR] (rows past M zero).
    const float* a(int64_t g, int64_t o, int64_t i0, int64_t m, int64_t k0, int64_t kc, float* buf,
                   int64_t& panel_stride) const override {
      const int64_t mr = p_.k_.mr, steps = kc / 2, P = p_.P_;
      panel_stride = kc * mr;
      auto* out = reinterpret_cast<double*>(buf);
      const double* rows = dy_ + ((o * p_.G_ + g) * p_.M_ + i0) * P + k0 / 2;
      for (int64_t r0 = 0; r0 < m; r0 += mr) {
        double* panel = out + r0 * steps;
        for (int64_t i = 0; i < mr; ++i) {
          if (r0 + i >= m || i0 + r0 + i >= p_.M_) {
            for (int64_t kk = 0; kk < steps; ++kk) panel[kk * mr + i] = 0.0;
            continue;
          }
          const double* row = rows + (r0 + i) * P;
          for (int64_t kk = 0; kk < steps; ++kk) panel[kk * mr + i] = row[kk];
        }
      }
      return buf;
    }

    // im2col^T: row k = position k0 / 2 + k, column j = (ci, tap) j0 / 2 + j, from image o's copy.
    const float* b(int64_t g, int64_t o, int64_t k0, int64_t kc, int64_t j0, int64_t n, float* buf,
                   int64_t& ldb) const override {
      std::array<PaddedCopy::Run, kMaxKc> runs;
      const int64_t count = p_.pc_.runs(k0 / 2, kc / 2, runs.data()), ld = ldb / 2, st = p_.pc_.g.st[2];
      const double* base = pad_ + (o * p_.params.C_in + g * p_.cin_g_) * p_.pc_.plane;
      auto* out = reinterpret_cast<double*>(buf);
      for (int64_t j = 0; j < n / 2; ++j) {
        const int64_t r = j0 / 2 + j;
        const double* src = base + r / p_.taps_ * p_.pc_.plane + p_.tap_off_[static_cast<std::size_t>(r % p_.taps_)];
        for (int64_t u = 0; u < count; ++u) {
          const PaddedCopy::Run& run = runs[static_cast<std::size_t>(u)];
          const double* s = src + run.src;
          double* col = out + run.dst * ld + j;
          for (int64_t t = 0; t < run.len; ++t) col[t * ld] = s[t * st];
        }
      }
      return buf;
    }

    float* c(int64_t g, int64_t i0, int64_t j0, int64_t& ldc) const override {
      ldc = 2 * p_.R_;
      return reinterpret_cast<float*>(dw_ + (g * p_.M_ + i0) * p_.R_ + j0 / 2);
    }

   private:
    const F64WeightsPlan& p_;
    const double *pad_, *dy_;
    double* dw_;
  };

  const kernels::GemmKernel& k_;
  gemm::Driver driver_;
  PaddedCopy pc_;
  int64_t G_ = 1, M_ = 0, cin_g_ = 0, taps_ = 1, R_ = 0, P_ = 0, kc_ = 0;
  std::vector<int64_t> tap_off_;
  Workspace padded_;  // the padded float64 copies of a call's images
};

// The weight gradient of few channels per group (depthwise): per weight element one dot product
// of dY's row with the input it read, over every image and output position, from the same
// padded copy. A GEMM would pad each group's handful of rows to whole tiles and pack every
// input once per group. An output channel per task; each dot in eight partial sums (element j
// to sum j % 8), added in a fixed order: the same bits for any thread count.
class F64DirectWeightsPlan : public BackwardWeightsPlan {
 public:
  explicit F64DirectWeightsPlan(const ConvParams& p) : pc_(p) {
    params = p;
    M_ = p.c_out_per_group(), cin_g_ = p.c_in_per_group(), taps_ = pc_.g.taps();
    P_ = pc_.g.O[0] * pc_.g.O[1] * pc_.g.O[2];
    tap_off_ = tap_offsets(p, pc_);
    runs_.resize(static_cast<std::size_t>(std::max<int64_t>(P_, 1)));
    runs_.resize(static_cast<std::size_t>(pc_.runs(0, P_, runs_.data())));
  }

  int64_t memory_bytes() const override { return padded_.bytes(); }

  void run(const Tensor& x, const Tensor& gy, Tensor& gw) const override {
    const ConvParams& p = params;
    const Tensor dy = gy.contiguous();  // [N, C_out, P]
    if (reference_weights_if_nonfinite(p, x, dy, gw)) return;  // (the copy's zero padding)
    const int64_t N = x.size(0);
    const auto lease = padded_.lease(1, 2 * N * p.C_in * pc_.plane);
    auto* pad = reinterpret_cast<double*>(lease.get(0));
    fill_padded(pc_, x, pad);
    const double* d = dy.const_data<double>();
    double* w = mutable_data<double>(gw);  // [C_out][C_in/g][taps]
    const int64_t st = pc_.g.st[2];
    const int threads = threads_for(p.C_out, 2.0 * static_cast<double>(p.C_out * cin_g_ * taps_ * N * P_));
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t co = 0; co < p.C_out; ++co)
      for (int64_t ci = 0; ci < cin_g_; ++ci)
        for (int64_t t = 0; t < taps_; ++t) {
          double acc[kLanes] = {};
          for (int64_t n = 0; n < N; ++n) {
            const double* dn = d + (n * p.C_out + co) * P_;
            const double* xn = pad + (n * p.C_in + co / M_ * cin_g_ + ci) * pc_.plane + tap_off_[static_cast<std::size_t>(t)];
            for (const PaddedCopy::Run& r : runs_) {
              if (st == 1) dot(dn + r.dst, xn + r.src, 1, r.len, acc);  // (unit stride: vectorized lanes)
              else dot(dn + r.dst, xn + r.src, st, r.len, acc);
            }
          }
          double sum = 0.0;
          for (double v : acc) sum += v;
          w[(co * cin_g_ + ci) * taps_ + t] = sum;
        }
  }

 private:
  static constexpr int64_t kLanes = 8;  // partial sums: element j goes to j % kLanes

  static inline void dot(const double* a, const double* b, int64_t st, int64_t len, double* acc) {
    // Named sums (registers; an array of them stayed in memory, a store and load per step).
    double s0 = acc[0], s1 = acc[1], s2 = acc[2], s3 = acc[3], s4 = acc[4], s5 = acc[5], s6 = acc[6], s7 = acc[7];
    int64_t j = 0;
    for (; j + kLanes <= len; j += kLanes) {
      const double* x = b + j * st;
      s0 += a[j] * x[0], s1 += a[j + 1] * x[st], s2 += a[j + 2] * x[2 * st], s3 += a[j + 3] * x[3 * st];
      s4 += a[j + 4] * x[4 * st], s5 += a[j + 5] * x[5 * st], s6 += a[j + 6] * x[6 * st], s7 += a[j + 7] * x[7 * st];
    }
    acc[0] = s0, acc[1] = s1, acc[2] = s2, acc[3] = s3, acc[4] = s4, acc[5] = s5, acc[6] = s6, acc[7] = s7;
    for (; j < len; ++j) acc[j % kLanes] += a[j] * b[j * st];
  }

  PaddedCopy pc_;
  int64_t M_ = 1, cin_g_ = 1, taps_ = 1, P_ = 0;
  std::vector<int64_t> tap_off_;
  std::vector<PaddedCopy::Run> runs_;  // every output position, in runs along the last dim
  Workspace padded_;
};

}  // namespace

std::unique_ptr<BackwardWeightsPlan> make_f64_weights_plan(const ConvParams& p) {
  return std::make_unique<F64WeightsPlan>(p, kernels::gemm_f64_kernel(max_isa()));
}

std::unique_ptr<BackwardWeightsPlan> make_f64_direct_weights_plan(const ConvParams& p) {
  return std::make_unique<F64DirectWeightsPlan>(p);
}

std::unique_ptr<ConvPlan> make_f64_gemm_plan(const ConvParams& p, const Tensor& w, const Tensor& b) {
  return std::make_unique<F64GemmPlan>(p, w, b, kernels::gemm_f64_kernel(max_isa()));
}

}  // namespace convkit::internal
