// The weight gradient of a pointwise layer (1x1 kernel, stride 1, no padding) with the input
// read in place. Per group g, with C = C_in/g, M = C_out/g and P positions per image:
//
//   dW_g^T[C, M] = sum over images n of X_g[n][C, P] * dY_g[n][M, P]^T
//
// A is X's channel rows, read in place through the microkernel's A-rows form (the reduction
// runs along them); B is dY^T, packed per block by the transposes. The im2col form
// (dW = dY * X^T) transposes X instead, the larger operand where a layer reduces its channels
// (ResNet-50 res2's 256 -> 64: X is four times dY). dW^T goes to a scratch [G][C][M] (the
// driver adds a split reduction's chunks there), then transposed into dW [G][M][C].
#include <omp.h>

#include <algorithm>
#include <vector>

#include "conv/plan.h"
#include "conv/reference.h"
#include "core/storage.h"
#include "gemm/driver.h"
#include "kernels/transpose/transpose.h"

namespace convkit::internal {

namespace {

class PointwiseWeightsPlan : public BackwardWeightsPlan {
 public:
  explicit PointwiseWeightsPlan(const ConvParams& p)
      : G_(p.groups), C_(p.c_in_per_group()), M_(p.c_out_per_group()), P_(p.positions()),
        driver_(*kernels::gemm_arows_kernel(max_isa())), transpose_(kernels::transpose_kernel(max_isa())) {
    params = p;
  }

  void run(const Tensor& x_in, const Tensor& gy, Tensor& gw) const override {
    const ConvParams& p = params;
    const Tensor dy = gy.contiguous();  // [N, C_out, P]
    if (reference_weights_if_nonfinite(p, x_in, dy, gw)) return;
    // Rows of positions, each channel's plane contiguous (any image and channel strides).
    bool planes = true;
    for (int64_t d = x_in.dim() - 1, expect = 1; d >= 2; expect *= x_in.size(d), --d)
      planes = planes && (x_in.size(d) == 1 || x_in.stride(d) == expect);
    const Tensor x = planes ? x_in : x_in.contiguous();
    std::vector<const float*> rows(static_cast<std::size_t>(p.N * p.C_in));  // [N][C_in]
    const float* xp = x.const_data<float>();
    for (int64_t n = 0; n < p.N; ++n)
      for (int64_t c = 0; c < p.C_in; ++c) rows[static_cast<std::size_t>(n * p.C_in + c)] = xp + n * x.stride(0) + c * x.stride(1);
    const auto scratch = scratch_.lease(1, G_ * C_ * M_);
    const Bound bound(*this, rows.data(), dy.const_data<float>(), scratch.get(0));
    gemm::Problem pr;
    pr.batch = G_;
    pr.M = C_;
    pr.N = M_;
    pr.outer = p.N;
    pr.K = P_;
    pr.split_reduction = true;
    pr.rows_in_task = true;  // each B block packed once for all the channels of a task
    pr.flops = 2.0 * static_cast<double>(p.N * p.C_out * C_) * static_cast<double>(P_);
    driver_.run(bound, pr);
    transpose_groups(scratch.get(0), G_, C_, M_, internal::mutable_data<float>(gw));
  }
  int64_t memory_bytes() const override { return driver_.memory_bytes() + scratch_.bytes(); }

 private:
  class Bound : public gemm::Operands {
   public:
    Bound(const PointwiseWeightsPlan& plan, const float* const* rows, const float* dy, float* dwt)
        : plan_(plan), rows_(rows), dy_(dy), dwt_(dwt) {}
    // (A is read in place: a_rows.)
    const float* a(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, float*, int64_t&) const override {
      return nullptr;
    }
    // Channels i0, ... of group g, image o, from position k0 on.
    const float* const* a_rows(int64_t g, int64_t o, int64_t i0, int64_t k0, int64_t& off) const override {
      off = k0;
      return rows_ + o * plan_.params.C_in + g * plan_.C_ + i0;
    }
    // dY^T: row k = position k0 + k, column j = output channel j0 + j of group g, image o.
    const float* b(int64_t g, int64_t o, int64_t k0, int64_t kc, int64_t j0, int64_t n, float* buf,
                   int64_t& ldb) const override {
      const float* srcs[kernels::kTransposeMaxRows];
      const float* base = dy_ + ((o * plan_.params.C_out + g * plan_.M_ + j0) * plan_.P_ + k0);
      for (int64_t jt = 0; jt < n; jt += kernels::kTransposeMaxRows) {
        const int64_t jn = std::min(kernels::kTransposeMaxRows, n - jt);
        for (int64_t t = 0; t < jn; ++t) srcs[t] = base + (jt + t) * plan_.P_;
        plan_.transpose_.fn(srcs, 1, jn, kc, buf + jt, ldb);
      }
      return buf;
    }
    float* c(int64_t g, int64_t i0, int64_t j0, int64_t& ldc) const override {
      ldc = plan_.M_;
      return dwt_ + (g * plan_.C_ + i0) * plan_.M_ + j0;
    }

   private:
    const PointwiseWeightsPlan& plan_;
    const float* const* rows_;
    const float* dy_;
    float* dwt_;
  };

  int64_t G_, C_, M_, P_;
  gemm::Driver driver_;
  const kernels::TransposeKernel& transpose_;
  Workspace scratch_;  // dW^T, kept between calls
};

}  // namespace

bool pointwise_weights_serve(const ConvParams& p) {
  if (p.dtype != kFloat32 || p.N <= 0 || kernels::gemm_arows_kernel(max_isa()) == nullptr) return false;
  for (int64_t i = 0; i < p.dim; ++i) {
    const auto d = static_cast<std::size_t>(i);
    if (p.kernel[d] != 1 || p.stride[d] != 1 || p.pad_lo[d] != 0 || p.pad_hi[d] != 0) return false;
  }
  return true;
}

std::unique_ptr<BackwardWeightsPlan> make_pointwise_weights_plan(const ConvParams& p) {
  return std::make_unique<PointwiseWeightsPlan>(p);
}

}  // namespace convkit::internal
