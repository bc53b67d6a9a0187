// Winograd F(4x4, 3x3) for float32 2-d convolutions with 3x3 kernels, stride 1, any dilation
// (as d x d undilated sub-grids), groups 1 and zero padding (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks", arXiv:1509.09308). Each 4x4 output tile comes from a 6x6 input tile:
//   Y = A^T [ (G g G^T) (.) (B^T d B) ] A
// so per tile and channel pair 36 multiplications replace 144. The 36 element-wise products
// summed over input channels are 36 GEMMs [C_out x C_in] x [C_in x tiles], run with the same
// microkernel as the GEMM path. Rounding differs from direct summation (docs/winograd.md
// gives the measured error); `auto` picks it only when allow_fast_winograd() (convkit/settings.h).
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <vector>

#include "conv/plan.h"
#include "core/storage.h"
#include "gemm/driver.h"
#include "kernels/gemm/gemm.h"
#include "kernels/scan/scan.h"
#include "kernels/winograd/winograd.h"

namespace convkit::internal {

namespace {

constexpr int64_t kTilesPerBlock = 32;  // tiles per task (the GEMM's N)
constexpr int64_t kLanes = 16;          // tiles per transform kernel call
constexpr int64_t kStrip = 4 * kLanes + 2;

class WinogradPlan : public FiniteInputPlan {
 public:
  WinogradPlan(const ConvParams& p, const Tensor& w, const Tensor& b)
      : kernel_(pick_kernel(p)),
        wk_(kernels::winograd_kernels(max_isa())),
        scan_(kernels::scan_kernel(max_isa())),
        driver_(kernel_),
        mr_(kernel_.mr) {
    params = p;
    M_ = p.C_out;
    K_ = p.C_in;
    panels_ = (M_ + mr_ - 1) / mr_;
    // U: [36][M/MR panels][C_in][MR], rows past C_out zero; position xi starts at xi * ustride_.
    // The plan writes the 36 positions together: a large U's positions start one cache line
    // apart modulo 4 KiB, so the 36 write streams use 36 L1 sets (at a multiple of 4 KiB
    // they would share one set and evict each other's half-written lines).
    const int64_t per_xi = panels_ * K_ * mr_;
    ustride_ = per_xi >= 1024 ? (per_xi + 1023) / 1024 * 1024 + 16 : per_xi;
    u_ = Tensor::empty({36 * ustride_});
    const WeightView wv = weight_view(w);  // contiguous, or a backward_data's channel-swapped view
    const bool flip = p.conv_mode == ConvMode::Convolution;
    // One MR-row panel and one input channel at a time: its MR kernels, gathered tap-major,
    // transform straight into their 36 places, a run of MR floats in each position's
    // [C_in][MR] panel. Panels run in parallel, so making the plan stays a small multiple of
    // one forward.
    CONVKIT_CHECK(mr_ <= 32, "internal: gemm kernel MR ", mr_, " exceeds the Winograd packer's 32 rows");
    float* up = internal::mutable_data<float>(u_);
    const float* wp = wv.data();
    const int threads = threads_for(panels_, 200.0 * static_cast<double>(M_ * K_));
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t pb = 0; pb < panels_; ++pb) {
      alignas(64) float g[9 * 32];  // [tap][MR]
      for (int64_t ci = 0; ci < K_; ++ci) {
        for (int64_t lane = 0; lane < mr_; ++lane) {
          const int64_t co = pb * mr_ + lane;
          for (int t = 0; t < 9; ++t)  // rows past C_out: zero
            g[t * mr_ + lane] = co < M_ ? wp[co * wv.s_co + ci * wv.s_ci + (flip ? 8 - t : t) * wv.s_t] : 0.0f;
        }
        wk_.weight(g, mr_, up + (pb * K_ + ci) * mr_, ustride_);
      }
    }
    if (b.defined()) bias_ = b.contiguous().clone();
    // Dilation d splits the output into d x d sub-grids (rows a + d i, columns b + d j), each an
    // undilated convolution over the matching sub-grid of the input: every sub-grid gets as
    // many tiles as the largest (a = b = 0) needs.
    dh_ = p.dilation[0], dw_ = p.dilation[1];
    tiles_h_ = ((p.out_size[0] + dh_ - 1) / dh_ + 3) / 4;
    tiles_w_ = ((p.out_size[1] + dw_ - 1) / dw_ + 3) / 4;
    // Sub-grids that hold outputs (a < Ho, b < Wo).
    grids_w_ = std::min(dw_, p.out_size[1]);
    grids_ = std::min(dh_, p.out_size[0]) * grids_w_;
  }

  int64_t memory_bytes() const override { return u_.numel() * 4 + ws_.bytes() + shared_.bytes(); }

