// Pointwise (1x1, stride 1, no padding, groups 1) float32 convolutions with few output
// positions, computed transposed: per image
//   Y^T[P, C_out] = X^T[P, C_in] * W^T[C_in, C_out],
// so the microkernel's vector dimension runs over output channels (many, whole vectors) and its
// rows over positions (few). ResNet-50's last 1x1 layer has P = 7 x 7 = 49: 32-wide column
// tiles pad it to 64 (77% useful), 8-row tiles to 56 (88%). W^T is packed once in NR-wide
// panels; X^T of each image is packed in MR-row panels per call; the GEMM driver runs the
// product (batch = images, rows = positions, columns = output channels) and its epilogue
// writes each C block to Y transposed, adding the bias.
#include <omp.h>

#include <algorithm>

#include "conv/plan.h"
#include "core/storage.h"
#include "gemm/driver.h"
#include "kernels/gemm/gemm.h"
#include "kernels/transpose/transpose.h"

namespace convkit::internal {

namespace {

constexpr int64_t kNC = 96;  // the column block the kernel choice assumes (pointwise_transposed_kernel)

int64_t padded(int64_t v, int64_t t) { return ceil_div(v, t) * t; }

class PointwiseTPlan : public ConvPlan {
 public:
  PointwiseTPlan(const ConvParams& p, const Tensor& w, const Tensor& b, const kernels::GemmKernel& k)
      : mr_(k.mr), nr_(k.nr), driver_(k) {
    params = p;
    M_ = p.C_out;
    K_ = p.C_in;
    P_ = p.positions();
    // W^T: [C_out/NR panels][C_in][NR], channels past C_out zero.
    const int64_t panels = ceil_div(M_, nr_);
    wt_ = Tensor::empty({panels * K_ * nr_});
    const WeightView wv = weight_view(w);  // [C_out, C_in, 1...], maybe a channel-swapped view
    const float* wp = wv.data();
    float* dst = internal::mutable_data<float>(wt_);
    const kernels::TransposeKernel& tk = kernels::transpose_kernel(max_isa());
    const float* rows[kernels::kTransposeMaxRows];
    for (int64_t jp = 0; jp < panels; ++jp) {
      float* panel = dst + jp * K_ * nr_;
      const int64_t cols = std::min(nr_, M_ - jp * nr_);  // output channels of this panel
      if (wv.s_co == 1) {
        // A channel-swapped view (a backward_data's W^T): panel row ci is a run of W's row ci.
        for (int64_t ci = 0; ci < K_; ++ci) {
          const float* from = wp + ci * wv.s_ci + jp * nr_;
          std::copy(from, from + cols, panel + ci * nr_);
          std::fill(panel + ci * nr_ + cols, panel + (ci + 1) * nr_, 0.0f);
        }
        continue;
      }
      // Panel jp is the transpose of weight rows [jp NR, jp NR + NR): 16 rows at a time through
      // the transpose kernel (a column-by-column gather made 2048 x 512 weights take 0.8 ms).
      for (int64_t j0 = 0; j0 < nr_; j0 += kernels::kTransposeMaxRows) {
        const int64_t n = std::clamp<int64_t>(cols - j0, 0, std::min(kernels::kTransposeMaxRows, nr_ - j0));
        for (int64_t i = 0; i < n; ++i) rows[i] = wp + (jp * nr_ + j0 + i) * wv.s_co;
        if (n > 0) tk.fn(rows, wv.s_ci, n, K_, panel + j0, nr_);
        for (int64_t j = j0 + n; j < std::min(nr_, j0 + kernels::kTransposeMaxRows); ++j)  // channels past C_out
          for (int64_t ci = 0; ci < K_; ++ci) panel[ci * nr_ + j] = 0.0f;
      }
    }
    if (b.defined()) bias_ = b.contiguous().clone();
  }

  int64_t memory_bytes() const override { return wt_.numel() * 4 + xt_.bytes() + driver_.memory_bytes(); }

  void run(const Tensor& x, Tensor& y) const override {
    const ConvParams& p = params;
    const int64_t pp = padded(P_, mr_), panels = pp / mr_, xt_floats = pp * K_;
    const double flops = 2.0 * static_cast<double>(p.N * M_ * P_ * K_);
    const int threads = threads_for(p.N * panels, flops);
    const auto xt = xt_.lease(1, p.N * xt_floats);  // X^T of every image: about the input's size
    float* xt_all = xt.get(0);
    pack_xt(x, xt_all, threads);
    const Bound bound(*this, xt_all, internal::mutable_data<float>(y));
    gemm::Problem pr;
    pr.batch = p.N;
    pr.M = P_;
    pr.N = M_;
    pr.K = K_;
    pr.flops = flops;
    driver_.run(bound, pr);
  }

