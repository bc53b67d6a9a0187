// Pointwise (1x1, stride 1, no padding, groups 1) float32 convolutions with few output
// positions, computed transposed: per image
//   Y^T[P, C_out] = X^T[P, C_in] * W^T[C_in, C_out],
// so the microkernel's vector dimension runs over output channels (many, whole vectors) and its
// rows over positions (few). ResNet-50's last 1x1 layer has P = 7 x 7 = 49: 32-wide column
// tiles pad it to 64 (77% useful), 8-row tiles to 56 (88%). W^T is packed once in NR-wide
// panels; X^T of each image is packed in MR-row panels per call; each task (image, block of
// output channels) computes its block into scratch and writes it to Y transposed, adding the
// bias.
#include <omp.h>

#include <algorithm>

#include "conv/plan.h"
#include "core/storage.h"
#include "kernels/gemm/gemm.h"

namespace convkit::internal {

namespace {

constexpr int64_t kNC = 96;   // output channels per task: whole tiles of every kernel

int64_t padded(int64_t v, int64_t t) { return ceil_div(v, t) * t; }

int64_t positions(const ConvParams& p) {
  int64_t P = 1;
  for (int64_t s : p.out_size) P *= s;
  return P;
}

class PointwiseTPlan : public ConvPlan {
 public:
  PointwiseTPlan(const ConvParams& p, const Tensor& w, const Tensor& b, const kernels::GemmKernel& k)
      : kernel_(k), mr_(k.mr), nr_(k.nr) {
    params = p;
    M_ = p.C_out;
    K_ = p.C_in;
    P_ = positions(p);
    // W^T: [C_out/NR panels][C_in][NR], channels past C_out zero.
    const int64_t panels = ceil_div(M_, nr_);
    wt_ = Tensor::empty({panels * K_ * nr_});
    const Tensor wc = w.contiguous();  // [C_out, C_in, 1...]
    const float* wp = wc.const_data<float>();
    float* dst = internal::mutable_data<float>(wt_);
    for (int64_t jp = 0; jp < panels; ++jp)
      for (int64_t ci = 0; ci < K_; ++ci, dst += nr_)
        for (int64_t j = 0; j < nr_; ++j) dst[j] = jp * nr_ + j < M_ ? wp[(jp * nr_ + j) * K_ + ci] : 0.0f;
    if (b.defined()) bias_ = b.contiguous().clone();
  }

  int64_t memory_bytes() const override { return wt_.numel() * 4 + xt_.bytes() + ws_.bytes(); }

  void run(const Tensor& x, Tensor& y) const override {
    const ConvParams& p = params;
    const int64_t pp = padded(P_, mr_), nJ = ceil_div(M_, kNC), tasks = p.N * nJ, kb = gemm_k_block(K_);
    const int threads = threads_for(tasks, 2.0 * static_cast<double>(p.N * M_ * P_ * K_));
    const int64_t xt_floats = pp * K_, panels = pp / mr_;
    const auto xt = xt_.lease(1, p.N * xt_floats);  // X^T of every image: about the input's size
    const auto ws = ws_.lease(threads, pp * kNC);  // per thread: a Y^T block
    // Position q of the (1x1, stride 1) output reads the same spatial index of the input.
    int64_t S[3] = {1, 1, 1}, xs[3] = {0, 0, 0};
    for (int64_t i = 0; i < p.dim; ++i) {
      S[3 - p.dim + i] = p.in_size[static_cast<std::size_t>(i)];
      xs[3 - p.dim + i] = x.stride(2 + i);
    }
    const float* bias = bias_.defined() ? bias_.const_data<float>() : nullptr;
    const int64_t xs0 = x.stride(0), xs1 = x.stride(1);
    const float* xp = x.const_data<float>();
    float* yp = internal::mutable_data<float>(y);
    float* xt_all = xt.get(0);
    // X^T per image: [P/MR panels][C_in][MR], positions past P zero — packed once, not per
    // task (a strided gather: per task it cost ~20% of ResNet-50's 7x7 layer).
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t np = 0; np < p.N * panels; ++np) {
      const int64_t n = np / panels, ip = np % panels;
      const float* xn = xp + n * xs0;
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
    // Tasks (image, block of output channels) own disjoint outputs; each sums K in one order:
    // the same bits for any thread count.
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t task = 0; task < tasks; ++task) {
      const int64_t n = task / nJ, jc = task % nJ * kNC, nc = std::min(kNC, M_ - jc);
      const float* xtn = xt_all + n * xt_floats;
      float* ct = ws.get(omp_get_thread_num());  // Y^T block: ct[q * kNC + j]
      for (int64_t pc = 0; pc < K_; pc += kb) {
        const int64_t kc = std::min(kb, K_ - pc);
        for (int64_t jr = 0; jr < nc; jr += nr_)
          for (int64_t ir = 0; ir < P_; ir += mr_)
            kernel_.fn(kc, xtn + (ir / mr_ * K_ + pc) * mr_, wt_.const_data<float>() + ((jc + jr) / nr_ * K_ + pc) * nr_, nr_,
                       ct + ir * kNC + jr, kNC, std::min(mr_, P_ - ir), std::min(nr_, nc - jr), pc > 0, nullptr);
      }
      // Y[co, q] = bias[co] + Y^T[q, co].
      float* yn = yp + n * M_ * P_;
      for (int64_t j = 0; j < nc; ++j) {
        float* yc = yn + (jc + j) * P_;
        const float bj = bias ? bias[jc + j] : 0.0f;
        for (int64_t q = 0; q < P_; ++q) yc[q] = bj + ct[q * kNC + j];
      }
    }
  }

 private:
  const kernels::GemmKernel& kernel_;
  int64_t mr_, nr_;
  int64_t M_ = 0, K_ = 0, P_ = 0;
  Tensor wt_, bias_;
  Workspace xt_, ws_;
};

}  // namespace

const kernels::GemmKernel* pointwise_transposed_kernel(const ConvParams& p) {
  if (p.groups != 1 || p.C_in < 1) return nullptr;
  for (std::size_t i = 0; i < p.kernel.size(); ++i)
    if (p.kernel[i] != 1 || p.stride[i] != 1 || p.pad_lo[i] != 0 || p.pad_hi[i] != 0) return nullptr;
  // Both orientations with the kernel that pads each least (edge tiles cost full tiles):
  // transposed only when it computes clearly fewer padded products.
  const int64_t P = positions(p), M = p.C_out;
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
