// Winograd F(4x4, 3x3) for float32 2-d convolutions with 3x3 kernels, stride 1, dilation 1,
// groups 1 and zero padding (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks", arXiv:1509.09308). Each 4x4 output tile comes from a 6x6 input tile:
//   Y = A^T [ (G g G^T) (.) (B^T d B) ] A
// so per tile and channel pair 36 multiplications replace 144. The 36 element-wise products
// summed over input channels are 36 GEMMs [C_out x C_in] x [C_in x tiles], run with the same
// microkernel as the GEMM path. Rounding differs from direct summation (docs/winograd.md
// gives the measured error); Algorithm::Gemm or CONVKIT_WINOGRAD=0 turns it off.
#include <omp.h>

#include <algorithm>

#include "conv/plan.h"
#include "kernels/gemm/gemm.h"

namespace convkit::internal {

namespace {

constexpr int64_t kTilesPerBlock = 32;  // tiles per task: a multiple of every kernel's NR

// U = G g G^T for one 3x3 kernel g (row-major), giving 6x6 values.
void transform_kernel(const float* g, float* u) {
  static const double G[6][3] = {{1.0 / 4, 0, 0},           {-1.0 / 6, -1.0 / 6, -1.0 / 6}, {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                 {1.0 / 24, 1.0 / 12, 1.0 / 6}, {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}};
  double t[6][3];
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 3; ++j) t[i][j] = G[i][0] * g[0 * 3 + j] + G[i][1] * g[1 * 3 + j] + G[i][2] * g[2 * 3 + j];
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 6; ++j) u[i * 6 + j] = static_cast<float>(t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2]);
}

// V = B^T d B for one 6x6 input tile d, written to v[xi * stride] for xi = 0..35.
inline void transform_input(const float d[6][6], float* v, int64_t stride) {
  float t[6][6];
  for (int j = 0; j < 6; ++j) {  // t = B^T d, column j
    const float d0 = d[0][j], d1 = d[1][j], d2 = d[2][j], d3 = d[3][j], d4 = d[4][j], d5 = d[5][j];
    t[0][j] = 4 * d0 - 5 * d2 + d4;
    t[1][j] = -4 * d1 - 4 * d2 + d3 + d4;
    t[2][j] = 4 * d1 - 4 * d2 - d3 + d4;
    t[3][j] = -2 * d1 - d2 + 2 * d3 + d4;
    t[4][j] = 2 * d1 - d2 - 2 * d3 + d4;
    t[5][j] = 4 * d1 - 5 * d3 + d5;
  }
  for (int i = 0; i < 6; ++i) {  // (B^T d) B, row i
    const float* r = t[i];
    float* o = v + i * 6 * stride;
    o[0 * stride] = 4 * r[0] - 5 * r[2] + r[4];
    o[1 * stride] = -4 * r[1] - 4 * r[2] + r[3] + r[4];
    o[2 * stride] = 4 * r[1] - 4 * r[2] - r[3] + r[4];
    o[3 * stride] = -2 * r[1] - r[2] + 2 * r[3] + r[4];
    o[4 * stride] = 2 * r[1] - r[2] - 2 * r[3] + r[4];
    o[5 * stride] = 4 * r[1] - 5 * r[3] + r[5];
  }
}

// Y = A^T m A for one tile's 36 products m[xi * stride], giving 4x4 outputs.
inline void transform_output(const float* m, int64_t stride, float y[4][4]) {
  float t[4][6];
  for (int j = 0; j < 6; ++j) {
    const float m0 = m[(0 * 6 + j) * stride], m1 = m[(1 * 6 + j) * stride], m2 = m[(2 * 6 + j) * stride];
    const float m3 = m[(3 * 6 + j) * stride], m4 = m[(4 * 6 + j) * stride], m5 = m[(5 * 6 + j) * stride];
    t[0][j] = m0 + m1 + m2 + m3 + m4;
    t[1][j] = m1 - m2 + 2 * m3 - 2 * m4;
    t[2][j] = m1 + m2 + 4 * m3 + 4 * m4;
    t[3][j] = m1 - m2 + 8 * m3 - 8 * m4 + m5;
  }
  for (int i = 0; i < 4; ++i) {
    const float* r = t[i];
    y[i][0] = r[0] + r[1] + r[2] + r[3] + r[4];
    y[i][1] = r[1] - r[2] + 2 * r[3] - 2 * r[4];
    y[i][2] = r[1] + r[2] + 4 * r[3] + 4 * r[4];
    y[i][3] = r[1] - r[2] + 8 * r[3] - 8 * r[4] + r[5];
  }
}

class WinogradPlan : public ConvPlan {
 public:
  WinogradPlan(const ConvParams& p, const Tensor& w, const Tensor& b)
      : kernel_(kernels::gemm_kernel(max_isa())), mr_(kernel_.mr), nr_(kernel_.nr) {
    params = p;
    M_ = p.C_out;
    K_ = p.C_in;
    panels_ = (M_ + mr_ - 1) / mr_;
    // U: [36][M/MR panels][C_in][MR], rows past C_out zero.
    u_ = Tensor::zeros({36 * panels_ * K_ * mr_});
    const Tensor wc = w.contiguous();
    const bool flip = p.conv_mode == ConvMode::Convolution;
    float g[9], u[36];
    for (int64_t co = 0; co < M_; ++co)
      for (int64_t ci = 0; ci < K_; ++ci) {
        const float* src = wc.data<float>() + (co * K_ + ci) * 9;
        for (int t = 0; t < 9; ++t) g[t] = src[flip ? 8 - t : t];
        transform_kernel(g, u);
        for (int xi = 0; xi < 36; ++xi)
          u_.data<float>()[((xi * panels_ + co / mr_) * K_ + ci) * mr_ + co % mr_] = u[xi];
      }
    if (b.defined()) bias_ = b.contiguous().clone();
    tiles_h_ = (p.out_size[0] + 3) / 4;
    tiles_w_ = (p.out_size[1] + 3) / 4;
  }