  bool run_if_finite(const Tensor& x, Tensor& y) const override {
    const ConvParams& p = params;
    const int64_t tiles = tiles_h_ * tiles_w_, grids = grids_;
    const int64_t blocks = (tiles + kTilesPerBlock - 1) / kTilesPerBlock;
    const int64_t tasks = p.N * grids * blocks;
    const int threads = threads_for(36 * tasks, 2.0 * 36 * static_cast<double>(p.N * grids * tiles * M_ * K_));
    const int64_t v_floats = 36 * K_ * kTilesPerBlock, m_floats = 36 * M_ * kTilesPerBlock;
    const int64_t scratch = kLanes * (6 * kStrip + 4 * 4 * kLanes);  // input strips, output blocks of a group
    const bool whole_blocks = tasks >= 4 * threads;

    // Each block: transform its input tiles, 36 GEMMs, transform the products back. With at
    // least 4 blocks per thread, threads take whole blocks; with fewer (7 blocks on 2 threads
    // would leave one thread a block short), the threads share each block's three phases
    // (channels, positions, output channels). Either way every value is computed by the same
    // operations: same bits.
    // The 36 products M[xi] = U[xi] V[xi] of a block, [C_out x C_in] x [C_in x nt], on the
    // GEMM driver (K blocked so a micro-panel of V stays in L1 beside its U panel).
    auto gemms = [&](const float* v, float* m, int64_t nt, int64_t xi) {
      const gemm::PackedAOperands op(u_.const_data<float>(), ustride_, mr_, v, m, M_, K_, kTilesPerBlock);
      driver_.run_serial(op, {.batch = 36, .M = M_, .N = nt, .K = K_}, xi, {});
    };
    std::atomic<bool> nonfinite{false};  // once set, the remaining tasks are skipped
    if (whole_blocks) {
      const auto ws = ws_.lease(threads, v_floats + m_floats + scratch);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
      for (int64_t task = 0; task < tasks; ++task) {
        if (nonfinite.load(std::memory_order_relaxed)) continue;
        const int64_t n = task / (grids * blocks), grid = task / blocks % grids, t0 = (task % blocks) * kTilesPerBlock;
        const int64_t nt = std::min(kTilesPerBlock, tiles - t0);
        float* v = ws.get(omp_get_thread_num());  // [36][C_in][NT]
        float* m = v + v_floats;                    // [36][C_out][NT]
        float* tmp = m + m_floats;
        input_tiles(x, n, grid, t0, nt, v, tmp, 0, K_);
        if (!transformed_finite(v, nt, 0, K_)) {
          nonfinite.store(true, std::memory_order_relaxed);
          continue;
        }
        for (int64_t xi = 0; xi < 36; ++xi) gemms(v, m, nt, xi);
        output_tiles(m, n, grid, t0, nt, y, tmp + kLanes * 6 * kStrip, 0, M_);
      }
      return !nonfinite.load();
    }
    // Shared blocks: one V and M for all threads, per-thread transform scratch only.
    const auto ws = ws_.lease(threads, scratch);
    const auto shared = shared_.lease(1, v_floats + m_floats);
    float* v = shared.get(0);
    float* m = v + v_floats;
    for (int64_t task = 0; task < tasks; ++task) {
      const int64_t n = task / (grids * blocks), grid = task / blocks % grids, t0 = (task % blocks) * kTilesPerBlock;
      const int64_t nt = std::min(kTilesPerBlock, tiles - t0);
#pragma omp parallel num_threads(threads)
      {
        float* tmp = ws.get(omp_get_thread_num());
        const int tid = omp_get_thread_num(), nth = omp_get_num_threads();
        const int64_t ci_begin = K_ * tid / nth, ci_end = K_ * (tid + 1) / nth;
        input_tiles(x, n, grid, t0, nt, v, tmp, ci_begin, ci_end);
        if (!transformed_finite(v, nt, ci_begin, ci_end)) nonfinite.store(true, std::memory_order_relaxed);
#pragma omp barrier
#pragma omp for schedule(static)
        for (int64_t xi = 0; xi < 36; ++xi) gemms(v, m, nt, xi);
        output_tiles(m, n, grid, t0, nt, y, tmp + kLanes * 6 * kStrip, M_ * tid / nth, M_ * (tid + 1) / nth);
      }
      if (nonfinite.load()) return false;
    }
    return true;
  }

 private:
  // The GEMMs are C_out x tiles per block (per sub-grid): a 14 x 14 output has 16 tiles, which 32-column
  // tiles would half waste.
  static const kernels::GemmKernel& pick_kernel(const ConvParams& p) {
    const int64_t dh = p.dilation[0], dw = p.dilation[1];
    const int64_t tiles = ((p.out_size[0] + dh - 1) / dh + 3) / 4 * (((p.out_size[1] + dw - 1) / dw + 3) / 4);
    return kernels::gemm_kernel_for(max_isa(), p.C_out, tiles, kTilesPerBlock);
  }

