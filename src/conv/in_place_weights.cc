// The weight gradient with x's rows read in place, for the layers the channels-last form does
// not take: pointwise layers (1x1, stride 1, no padding: ResNet-50 res2's 256 -> 64) read x
// itself; layers with few input channels per group (ResNet-50's first layer on RGB) read a
// padded copy of x split by stride phases. Per group g, with R = C_in/g x taps, M = C_out/g:
//
//   dW_g^T[R, M] = sum over images n of A_g[n][R, Q] * B_g[n][Q, M]
//
// Q runs over a grid of the outputs: output (o0, o1, o2) is q = (o0 L1 + o1) L2 + o2, L the
// extents of a phase of the copy (pointwise: the positions themselves, L = (1, 1, P)). Padded
// index u of a dim with stride s is position u / s of phase u % s, so the elements tap t of
// channel ci meets are its phase of ci's copy from a fixed offset on, one per q: row (ci, t)
// of A, read in place through the microkernel's A-rows form. Grid positions past O2 (the
// tap's reach into the next row) read what is there; B, dY^T packed per block, is zero at
// them. im2col transposes taps x the input per block instead (for a pointwise layer, x: four
// times dY on res2). dW^T goes to a scratch [G][R][M] (the driver adds a split reduction's
// chunks there), then is transposed into dW [G][M][R]. With a copy, an x with inf or NaN
// takes the reference (a grid position that is no output would multiply it by zero).
#include <omp.h>

#include <algorithm>
#include <vector>

#include "conv/padded_copy.h"
#include "conv/plan.h"
#include "conv/reference.h"
#include "core/finite.h"
#include "core/storage.h"
#include "gemm/driver.h"
#include "kernels/copy/copy.h"
#include "kernels/transpose/transpose.h"

namespace convkit::internal {

namespace {

// 1x1, stride 1, no padding: x's channel planes are A's rows.
bool pointwise(const ConvParams& p) {
  for (std::size_t d = 0; d < static_cast<std::size_t>(p.dim); ++d)
    if (p.kernel[d] != 1 || p.stride[d] != 1 || p.pad_lo[d] != 0 || p.pad_hi[d] != 0) return false;
  return true;
}

class InPlaceWeightsPlan : public BackwardWeightsPlan {
 public:
  explicit InPlaceWeightsPlan(const ConvParams& p)
      : copy_geo_(p), g3_(copy_geo_.g), in_place_(pointwise(p)), G_(p.groups), M_(p.c_out_per_group()),
        R_(p.c_in_per_group() * g3_.taps()), P_(p.positions()), driver_(*kernels::gemm_arows_kernel(max_isa())),
        transpose_(kernels::transpose_kernel(max_isa())), copy_(kernels::copy_kernel(max_isa())) {
    params = p;
    if (in_place_) {  // the grid is the positions, one after the other
      L_[2] = O_[2] = Q_ = P_;
      return;
    }
    for (int d = 0; d < 3; ++d) O_[d] = g3_.O[d];
    int64_t phases = 1;
    for (int d = 0; d < 3; ++d) {
      L_[d] = ceil_div(copy_geo_.Sp[d], g3_.st[d]);
      phases *= g3_.st[d];
    }
    phase_ = L_[0] * L_[1] * L_[2];
    cs_ = phases * phase_;
    Q_ = ((g3_.O[0] - 1) * L_[1] + g3_.O[1] - 1) * L_[2] + g3_.O[2];
    // Row (ci, t)'s offset in the copy of a group; conv_mode=convolution applies the taps mirrored.
    const int64_t taps = g3_.taps();
    row_off_.resize(static_cast<std::size_t>(R_));
    for (int64_t r = 0; r < R_; ++r) {
      const int64_t t = p.conv_mode == ConvMode::Convolution ? taps - 1 - r % taps : r % taps;
      const int64_t k[3] = {t / (g3_.K[1] * g3_.K[2]), t / g3_.K[2] % g3_.K[1], t % g3_.K[2]};
      int64_t ph = 0, shift = 0;
      for (int d = 0; d < 3; ++d) {
        const int64_t u = k[d] * g3_.dl[d];
        ph = ph * g3_.st[d] + u % g3_.st[d];
        shift = shift * L_[d] + u / g3_.st[d];
      }
      row_off_[static_cast<std::size_t>(r)] = r / taps * cs_ + ph * phase_ + shift;
    }
  }