 private:
  // X^T per image: [P/MR panels][C_in][MR], positions past P zero — packed once per call, not
  // per task (a strided gather: per task it cost ~20% of ResNet-50's 7x7 layer). Position q of
  // the (1x1, stride 1) output reads the same spatial index of the input.
  void pack_xt(const Tensor& x, float* xt_all, int threads) const {
    const ConvParams& p = params;
    const int64_t panels = padded(P_, mr_) / mr_, xt_floats = panels * mr_ * K_;
    int64_t S[3] = {1, 1, 1}, xs[3] = {0, 0, 0};
    for (int64_t i = 0; i < p.dim; ++i) {
      S[3 - p.dim + i] = p.in_size[static_cast<std::size_t>(i)];
      xs[3 - p.dim + i] = x.stride(2 + i);
    }
    const int64_t xs0 = x.stride(0), xs1 = x.stride(1);
    const float* xp = x.const_data<float>();
    // Contiguous planes (the usual case): positions q0 .. q0 + MR - 1 of a channel are
    // consecutive floats, so the panel is one short copy per channel (a gather per element,
    // channels xs1 apart, cost a tenth of ResNet-50 res5's input gradient).
    const bool plane_contiguous =
        (S[2] == 1 || xs[2] == 1) && (S[1] == 1 || xs[1] == S[2]) && (S[0] == 1 || xs[0] == S[1] * S[2]);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t np = 0; np < p.N * panels; ++np) {
      const int64_t n = np / panels, ip = np % panels;
      const float* xn = xp + n * xs0;
      if (plane_contiguous) {
        const int64_t q0 = ip * mr_, cnt = std::min(mr_, P_ - q0);
        float* panel = xt_all + n * xt_floats + ip * K_ * mr_;
        for (int64_t ci = 0; ci < K_; ++ci) {
          std::copy(xn + ci * xs1 + q0, xn + ci * xs1 + q0 + cnt, panel + ci * mr_);
          std::fill(panel + ci * mr_ + cnt, panel + (ci + 1) * mr_, 0.0f);
        }
        continue;
      }
      for (int64_t i = 0; i < mr_; ++i) {
        const int64_t q = ip * mr_ + i;
        float* col = xt_all + n * xt_floats + ip * K_ * mr_ + i;
        if (q >= P_) {
          for (int64_t ci = 0; ci < K_; ++ci) col[ci * mr_] = 0.0f;
          continue;
        }
        const float* src = xn + q / (S[1] * S[2]) * xs[0] + q / S[2] % S[1] * xs[1] + q % S[2] * xs[2];
        for (int64_t ci = 0; ci < K_; ++ci) col[ci * mr_] = src[ci * xs1];
      }
    }
  }

  // The driver's view of one call: A = the packed X^T, B = the plan's W^T panels, C blocks
  // written to Y transposed with the bias.
  class Bound : public gemm::Operands {
   public:
    Bound(const PointwiseTPlan& plan, const float* xt, float* y) : plan_(plan), xt_(xt), y_(y) {}
    const float* a(int64_t n, int64_t, int64_t i0, int64_t, int64_t k0, int64_t, float*, int64_t& stride) const override {
      const int64_t mr = plan_.mr_, K = plan_.K_;
      stride = K * mr;
      return xt_ + n * padded(plan_.P_, mr) * K + (i0 / mr * K + k0) * mr;
    }
    const float* b(int64_t, int64_t, int64_t k0, int64_t, int64_t j0, int64_t, float*, int64_t& ldb) const override {
      ldb = plan_.nr_;
      return plan_.wt_.const_data<float>() + (j0 / plan_.nr_ * plan_.K_ + k0) * plan_.nr_;
    }
    int64_t b_panel_stride(int64_t) const override { return plan_.K_ * plan_.nr_; }
    // Y[n][co][q] = bias[co] + C[q][co] for positions [i0, i0 + m) and channels [j0, j0 + nc).
    void store(int64_t n, int64_t i0, int64_t m, int64_t j0, int64_t nc, const float* c, int64_t ldc) const override {
      const float* bias = plan_.bias_.defined() ? plan_.bias_.const_data<float>() : nullptr;
      float* yn = y_ + n * plan_.M_ * plan_.P_;
      for (int64_t j = 0; j < nc; ++j) {
        float* yc = yn + (j0 + j) * plan_.P_ + i0;
        const float bj = bias ? bias[j0 + j] : 0.0f;
        for (int64_t q = 0; q < m; ++q) yc[q] = bj + c[q * ldc + j];
      }
    }

   private:
    const PointwiseTPlan& plan_;
    const float* xt_;
    float* y_;
  };

 private:
  int64_t mr_, nr_;
  int64_t M_ = 0, K_ = 0, P_ = 0;
  Tensor wt_, bias_;
  Workspace xt_;
  gemm::Driver driver_;
};

}  // namespace

const kernels::GemmKernel* pointwise_transposed_kernel(const ConvParams& p) {
  if (p.groups != 1 || p.C_in < 1) return nullptr;
  for (std::size_t i = 0; i < p.kernel.size(); ++i)
    if (p.kernel[i] != 1 || p.stride[i] != 1 || p.pad_lo[i] != 0 || p.pad_hi[i] != 0) return nullptr;
  // Both orientations with the kernel that pads each least (edge tiles cost full tiles):
  // transposed only when it computes clearly fewer padded products.
  const int64_t P = p.positions(), M = p.C_out;
  auto cost = [](const kernels::GemmKernel& k, int64_t rows, int64_t cols, int64_t nc) {
    return static_cast<double>(padded(rows, k.mr)) * static_cast<double>(cols / nc * padded(nc, k.nr) + padded(cols % nc, k.nr));
  };
  const kernels::GemmKernel& kn = kernels::gemm_kernel_for(max_isa(), M, P, kGemmNC);
  const kernels::GemmKernel& kt = kernels::gemm_kernel_for(max_isa(), P, M, kNC);
  return cost(kt, P, M, kNC) < 0.95 * cost(kn, M, P, kGemmNC) ? &kt : nullptr;
}

std::unique_ptr<ConvPlan> make_pointwise_t_plan(const ConvParams& p, const Tensor& w, const Tensor& b,
                                                const kernels::GemmKernel& k) {
  return std::make_unique<PointwiseTPlan>(p, w, b, k);
}

}  // namespace convkit::internal
