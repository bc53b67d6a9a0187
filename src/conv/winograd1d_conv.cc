// Winograd F(4, 3) for float32 1-d convolutions with 3 taps, stride 1, any dilation (as d
// undilated sub-sequences), groups 1 and zero padding: the 1-d form of winograd_conv.cc
// (Lavin & Gray, arXiv:1509.09308). Each 4-output tile comes from a 6-input window,
//   y = A^T [ (G g) (.) (B^T d) ],
// so per tile and channel pair 6 multiplications replace 12; the sums over input channels are
// 6 GEMMs [C_out x C_in] x [C_in x tiles] on the GEMM path's microkernels. Dilation d splits
// the outputs into d sub-sequences (outputs a + d i), each an undilated convolution of the
// input sub-sequence a - pad + d j. docs/winograd.md gives the measured error.
#include <omp.h>

#include <algorithm>
#include <atomic>

#include "conv/plan.h"
#include "core/storage.h"
#include "gemm/driver.h"
#include "kernels/gemm/gemm.h"
#include "kernels/scan/scan.h"
#include "kernels/winograd/winograd.h"

namespace convkit::internal {

namespace {

constexpr int64_t kLanes = 16;            // tiles per transform call: a lane group
constexpr int64_t kGroups = 4;            // lane groups per task
constexpr int64_t kTiles = kGroups * kLanes;  // V and M columns per task (the GEMMs' N)

// Tiles of the largest sub-sequence (a = 0, ceil(Lo / d) outputs); every sub-sequence gets as many.
int64_t tiles_of(const ConvParams& p) { return ceil_div(ceil_div(p.out_size[0], p.dilation[0]), 4); }

class Winograd1dPlan : public FiniteInputPlan {
 public:
  Winograd1dPlan(const ConvParams& p, const Tensor& w, const Tensor& b)
      : kernel_(kernels::gemm_kernel_for(max_isa(), p.C_out, kTiles, kTiles)),
        wk_(kernels::winograd_kernels(max_isa())),
        scan_(kernels::scan_kernel(max_isa())),
        driver_(kernel_),
        mr_(kernel_.mr) {
    params = p;
    M_ = p.C_out;
    K_ = p.C_in;
    d_ = p.dilation[0];
    Lo_ = p.out_size[0];
    grids_ = std::min(d_, Lo_);
    tiles_ = tiles_of(p);
    // Lane groups (winograd.h): q = min(d, 16) neighbouring sub-sequences x 16 / q tile indices.
    // For d >= 16 a group is 16 sub-sequences at one tile index (each window column is 16
    // consecutive inputs); below, every sub-sequence at 16 / d tile indices.
    q_ = std::min<int64_t>(d_, kLanes);
    per_ = kLanes / q_;
    iblocks_ = ceil_div(tiles_, per_);
    groups_ = ceil_div(grids_, q_) * iblocks_;
    panels_ = ceil_div(M_, mr_);
    CONVKIT_CHECK(mr_ <= 32, "internal: gemm kernel MR ", mr_, " exceeds the Winograd packer's 32 rows");
    // U: [6][M/MR panels][C_in][MR], rows past C_out zero. One MR-row panel and one input
    // channel at a time: its MR kernels, gathered tap-major, transform into 6 runs of MR floats.
    ustride_ = panels_ * K_ * mr_;
    u_ = Tensor::empty({6 * ustride_});
    const WeightView wv = weight_view(w);  // [C_out, C_in, 3], maybe a channel-swapped view
    const float* wp = wv.data();
    float* up = internal::mutable_data<float>(u_);
    const bool flip = p.conv_mode == ConvMode::Convolution;
    for (int64_t pb = 0; pb < panels_; ++pb) {
      float g[3 * 32];  // [tap][MR]
      for (int64_t ci = 0; ci < K_; ++ci) {
        for (int64_t lane = 0; lane < mr_; ++lane) {
          const int64_t co = pb * mr_ + lane;
          for (int t = 0; t < 3; ++t) g[t * mr_ + lane] = co < M_ ? wp[co * wv.s_co + ci * wv.s_ci + (flip ? 2 - t : t) * wv.s_t] : 0.0f;
        }
        wk_.weight_1d(g, mr_, up + (pb * K_ + ci) * mr_, ustride_);
      }
    }
    if (b.defined()) bias_ = b.contiguous().clone();
  }

  int64_t memory_bytes() const override { return u_.numel() * 4 + ws_.bytes(); }