  void run(const Tensor& x, const Tensor& gy, Tensor& gw) const override {
    const ConvParams& p = params;
    const Tensor dy = gy.contiguous();  // [N, C_out, P]
    if (reference_weights_if_nonfinite(p, x, dy, gw)) return;
    // Grid positions that are no output multiply x by zero: an inf or NaN of x there would add
    // a NaN the sum over outputs does not have. (x of few channels: one pass is cheap.)
    if (!in_place_ && !all_finite(x)) {
      reference_backward_weights(p, x, dy, gw);
      return;
    }
    const int64_t copy_floats = in_place_ ? 0 : p.N * p.C_in * cs_;
    const auto lease = work_.lease(1, copy_floats + G_ * R_ * M_);  // kept for the next call
    float* src = lease.get(0);
    float* dwt = src + copy_floats;
    std::vector<const float*> rows(static_cast<std::size_t>(p.N * G_ * R_));  // [N][G][R]
    Tensor xc;  // a pointwise layer's x with each channel's plane contiguous
    if (in_place_) {
      bool planes = true;
      for (int64_t d = x.dim() - 1, expect = 1; d >= 2; expect *= x.size(d), --d)
        planes = planes && (x.size(d) == 1 || x.stride(d) == expect);
      xc = planes ? x : x.contiguous();
      for (int64_t n = 0; n < p.N; ++n)
        for (int64_t c = 0; c < p.C_in; ++c)
          rows[static_cast<std::size_t>(n * p.C_in + c)] = xc.const_data<float>() + n * xc.stride(0) + c * xc.stride(1);
    } else {
      fill_copy(x, src);
      for (int64_t ng = 0; ng < p.N * G_; ++ng)
        for (int64_t r = 0; r < R_; ++r)
          rows[static_cast<std::size_t>(ng * R_ + r)] =
              src + ng * p.c_in_per_group() * cs_ + row_off_[static_cast<std::size_t>(r)];
    }
    const Bound bound(*this, rows.data(), dy.const_data<float>(), dwt);
    gemm::Problem pr;
    pr.batch = G_;
    pr.M = R_;
    pr.N = M_;
    pr.outer = p.N;
    pr.K = Q_;
    pr.split_reduction = true;
    pr.rows_in_task = true;  // each B block packed once for all the rows of a task
    pr.flops = 2.0 * static_cast<double>(p.N * p.C_out * R_) * static_cast<double>(P_);
    driver_.run(bound, pr);
    transpose_groups(dwt, G_, R_, M_, internal::mutable_data<float>(gw));
  }
  int64_t memory_bytes() const override { return driver_.memory_bytes() + work_.bytes(); }

 private:
  // x -> per image and channel [phases][L0][L1][L2]: each padded row (d, h) (any padding mode)
  // split into its column phases, into the row (d / s0, h / s1) of phase (d % s0, h % s1, w %
  // s2). Positions past a phase's share of the padded extent stay as they are (zero: every call
  // writes the same ones).
  void fill_copy(const Tensor& x, float* out) const {
    const ConvParams& p = params;
    const PaddedCopy::Source<float> xs(x);
    const int64_t channels = p.N * p.C_in, Sp2 = copy_geo_.Sp[2], s2 = g3_.st[2];
    const int threads = threads_for(channels, static_cast<double>(channels * copy_geo_.plane) * 8);
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
      std::vector<float> row(static_cast<std::size_t>(Sp2));
#pragma omp for schedule(static)
      for (int64_t nc = 0; nc < channels; ++nc) {
        float* ch = out + nc * cs_;
        for (int64_t r = 0; r < copy_geo_.Sp[0] * copy_geo_.Sp[1]; ++r) {
          const int64_t d = r / copy_geo_.Sp[1], h = r % copy_geo_.Sp[1];
          copy_geo_.fill_row(xs, nc / p.C_in, nc % p.C_in, r, row.data());
          for (int64_t pw = 0; pw < s2 && pw < Sp2; ++pw) {
            const int64_t ph = ((d % g3_.st[0]) * g3_.st[1] + h % g3_.st[1]) * s2 + pw;
            float* dst = ch + ph * phase_ + (d / g3_.st[0] * L_[1] + h / g3_.st[1]) * L_[2];
            copy_.fn(row.data() + pw, s2, ceil_div(Sp2 - pw, s2), dst);
          }
        }
      }
    }
  }