  // A run: consecutive tiles (first tile t of the block, count) of one tile row (th, from tw).
  struct Run {
    int64_t t, count, th, tw;
  };

  // Calls f(runs, nruns) for groups of consecutive runs of the block, at most kLanes tiles per
  // group: one transform call takes a group (a 14 x 14 output's tile rows hold 4 tiles each, so
  // a call fills 16 lanes from 4 runs instead of 4 lanes from one).
  template <typename F>
  void for_each_group(int64_t t0, int64_t nt, F&& f) const {
    Run runs[kLanes];
    int64_t nruns = 0, lanes = 0;
    for (int64_t t = 0; t < nt;) {
      const int64_t tile = t0 + t, th = tile / tiles_w_, tw = tile % tiles_w_;
      const int64_t count = std::min({kLanes, nt - t, tiles_w_ - tw});
      if (lanes + count > kLanes) {
        f(runs, nruns);
        nruns = lanes = 0;
      }
      runs[nruns++] = {t, count, th, tw};
      lanes += count;
      t += count;
    }
    if (nruns > 0) f(runs, nruns);
  }

  // Transformed input of tiles t0 .. t0+nt of sub-grid `grid` of image n, all channels:
  // v[xi][ci][t]. Strip row r, column c of tile (th, tw) reads input row
  // a - pad_h + dh (4 th + r) and column b - pad_w + dw (4 tw + c), (a, b) the sub-grid.
  // strips: room for kLanes [6][kStrip] strips.
  void input_tiles(const Tensor& x, int64_t n, int64_t grid, int64_t t0, int64_t nt, float* v, float* strips,
                   int64_t ci_begin, int64_t ci_end) const {
    const ConvParams& p = params;
    const int64_t H = p.in_size[0], W = p.in_size[1], sh = x.stride(2), sw = x.stride(3), sc = x.stride(1);
    const int64_t a = grid / grids_w_, b = grid % grids_w_;
    const int64_t step = dw_ * sw;
    const float* xn = x.const_data<float>() + n * x.stride(0);
    for_each_group(t0, nt, [&](const Run* runs, int64_t nruns) {
      // Per run: where its window starts, the strip columns inside the input (0 <= w0 + dw c < W:
      // [c0, c1)), and whether the kernel can read the input itself (the 6 x (4 count + 2) window
      // inside it, unit column steps).
      int64_t h0[kLanes], w0[kLanes], c0[kLanes], c1[kLanes];
      bool in_place[kLanes];
      for (int64_t q = 0; q < nruns; ++q) {
        h0[q] = a - p.pad_lo[0] + dh_ * runs[q].th * 4, w0[q] = b - p.pad_lo[1] + dw_ * runs[q].tw * 4;
        c0[q] = std::min<int64_t>(w0[q] >= 0 ? 0 : ceil_div(-w0[q], dw_), kStrip);
        c1[q] = std::clamp<int64_t>(W > w0[q] ? ceil_div(W - w0[q], dw_) : 0, c0[q], kStrip);
        in_place[q] = step == 1 && c0[q] == 0 && c1[q] >= 4 * runs[q].count + 2 && h0[q] >= 0 && h0[q] + 5 * dh_ < H;
      }
      kernels::WinogradSrc src[kLanes];
      for (int64_t ci = ci_begin; ci < ci_end; ++ci) {
        const float* xc = xn + ci * sc;
        for (int64_t q = 0; q < nruns; ++q) {
          if (in_place[q]) {
            src[q] = {xc + h0[q] * sh + w0[q], dh_ * sh, runs[q].count};
            continue;
          }
          float* strip = strips + q * 6 * kStrip;  // [6][66] with the zero padding materialized
          for (int64_t r = 0; r < 6; ++r) {
            float* row = strip + r * kStrip;
            const int64_t ih = h0[q] + dh_ * r;
            if (ih < 0 || ih >= H) {
              std::fill(row, row + kStrip, 0.0f);
              continue;
            }
            std::fill(row, row + c0[q], 0.0f);
            if (c1[q] > c0[q]) {
              const float* from = xc + ih * sh + (w0[q] + dw_ * c0[q]) * sw;
              if (step == 1) std::copy(from, from + (c1[q] - c0[q]), row + c0[q]);
              else for (int64_t c = c0[q]; c < c1[q]; ++c) row[c] = from[(c - c0[q]) * step];
            }
            std::fill(row + c1[q], row + kStrip, 0.0f);
          }
          src[q] = {strip, kStrip, runs[q].count};
        }
        wk_.input(src, nruns, v + ci * kTilesPerBlock + runs[0].t, K_ * kTilesPerBlock);
      }
    });
  }