  bool run_if_finite(const Tensor& x, Tensor& y) const override {
    const ConvParams& p = params;
    const int64_t chunks = ceil_div(groups_, kGroups);
    const int64_t tasks = p.N * chunks;
    const int threads = threads_for(tasks, 2.0 * 6 * static_cast<double>(p.N * groups_ * kLanes * M_ * K_));
    const int64_t v_floats = 6 * K_ * kTiles, m_floats = 6 * M_ * kTiles;  // per thread: V, M
    const auto ws = ws_.lease(threads, v_floats + m_floats);
    const float* xp = x.const_data<float>();
    float* yp = internal::mutable_data<float>(y);
    const int64_t xs0 = x.stride(0), xs1 = x.stride(1), xs = x.stride(2), L = p.in_size[0], lo = p.pad_lo[0];
    const float* bias = bias_.defined() ? bias_.const_data<float>() : nullptr;

    // Tasks (image, chunk of lane groups) own disjoint outputs and compute them with the same
    // operations whatever the thread count: the same bits.
    std::atomic<bool> nonfinite{false};  // once set, the remaining tasks are skipped
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t task = 0; task < tasks; ++task) {
      if (nonfinite.load(std::memory_order_relaxed)) continue;
      const int64_t n = task / chunks, g0 = task % chunks * kGroups, ng = std::min(kGroups, groups_ - g0);
      float* v = ws.get(omp_get_thread_num());
      float* m = v + v_floats;
      const float* xn = xp + n * xs0;
      float* yn = yp + n * M_ * Lo_;
      // Input transforms, group k in V's columns 16 k .. (channel by channel: the chunk's groups
      // read neighbouring inputs of each channel).
      Group grs[kGroups];
      for (int64_t k = 0; k < ng; ++k) grs[k] = group(g0 + k);
      for (int64_t ci = 0; ci < K_; ++ci)
        for (int64_t k = 0; k < ng; ++k)
          wk_.input_1d(xn + ci * xs1, xs, L, grs[k].out - lo, d_, grs[k].lanes, v + ci * kTiles + k * kLanes, K_ * kTiles);
      // An inf or NaN in a window would poison its whole tile. B^T's rows 0 and 5 take inputs
      // 0, 2, 4 and 1, 3, 5 with non-zero factors, so such a window makes V's row 0 or 5 inf or
      // NaN: those two rows of each group's lanes are checked, from cache.
      // Groups with every lane in use make one run per row (lanes past a group's are stale).
      bool full = true;
      for (int64_t k = 0; k < ng; ++k) full = full && grs[k].lanes == kLanes;
      bool finite = true;
      for (int64_t j : {0, 5}) {
        const float* vj = v + j * K_ * kTiles;
        if (full) finite = finite && scan_.finite_rows(vj, kTiles, K_, ng * kLanes);
        for (int64_t k = 0; k < ng && !full && finite; ++k)
          finite = scan_.finite_rows(vj + k * kLanes, kTiles, K_, grs[k].lanes);
      }
      if (!finite) {
        nonfinite.store(true, std::memory_order_relaxed);
        continue;
      }
      // The 6 products M[j] = U[j] V[j] over the chunk's columns, on the GEMM driver.
      const gemm::PackedAOperands op(u_.const_data<float>(), ustride_, mr_, v, m, M_, K_, kTiles);
      for (int64_t j = 0; j < 6; ++j) driver_.run_serial(op, {.batch = 6, .M = M_, .N = ng * kLanes, .K = K_}, j, {});
      // Output transforms, straight into y (outputs past Lo are dropped by the kernel).
      for (int64_t co = 0; co < M_; ++co)
        for (int64_t k = 0; k < ng; ++k)
          wk_.output_1d(m + co * kTiles + k * kLanes, M_ * kTiles, yn + co * Lo_, Lo_, grs[k].out, d_, grs[k].lanes,
                        bias ? bias[co] : 0.0f);
    }
    return !nonfinite.load();
  }

 private:
  struct Group {
    int64_t out;    // output index of lane 0's first output
    int64_t lanes;  // lanes in use
  };
  // Group g: sub-sequence block g / iblocks_ (q sub-sequences from a0), tile indices from
  // i0 = (g % iblocks_) * per_. Lanes past the sub-sequences (d >= 16) or tiles are not used.
  Group group(int64_t g) const {
    const int64_t a0 = g / iblocks_ * q_, i0 = g % iblocks_ * per_;
    const int64_t lanes = q_ == kLanes ? std::min(kLanes, grids_ - a0) : q_ * std::min(per_, tiles_ - i0);
    return {a0 + 4 * d_ * i0, lanes};
  }

  const kernels::GemmKernel& kernel_;
  const kernels::WinogradKernels& wk_;
  const kernels::ScanKernel& scan_;
  gemm::Driver driver_;
  int64_t mr_;
  int64_t M_ = 0, K_ = 0, d_ = 1, Lo_ = 0, grids_ = 1, tiles_ = 0, panels_ = 0, ustride_ = 0;
  int64_t q_ = 1, per_ = 16, iblocks_ = 1, groups_ = 1;
  Tensor u_, bias_;
  Workspace ws_;
};

}  // namespace

std::unique_ptr<ConvPlan> make_winograd1d_plan(const ConvParams& p, const Tensor& w, const Tensor& b) {
  return exact_on_nonfinite(std::make_unique<Winograd1dPlan>(p, w, b), w, b);
}

}  // namespace convkit::internal