  class Bound : public gemm::Operands {
   public:
    Bound(const InPlaceWeightsPlan& plan, const float* const* rows, const float* dy, float* dwt)
        : plan_(plan), rows_(rows), dy_(dy), dwt_(dwt) {}
    // (A is read in place: a_rows.)
    const float* a(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, float*, int64_t&) const override {
      return nullptr;
    }
    // Rows i0, ... of group g, image o, from grid position k0 on.
    const float* const* a_rows(int64_t g, int64_t o, int64_t i0, int64_t k0, int64_t& off) const override {
      off = k0;
      return rows_ + (o * plan_.G_ + g) * plan_.R_ + i0;
    }
    // dY^T on the grid: row k = grid position k0 + k, column j = output channel j0 + j of group
    // g, image o; zero where the position is no output. Runs of outputs along the last dim go
    // through the transposes, 16 channels at a time.
    const float* b(int64_t g, int64_t o, int64_t k0, int64_t kc, int64_t j0, int64_t n, float* buf,
                   int64_t& ldb) const override {
      const int64_t *L = plan_.L_, *O = plan_.O_;
      const float* dyc = dy_ + (o * plan_.params.C_out + g * plan_.M_ + j0) * plan_.P_;
      const float* srcs[kernels::kTransposeMaxRows];
      for (int64_t k = 0; k < kc;) {
        const int64_t q = k0 + k, o2 = q % L[2], o1 = q / L[2] % L[1], o0 = q / (L[2] * L[1]);
        const int64_t run = std::min(L[2] - o2, kc - k);
        const int64_t valid = o1 < O[1] && o0 < O[0] ? std::clamp<int64_t>(O[2] - o2, 0, run) : 0;
        const int64_t pos = (o0 * O[1] + o1) * O[2] + o2;
        for (int64_t jt = 0; jt < n && valid > 0; jt += kernels::kTransposeMaxRows) {
          const int64_t jn = std::min(kernels::kTransposeMaxRows, n - jt);
          for (int64_t t = 0; t < jn; ++t) srcs[t] = dyc + (jt + t) * plan_.P_ + pos;
          plan_.transpose_.fn(srcs, 1, jn, valid, buf + k * ldb + jt, ldb);
        }
        for (int64_t i = valid; i < run; ++i) std::fill(buf + (k + i) * ldb, buf + (k + i) * ldb + n, 0.0f);
        k += run;
      }
      return buf;
    }
    float* c(int64_t g, int64_t i0, int64_t j0, int64_t& ldc) const override {
      ldc = plan_.M_;
      return dwt_ + (g * plan_.R_ + i0) * plan_.M_ + j0;
    }

   private:
    const InPlaceWeightsPlan& plan_;
    const float* const* rows_;
    const float* dy_;
    float* dwt_;
  };

  PaddedCopy copy_geo_;  // the padded extents (before the phase split) and the row filler
  Lifted g3_;
  bool in_place_;  // a pointwise layer: A's rows are x's channel planes, no copy
  int64_t G_, M_, R_, P_;
  int64_t L_[3] = {1, 1, 1}, O_[3] = {1, 1, 1};   // the grid's extents and its outputs' in each dim
  int64_t phase_ = 1, cs_ = 1, Q_ = 0;            // floats per phase and per channel of the copy; grid size
  std::vector<int64_t> row_off_;                            // per row (ci, t) of a group: its offset
  gemm::Driver driver_;
  const kernels::TransposeKernel& transpose_;
  const kernels::CopyKernel& copy_;
  Workspace work_;  // the copy and dW^T, kept between calls
};

}  // namespace

bool in_place_weights_serve(const ConvParams& p) {
  const kernels::GemmKernel* k = kernels::gemm_arows_kernel(max_isa());
  if (p.dtype != kFloat32 || p.N <= 0 || k == nullptr) return false;
  if (pointwise(p)) return true;
  if (!padded_copy_fits(p)) return false;
  const Lifted g = lift3(p);
  if (g.taps() < 2) return false;
  // Output channels in whole column tiles, or nearly (the seed Conv1d's 33 would pad to 64).
  const int64_t m = p.c_out_per_group();
  if (ceil_div(m, k->nr) * k->nr > m + m / 8) return false;
  // The grid's positions (with a tap's reach into the next row) against the outputs, and the
  // stride phases (a stride beyond the kernel's span copies phases nothing reads).
  double grid = 0, outputs = 1;
  int64_t phases = 1;
  for (int d = 0; d < 3; ++d) {
    const int64_t L = ceil_div(g.read_extent(d), g.st[d]);
    grid = grid * static_cast<double>(L) + static_cast<double>(g.O[d] - (d < 2 ? 1 : 0));
    outputs *= static_cast<double>(g.O[d]);
    phases *= g.st[d];
    if (g.st[d] > (g.K[d] - 1) * g.dl[d] + 1) return false;
  }
  return phases <= 64 && grid <= 1.25 * outputs;
}

std::unique_ptr<BackwardWeightsPlan> make_in_place_weights_plan(const ConvParams& p) {
  return std::make_unique<InPlaceWeightsPlan>(p);
}

}  // namespace convkit::internal