  // Whether the transformed tiles t < nt of channels [ci_begin, ci_end) in v came from finite
  // inputs. (B^T d B)'s corners 0, 5, 30, 35 between them sum every one of the 36 inputs with
  // a non-zero factor (rows 0 and 5 of B^T take inputs 0, 2, 4 and 1, 3, 5), so an inf or NaN
  // anywhere in a window makes a corner inf or NaN: 4 of the 36 positions, read from cache.
  bool transformed_finite(const float* v, int64_t nt, int64_t ci_begin, int64_t ci_end) const {
    for (int64_t xi : {0, 5, 30, 35})
      if (!scan_.finite_rows(v + (xi * K_ + ci_begin) * kTilesPerBlock, kTilesPerBlock, ci_end - ci_begin, nt))
        return false;
    return true;
  }

  // Tile (th, tw) of sub-grid (a, b) holds outputs (a + dh (4 th + i), b + dw (4 tw + j)).
  // rows: room for kLanes [4][4 kLanes] output blocks.
  void output_tiles(const float* m, int64_t n, int64_t grid, int64_t t0, int64_t nt, Tensor& y, float* rows,
                    int64_t co_begin, int64_t co_end) const {
    const ConvParams& p = params;
    const int64_t Ho = p.out_size[0], Wo = p.out_size[1];
    const int64_t a = grid / grids_w_, b = grid % grids_w_;
    // This sub-grid's output rows and columns.
    const int64_t gh = a < Ho ? (Ho - a + dh_ - 1) / dh_ : 0, gw = b < Wo ? (Wo - b + dw_ - 1) / dw_ : 0;
    float* yn = internal::mutable_data<float>(y) + n * M_ * Ho * Wo;
    for_each_group(t0, nt, [&](const Run* runs, int64_t nruns) {
      // Per run: the outputs it holds, and whether they are whole tiles in unit-stride columns
      // (the kernel writes them in place); otherwise it writes a scratch block copied out.
      int64_t cols[kLanes], nrows[kLanes];
      bool direct[kLanes];
      for (int64_t q = 0; q < nruns; ++q) {
        cols[q] = std::min(4 * runs[q].count, gw - runs[q].tw * 4), nrows[q] = std::min<int64_t>(4, gh - runs[q].th * 4);
        direct[q] = dw_ == 1 && nrows[q] == 4 && cols[q] == 4 * runs[q].count;
      }
      kernels::WinogradDst dst[kLanes];
      for (int64_t co = co_begin; co < co_end; ++co) {
        const float bias = bias_.defined() ? bias_.const_data<float>()[co] : 0.0f;
        for (int64_t q = 0; q < nruns; ++q)
          dst[q] = direct[q] ? kernels::WinogradDst{yn + (co * Ho + a + dh_ * runs[q].th * 4) * Wo + b + runs[q].tw * 4, dh_ * Wo,
                                                    runs[q].count}
                             : kernels::WinogradDst{rows + q * 4 * 4 * kLanes, 4 * kLanes, runs[q].count};
        wk_.output(m + co * kTilesPerBlock + runs[0].t, M_ * kTilesPerBlock, dst, nruns, bias);
        for (int64_t q = 0; q < nruns; ++q) {
          if (direct[q] || cols[q] <= 0 || nrows[q] <= 0) continue;
          for (int64_t i = 0; i < nrows[q]; ++i) {
            float* to = yn + (co * Ho + a + dh_ * (runs[q].th * 4 + i)) * Wo + b + dw_ * runs[q].tw * 4;
            const float* from = dst[q].p + i * 4 * kLanes;
            if (dw_ == 1) std::copy(from, from + cols[q], to);
            else for (int64_t c = 0; c < cols[q]; ++c) to[c * dw_] = from[c];
          }
        }
      }
    });
  }

  const kernels::GemmKernel& kernel_;
  const kernels::WinogradKernels& wk_;
  const kernels::ScanKernel& scan_;
  gemm::Driver driver_;
  int64_t mr_;
  int64_t M_ = 0, K_ = 0, panels_ = 0, tiles_h_ = 0, tiles_w_ = 0, dh_ = 1, dw_ = 1, grids_ = 1, grids_w_ = 1;
  Tensor u_, bias_;
  int64_t ustride_ = 0;  // floats between U's positions
  Workspace ws_, shared_;
};

}  // namespace

std::unique_ptr<ConvPlan> make_winograd_plan(const ConvParams& p, const Tensor& w, const Tensor& b) {
  return exact_on_nonfinite(std::make_unique<WinogradPlan>(p, w, b), w, b);
}

}  // namespace convkit::internal
