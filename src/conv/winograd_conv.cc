// Winograd F(4x4, 3x3) for float32 2-d convolutions with 3x3 kernels, stride 1, any dilation
// (as d x d undilated sub-grids), groups 1 and zero padding (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks", arXiv:1509.09308). Each 4x4 output tile comes from a 6x6 input tile:
//   Y = A^T [ (G g G^T) (.) (B^T d B) ] A
// so per tile and channel pair 36 multiplications replace 144. The 36 element-wise products
// summed over input channels are 36 GEMMs [C_out x C_in] x [C_in x tiles], run with the same
// microkernel as the GEMM path. Rounding differs from direct summation (docs/winograd.md
// gives the measured error); Algorithm::Gemm or CONVKIT_WINOGRAD=0 turns it off.
#include <omp.h>

#include <algorithm>
#include <vector>

#include "conv/plan.h"
#include "kernels/gemm/gemm.h"
#include "kernels/winograd/winograd.h"

namespace convkit::internal {

namespace {

constexpr int64_t kTilesPerBlock = 32;  // tiles per task (the GEMM's N)
constexpr int64_t kLanes = 16;          // tiles per transform kernel call
constexpr int64_t kStrip = 4 * kLanes + 2;

class WinogradPlan : public ConvPlan {
 public:
  WinogradPlan(const ConvParams& p, const Tensor& w, const Tensor& b)
      : kernel_(pick_kernel(p)), wk_(kernels::winograd_kernels(max_isa())), mr_(kernel_.mr), nr_(kernel_.nr) {
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
    const Tensor wc = w.contiguous();
    const bool flip = p.conv_mode == ConvMode::Convolution;
    // One MR-row panel and one input channel at a time: its MR kernels, gathered tap-major,
    // transform straight into their 36 places, a run of MR floats in each position's
    // [C_in][MR] panel. Panels run in parallel, so making the plan stays a small multiple of
    // one forward.
    CONVKIT_CHECK(mr_ <= 32, "internal: gemm kernel MR ", mr_, " exceeds the Winograd packer's 32 rows");
    float* up = u_.data<float>();
    const float* wp = wc.data<float>();
    const int threads = threads_for(panels_, 200.0 * static_cast<double>(M_ * K_));
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t pb = 0; pb < panels_; ++pb) {
      alignas(64) float g[9 * 32];  // [tap][MR]
      for (int64_t ci = 0; ci < K_; ++ci) {
        for (int64_t lane = 0; lane < mr_; ++lane) {
          const int64_t co = pb * mr_ + lane;
          for (int t = 0; t < 9; ++t)  // rows past C_out: zero
            g[t * mr_ + lane] = co < M_ ? wp[(co * K_ + ci) * 9 + (flip ? 8 - t : t)] : 0.0f;
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

  void run(const Tensor& x, Tensor& y) override {
    const ConvParams& p = params;
    const int64_t tiles = tiles_h_ * tiles_w_, grids = grids_;
    const int64_t blocks = (tiles + kTilesPerBlock - 1) / kTilesPerBlock;
    const int64_t tasks = p.N * grids * blocks;
    const int threads = threads_for(36 * tasks, 2.0 * 36 * static_cast<double>(p.N * grids * tiles * M_ * K_));
    const int64_t v_floats = 36 * K_ * kTilesPerBlock, m_floats = 36 * M_ * kTilesPerBlock;
    const int64_t scratch = 6 * kStrip + 4 * 4 * kLanes;  // one input strip, one output row block
    const bool whole_blocks = tasks >= 4 * threads;

    // Each block: transform its input tiles, 36 GEMMs, transform the products back. With at
    // least 4 blocks per thread, threads take whole blocks; with fewer (7 blocks on 2 threads
    // would leave one thread a block short), the threads share each block's three phases
    // (channels, positions, output channels). Either way every value is computed by the same
    // operations: same bits.
    // K is blocked by 128 input channels so a micro-panel of V stays in L1 beside its U panel.
    auto gemms = [&](const float* v, float* m, int64_t nt, int64_t xi) {
      constexpr int64_t kKC = 128;
      for (int64_t pc = 0; pc < K_; pc += kKC)
        for (int64_t jr = 0; jr < nt; jr += nr_)
          for (int64_t ir = 0; ir < M_; ir += mr_)
            kernel_.fn(std::min(kKC, K_ - pc), u_.data<float>() + xi * ustride_ + (ir / mr_ * K_ + pc) * mr_,
                       v + (xi * K_ + pc) * kTilesPerBlock + jr, kTilesPerBlock, m + (xi * M_ + ir) * kTilesPerBlock + jr,
                       kTilesPerBlock, std::min<int64_t>(mr_, M_ - ir), std::min<int64_t>(nr_, nt - jr), pc > 0, nullptr);
    };
    if (whole_blocks) {
      ws_.reserve(threads, v_floats + m_floats + scratch);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
      for (int64_t task = 0; task < tasks; ++task) {
        const int64_t n = task / (grids * blocks), grid = task / blocks % grids, t0 = (task % blocks) * kTilesPerBlock;
        const int64_t nt = std::min(kTilesPerBlock, tiles - t0);
        float* v = ws_.get(omp_get_thread_num());  // [36][C_in][NT]
        float* m = v + v_floats;                    // [36][C_out][NT]
        float* tmp = m + m_floats;
        input_tiles(x, n, grid, t0, nt, v, tmp, 0, K_);
        for (int64_t xi = 0; xi < 36; ++xi) gemms(v, m, nt, xi);
        output_tiles(m, n, grid, t0, nt, y, tmp, 0, M_);
      }
      return;
    }
    // Shared blocks: one V and M for all threads, per-thread transform scratch only.
    ws_.reserve(threads, scratch);
    shared_.reserve(1, v_floats + m_floats);
    float* v = shared_.get(0);
    float* m = v + v_floats;
    for (int64_t task = 0; task < tasks; ++task) {
      const int64_t n = task / (grids * blocks), grid = task / blocks % grids, t0 = (task % blocks) * kTilesPerBlock;
      const int64_t nt = std::min(kTilesPerBlock, tiles - t0);
#pragma omp parallel num_threads(threads)
      {
        float* tmp = ws_.get(omp_get_thread_num());
        const int tid = omp_get_thread_num(), nth = omp_get_num_threads();
        input_tiles(x, n, grid, t0, nt, v, tmp, K_ * tid / nth, K_ * (tid + 1) / nth);
#pragma omp barrier
#pragma omp for schedule(static)
        for (int64_t xi = 0; xi < 36; ++xi) gemms(v, m, nt, xi);
        output_tiles(m, n, grid, t0, nt, y, tmp, M_ * tid / nth, M_ * (tid + 1) / nth);
      }
    }
  }

 private:
  // The GEMMs are C_out x tiles per block (per sub-grid): a 14 x 14 output has 16 tiles, which 32-column
  // tiles would half waste.
  static const kernels::GemmKernel& pick_kernel(const ConvParams& p) {
    const int64_t dh = p.dilation[0], dw = p.dilation[1];
    const int64_t tiles = ((p.out_size[0] + dh - 1) / dh + 3) / 4 * (((p.out_size[1] + dw - 1) / dw + 3) / 4);
    return kernels::gemm_kernel_for(max_isa(), p.C_out, tiles, kTilesPerBlock);
  }

  // Calls f(first tile, count, th, tw) for runs of at most kLanes tiles of the block that sit
  // in one tile row (the transform kernels take consecutive tiles of a row).
  template <typename F>
  void for_each_run(int64_t t0, int64_t nt, F&& f) const {
    for (int64_t t = 0; t < nt;) {
      const int64_t tile = t0 + t, th = tile / tiles_w_, tw = tile % tiles_w_;
      const int64_t count = std::min({kLanes, nt - t, tiles_w_ - tw});
      f(t, count, th, tw);
      t += count;
    }
  }

  // Transformed input of tiles t0 .. t0+nt of sub-grid `grid` of image n, all channels:
  // v[xi][ci][t]. Strip row r, column c of tile (th, tw) reads input row
  // a - pad_h + dh (4 th + r) and column b - pad_w + dw (4 tw + c), (a, b) the sub-grid.
  void input_tiles(const Tensor& x, int64_t n, int64_t grid, int64_t t0, int64_t nt, float* v, float* strip,
                   int64_t ci_begin, int64_t ci_end) const {
    const ConvParams& p = params;
    const int64_t H = p.in_size[0], W = p.in_size[1], sh = x.stride(2), sw = x.stride(3), sc = x.stride(1);
    const int64_t a = grid / grids_w_, b = grid % grids_w_;
    const float* xn = x.data<float>() + n * x.stride(0);
    for_each_run(t0, nt, [&](int64_t t, int64_t count, int64_t th, int64_t tw) {
      const int64_t h0 = a - p.pad_lo[0] + dh_ * th * 4, w0 = b - p.pad_lo[1] + dw_ * tw * 4;
      // Columns of the strip inside the input (0 <= w0 + dw c < W): [c0, c1).
      const int64_t c0 = std::min<int64_t>(w0 >= 0 ? 0 : ceil_div(-w0, dw_), kStrip);
      const int64_t c1 = std::clamp<int64_t>(W > w0 ? ceil_div(W - w0, dw_) : 0, c0, kStrip);
      const int64_t step = dw_ * sw;
      // A run whose 6 x (4 count + 2) window lies inside the input, with unit column steps, is
      // transformed straight from the input rows (the kernel reads no more than that window).
      if (step == 1 && c0 == 0 && c1 >= 4 * count + 2 && h0 >= 0 && h0 + 5 * dh_ < H) {
        for (int64_t ci = ci_begin; ci < ci_end; ++ci)
          wk_.input(xn + ci * sc + h0 * sh + w0, dh_ * sh, v + ci * kTilesPerBlock + t, K_ * kTilesPerBlock, count);
        return;
      }
      for (int64_t ci = ci_begin; ci < ci_end; ++ci) {
        const float* xc = xn + ci * sc;
        for (int64_t r = 0; r < 6; ++r) {  // [6][66] strip with the zero padding materialized
          float* row = strip + r * kStrip;
          const int64_t ih = h0 + dh_ * r;
          if (ih < 0 || ih >= H) {
            std::fill(row, row + kStrip, 0.0f);
            continue;
          }
          std::fill(row, row + c0, 0.0f);
          if (c1 > c0) {
            const float* src = xc + ih * sh + (w0 + dw_ * c0) * sw;
            if (step == 1) std::copy(src, src + (c1 - c0), row + c0);
            else for (int64_t c = c0; c < c1; ++c) row[c] = src[(c - c0) * step];
          }
          std::fill(row + c1, row + kStrip, 0.0f);
        }
        wk_.input(strip, kStrip, v + ci * kTilesPerBlock + t, K_ * kTilesPerBlock, count);
      }
    });
  }

  // Tile (th, tw) of sub-grid (a, b) holds outputs (a + dh (4 th + i), b + dw (4 tw + j)).
  void output_tiles(const float* m, int64_t n, int64_t grid, int64_t t0, int64_t nt, Tensor& y, float* rows,
                    int64_t co_begin, int64_t co_end) const {
    const ConvParams& p = params;
    const int64_t Ho = p.out_size[0], Wo = p.out_size[1];
    const int64_t a = grid / grids_w_, b = grid % grids_w_;
    // This sub-grid's output rows and columns.
    const int64_t gh = a < Ho ? (Ho - a + dh_ - 1) / dh_ : 0, gw = b < Wo ? (Wo - b + dw_ - 1) / dw_ : 0;
    float* yn = y.data<float>() + n * M_ * Ho * Wo;
    for_each_run(t0, nt, [&](int64_t t, int64_t count, int64_t th, int64_t tw) {
      const int64_t cols = std::min(4 * count, gw - tw * 4), nrows = std::min<int64_t>(4, gh - th * 4);
      if (cols <= 0 || nrows <= 0) return;
      // Whole tiles in unit-stride columns: the kernel writes the 4 x 4 count outputs in place.
      const bool direct = dw_ == 1 && nrows == 4 && cols == 4 * count;
      for (int64_t co = co_begin; co < co_end; ++co) {
        const float bias = bias_.defined() ? bias_.data<float>()[co] : 0.0f;
        if (direct) {
          wk_.output(m + co * kTilesPerBlock + t, M_ * kTilesPerBlock, yn + (co * Ho + a + dh_ * th * 4) * Wo + b + tw * 4,
                     dh_ * Wo, count, bias);
          continue;
        }
        wk_.output(m + co * kTilesPerBlock + t, M_ * kTilesPerBlock, rows, 4 * kLanes, count, bias);
        for (int64_t i = 0; i < nrows; ++i) {
          float* dst = yn + (co * Ho + a + dh_ * (th * 4 + i)) * Wo + b + dw_ * tw * 4;
          const float* src = rows + i * 4 * kLanes;
          if (dw_ == 1) std::copy(src, src + cols, dst);
          else for (int64_t c = 0; c < cols; ++c) dst[c * dw_] = src[c];
        }
      }
    });
  }

  const kernels::GemmKernel& kernel_;
  const kernels::WinogradKernels& wk_;
  int64_t mr_, nr_;
  int64_t M_ = 0, K_ = 0, panels_ = 0, tiles_h_ = 0, tiles_w_ = 0, dh_ = 1, dw_ = 1, grids_ = 1, grids_w_ = 1;
  Tensor u_, bias_;
  int64_t ustride_ = 0;  // floats between U's positions
  Workspace ws_, shared_;
};

}  // namespace

std::unique_ptr<ConvPlan> make_winograd_plan(const ConvParams& p, const Tensor& w, const Tensor& b) {
  return std::make_unique<WinogradPlan>(p, w, b);
}

}  // namespace convkit::internal