  int64_t memory_bytes() const override { return u_.numel() * 4 + ws_.bytes(); }

  void run(const Tensor& x, Tensor& y) override {
    const ConvParams& p = params;
    const int64_t tiles = tiles_h_ * tiles_w_;
    const int64_t blocks = (tiles + kTilesPerBlock - 1) / kTilesPerBlock;
    const int64_t tasks = p.N * blocks;
    const int threads = threads_for(tasks, 2.0 * 36 * static_cast<double>(p.N * tiles * M_ * K_));
    const int64_t v_floats = 36 * K_ * kTilesPerBlock, m_floats = 36 * M_ * kTilesPerBlock;
    ws_.reserve(threads, v_floats + m_floats);

#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t task = 0; task < tasks; ++task) {
      const int64_t n = task / blocks, t0 = (task % blocks) * kTilesPerBlock;
      const int64_t nt = std::min(kTilesPerBlock, tiles - t0);
      float* v = ws_.get(omp_get_thread_num());  // [36][NT/NR panels][C_in][NR]
      float* m = v + v_floats;                    // [36][C_out][NT]
      input_tiles(x, n, t0, nt, v);
      for (int64_t xi = 0; xi < 36; ++xi)
        for (int64_t jr = 0; jr < nt; jr += nr_)
          for (int64_t ir = 0; ir < M_; ir += mr_)
            kernel_.fn(K_, u_.data<float>() + (xi * panels_ + ir / mr_) * K_ * mr_,
                       v + (xi * (kTilesPerBlock / nr_) + jr / nr_) * K_ * nr_, nr_, m + (xi * M_ + ir) * kTilesPerBlock + jr,
                       kTilesPerBlock, std::min<int64_t>(mr_, M_ - ir), std::min<int64_t>(nr_, nt - jr), false, nullptr);
      output_tiles(m, n, t0, nt, y);
    }
  }

 private:
  // Transformed input of tiles t0 .. t0+nt of image n, all channels, in GEMM B-panel layout.
  void input_tiles(const Tensor& x, int64_t n, int64_t t0, int64_t nt, float* v) const {
    const ConvParams& p = params;
    const int64_t H = p.in_size[0], W = p.in_size[1], sh = x.stride(2), sw = x.stride(3);
    const int64_t panel_stride = K_ * nr_;       // floats between NR-tile panels
    const int64_t xi_stride = (kTilesPerBlock / nr_) * panel_stride;
    const float* xn = x.data<float>() + n * x.stride(0);
    for (int64_t t = 0; t < kTilesPerBlock; ++t) {
      const bool real = t < nt;
      const int64_t tile = t0 + t, th = real ? tile / tiles_w_ : 0, tw = real ? tile % tiles_w_ : 0;
      const int64_t h0 = th * 4 - p.pad_lo[0], w0 = tw * 4 - p.pad_lo[1];
      for (int64_t ci = 0; ci < K_; ++ci) {
        float d[6][6];
        const float* xc = xn + ci * x.stride(1);
        for (int i = 0; i < 6; ++i)
          for (int j = 0; j < 6; ++j) {
            const int64_t ih = h0 + i, iw = w0 + j;
            d[i][j] = real && ih >= 0 && ih < H && iw >= 0 && iw < W ? xc[ih * sh + iw * sw] : 0.0f;
          }
        // Tile t sits in panel t / NR at lane t % NR; each of the 36 positions is its own B.
        float* dst = v + (t / nr_) * panel_stride + ci * nr_ + t % nr_;
        float tmp[36];
        transform_input(d, tmp, 1);
        for (int xi = 0; xi < 36; ++xi) dst[xi * xi_stride] = tmp[xi];
      }
    }
  }

  void output_tiles(const float* m, int64_t n, int64_t t0, int64_t nt, Tensor& y) const {
    const ConvParams& p = params;
    const int64_t Ho = p.out_size[0], Wo = p.out_size[1];
    float* yn = y.data<float>() + n * M_ * Ho * Wo;
    for (int64_t co = 0; co < M_; ++co) {
      const float bias = bias_.defined() ? bias_.data<float>()[co] : 0.0f;
      for (int64_t t = 0; t < nt; ++t) {
        float out[4][4];
        transform_output(m + co * kTilesPerBlock + t, M_ * kTilesPerBlock, out);
        const int64_t tile = t0 + t, oh0 = tile / tiles_w_ * 4, ow0 = tile % tiles_w_ * 4;
        for (int i = 0; i < 4 && oh0 + i < Ho; ++i)
          for (int j = 0; j < 4 && ow0 + j < Wo; ++j) yn[(co * Ho + oh0 + i) * Wo + ow0 + j] = bias + out[i][j];
      }
    }
  }

  const kernels::GemmKernel& kernel_;
  int64_t mr_, nr_;
  int64_t M_ = 0, K_ = 0, panels_ = 0, tiles_h_ = 0, tiles_w_ = 0;
  Tensor u_, bias_;
  Workspace ws_;
};

}  // namespace

std::unique_ptr<ConvPlan> make_winograd_plan(const ConvParams& p, const Tensor& w, const Tensor& b) {
  return std::make_unique<WinogradPlan>(p, w, b);
}

}  // namespace convkit::internal
