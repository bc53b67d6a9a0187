// Implicit-GEMM convolution (float32): per image n and group g,
//   Y_g[M = C_out/g, P = prod(S_out)] = A_g[M, Kd = C_in/g * prod(K)] * B[Kd, P]
// where B is im2col of the input, never materialized whole. Either it is packed block by
// block (KC x NC) inside BLIS's loops, straight from the user's tensor, with every padding
// mode and any input strides; or (tap mode, run_taps: several taps, M <= 128 or a padded
// source within half the L2) the microkernel reads its rows in place through pointers into
// the input or a per-image padded copy. A (the
// weights) is packed once at plan creation. The output is written in NCHW order (Y_g rows are
// output channels, columns are output positions), in place or, in tap mode, via a C block.
// Or (columns mode, 2-d and 3-d layers with long reductions and output rows of whole tiles of
// 7 to 14 positions) transposed: Y_g^T[P, M] = B^T[P, Kd] * A_g^T[Kd, M], positions as the rows of an
// A-columns kernel that broadcasts them from the same source rows, so no position past an
// output row is computed; W^T packed once in NR-wide panels, C blocks stored transposed.
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "conv/plan.h"
#include "core/storage.h"
#include "cpu/cache.h"
#include "convkit/threads.h"
#include "gemm/driver.h"
#include "kernels/copy/copy.h"
#include "kernels/gemm/gemm.h"
#include "kernels/transpose/transpose.h"

namespace convkit::internal {

namespace {

// Block sizes: with KC = gemm_k_block(Kd) (about 128, at most 160) an A block (MC x KC, 48-60
// KiB) and a B block (KC x NC, 104-130 KiB) stay in L2; the KC x NR slice of B a microkernel
// sweeps (16-30 KiB) stays in L1 next to the A panel it streams (KC = 256 made the two nearly
// fill a 48 KiB L1). MC and NC are whole tiles of every kernel.
constexpr int64_t kNC = kGemmNC, kMC = 96;
static_assert(kNC % 32 == 0 && kNC % 48 == 0 && kMC % 24 == 0 && kMC % 8 == 0, "blocks are whole tiles of every kernel");
// Packed B rows are kLdb floats apart: 208 floats = 13 cache lines, odd, so the KC rows of a
// micro-panel spread over every L1 set (192 = 12 lines would fold them onto 16 sets, and an
// in-place read of a 1x1 input with a row stride of H*W floats can fold them even worse).
constexpr int64_t kLdb = kNC + 16;

// Spatial quantities lifted to 3 dims (D, H, W) by prepending size-1 dims, as the reference.
struct Geometry {
  int64_t S[3], O[3], st[3], xs[3];
};

class GemmPlan : public ConvPlan {
 public:
  GemmPlan(const ConvParams& p, const Tensor& w, const Tensor& b)
      : kernel_(pick_kernel(p)), copy_(kernels::copy_kernel(max_isa())),
        transpose_(kernels::transpose_kernel(max_isa())), mr_(kernel_.mr),
        driver_(kernel_) {
    params = p;
    G_ = p.groups;
    M_ = p.c_out_per_group();
    const int64_t cin_g = p.c_in_per_group();
    const int64_t lift = 3 - p.dim;
    int64_t K[3] = {1, 1, 1}, dl[3] = {1, 1, 1}, lo[3] = {0, 0, 0};
    for (int64_t i = 0; i < p.dim; ++i) {
      K[lift + i] = p.kernel[static_cast<std::size_t>(i)];
      dl[lift + i] = p.dilation[static_cast<std::size_t>(i)];
      lo[lift + i] = p.pad_lo[static_cast<std::size_t>(i)];
    }
    taps_ = K[0] * K[1] * K[2];
    Kd_ = cin_g * taps_;
    kc_ = gemm_k_block(Kd_);
    P_ = 1;
    for (int64_t s : p.out_size) P_ *= s;

    // k = (ci, kd, kh, kw) -> channel and the input offset of each tap relative to o * stride.
    kci_.resize(static_cast<std::size_t>(Kd_));
    for (auto& o : koff_) o.resize(static_cast<std::size_t>(Kd_));
    for (int64_t k = 0; k < Kd_; ++k) {
      const int64_t t = k % taps_;
      const int64_t kk[3] = {t / (K[1] * K[2]), (t / K[2]) % K[1], t % K[2]};
      kci_[static_cast<std::size_t>(k)] = k / taps_;
      for (int d = 0; d < 3; ++d) koff_[d][static_cast<std::size_t>(k)] = kk[d] * dl[d] - lo[d];
    }
    // Tap mode (run_taps): B rows read a phase-split padded copy of the input (or the input
    // itself) shifted by each tap's offset, no im2col packing. For several taps, each dim's
    // stride within its kernel span (phases past the span would be copied for nothing) and a
    // padded copy not much larger than the tensors. Packing im2col costs per B element what
    // M output rows amortize; reading B in place costs unaligned loads on every row and, per
    // row block, a re-read of the source. Measured: in-place reads win for M <= 128 (res3
    // 3x3/2 M = 128: 10%, conv1 7x7/2 M = 64: 6%); beyond, they win where one image's source
    // stays in half the L2 (tap_source_limit) across the row blocks (res4 3x3 on 14 x 14, 256 channels, 0.26 MB:
    // 15% at 1 thread, 40% at 2, where packing runs of 14 columns dominated) and lose where it
    // does not (DeepLab 1.4 MB: 5-15%, wav2vec2 conv1 6.5 MB: 25%; VGG conv3 3.4 MB: even).
    // (The extents below cannot overflow: each is at most the padded input size, which the
    // parameters already bound.)
    // Windows that do not overlap in any dim (kernel = stride: patch embeddings, a 2x2/2
    // up-convolution's input gradient) read each input once: the copy buys no reuse, and
    // blocks packed in cache were 15-20% faster (U-Net's 2x2/2 input gradient, 64 -> 128
    // channels on 128 x 128: 2.32 -> 1.96 ms at 1 thread, 1.23 -> 0.98 ms at 2).
    tap_ = tap_mode_fits(p);
    for (int d = 0; d < 3; ++d) {
      const int64_t st = d < lift ? 1 : p.stride[static_cast<std::size_t>(d - lift)];
      const int64_t O = d < lift ? 1 : p.out_size[static_cast<std::size_t>(d - lift)];
      K_[d] = K[d], dl_[d] = dl[d], lo_[d] = lo[d], s_[d] = st;
      // Padded extent the outputs read, and its length per phase (padded index u is position
      // u / s of phase u % s).
      Sp_[d] = (O - 1) * st + (K[d] - 1) * dl[d] + 1;
      Lp_[d] = Sp_[d] / st + (Sp_[d] % st != 0);
    }
    if ((cols_ = columns_kernel(p)) != nullptr) {
      cols_driver_.emplace(*cols_);
      mr_ = cols_->nr;  // the weights packed as W^T in NR-wide panels
    }
    if (tap_ && M_ > 128 && !cols_) {  // (padded_copy_fits bounds this product)
      int64_t source_floats = p.c_in_per_group();  // one image and group's padded, phase-split source
      for (int d = 0; d < 3; ++d) source_floats *= s_[d] * Lp_[d];
      tap_ = source_floats <= tap_source_limit() / 4;
    }
    if (tap_) {
      // Offset of tap t in the source, read in place (unit stride, no padding) or from the padded copy.
      const int64_t S1 = lift > 1 ? 1 : p.in_size[static_cast<std::size_t>(1 - lift)], S2 = p.in_size.back();
      const int64_t hs = Lp_[2], ds = Lp_[1] * Lp_[2], ps = Lp_[0] * ds;
      for (int64_t t = 0; t < taps_; ++t) {
        const int64_t u[3] = {t / (K_[1] * K_[2]) * dl_[0], (t / K_[2]) % K_[1] * dl_[1], t % K_[2] * dl_[2]};
        const int64_t phase = (u[0] % s_[0] * s_[1] + u[1] % s_[1]) * s_[2] + u[2] % s_[2];
        tap_padded_.push_back(phase * ps + u[0] / s_[0] * ds + u[1] / s_[1] * hs + u[2] / s_[2]);
        tap_in_place_.push_back((u[0] * S1 + u[1]) * S2 + u[2]);
      }
      // The column phases of a padded row (every one is read: the stride is within the span).
      for (int64_t ph = 0; ph < s_[2]; ++ph) wphases_.push_back(padded_phase(ph, s_[2], lo_[2], p.in_size.back(), Sp_[2]));
    }
    flat_ = taps_ == 1 && p.padding_mode == PaddingMode::Zeros;
    for (int64_t i = 0; i < p.dim; ++i)
      flat_ = flat_ && p.stride[static_cast<std::size_t>(i)] == 1 && p.pad_lo[static_cast<std::size_t>(i)] == 0 &&
              p.pad_hi[static_cast<std::size_t>(i)] == 0;

    // A: [G][M/MR panels][Kd][MR], rows past M zero; conv_mode=convolution reads taps reversed.
    panels_ = (M_ + mr_ - 1) / mr_;
    a_ = Tensor::empty({G_ * panels_ * Kd_ * mr_});  // every element is written below
    // The weight [C_out, C_in/g, *K] is read through its strides: a contiguous tensor, or the
    // channel-swapped view a backward_data runs as a forward (W^T, no copy made for it).
    const WeightView wv = weight_view(w);
    const int64_t s_co = wv.s_co, s_ci = wv.s_ci, s_t = wv.s_t;
    const float* wp = wv.data();
    float* ap = internal::mutable_data<float>(a_);
    const bool flip = p.conv_mode == ConvMode::Convolution;
    // Panel by panel, over the threads (the functional gradients make a plan per call): up to
    // 16 weight rows at a time transposed into the panel's k-major order, in one pack over
    // all of Kd when k = (ci, t) steps evenly through the weight, else one per
    // input channel over its taps (the channel-swapped view, or taps read back to front for
    // conv_mode=convolution, reversed in place); rows past M zero. Packing ResNet-50 res4's
    // swapped, reversed 3x3 weight element by element took a fifth of its input gradient.
    const kernels::TransposeKernel& tr = kernels::transpose_kernel(max_isa());
    // k steps evenly: by s_t through the taps and on into the next channel, or by s_ci with
    // one tap (a 1x1 weight, swapped or not).
    const bool even = s_ci == taps_ * s_t || taps_ == 1;
    const int64_t k_step = taps_ == 1 ? s_ci : s_t;
    const int64_t blocks = G_ * panels_;
    const int threads = threads_for(blocks, static_cast<double>(blocks * Kd_ * mr_) * 8);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const int64_t g = blk / panels_, m0 = blk % panels_ * mr_, valid = std::min(mr_, M_ - m0);
      const float* row0 = wp + (g * M_ + m0) * s_co;  // the panel's first weight row
      float* dst = ap + blk * Kd_ * mr_;              // [Kd][MR]
      for (int64_t i = 0; i < valid; i += kernels::kTransposeMaxRows) {
        const int64_t rn = std::min(kernels::kTransposeMaxRows, valid - i);
        const float* src[kernels::kTransposeMaxRows];
        if (even && !flip) {
          for (int64_t r = 0; r < rn; ++r) src[r] = row0 + (i + r) * s_co;
          tr.fn(src, k_step, rn, Kd_, dst + i, mr_);
          continue;
        }
        for (int64_t ci = 0; ci < cin_g; ++ci) {
          for (int64_t r = 0; r < rn; ++r) src[r] = row0 + (i + r) * s_co + ci * s_ci;
          float* block = dst + ci * taps_ * mr_ + i;  // [taps][MR], these rn columns
          tr.fn(src, s_t, rn, taps_, block, mr_);
          for (int64_t t = 0; flip && t < taps_ / 2; ++t)  // the taps back to front
            std::swap_ranges(block + t * mr_, block + t * mr_ + rn, block + (taps_ - 1 - t) * mr_);
        }
      }
      for (int64_t k = 0; valid < mr_ && k < Kd_; ++k) std::fill(dst + k * mr_ + valid, dst + (k + 1) * mr_, 0.0f);
    }
    if (b.defined()) bias_ = b.contiguous().clone();
  }

  int64_t memory_bytes() const override {
    return a_.numel() * 4 + (bias_.defined() ? bias_.numel() * 4 : 0) + padded_.bytes() + padded_rows_.bytes() +
           driver_.memory_bytes() + (cols_driver_ ? cols_driver_->memory_bytes() : 0);
  }

  void run(const Tensor& x, Tensor& y) const override {
    // Tap mode reads rows of unit column stride (in place or from its padded copy); inputs
    // with strided columns (channels-last) keep the packed path, which reads them through
    // their strides instead of copying the whole image into channel planes; columns mode copies
    // them (its padded copy reads any strides).
    if ((tap_ && x.stride(x.dim() - 1) == 1) || cols_) {
      run_taps(x, y);
      return;
    }
    // (Columns mode packs the weights in NR-wide panels, which this path cannot read.)
    CONVKIT_CHECK(cols_ == nullptr, "internal: the packed gemm path in columns mode");
    const ConvParams& p = params;
    Geometry geo{};
    const int64_t lift = 3 - p.dim;
    for (int d = 0; d < 3; ++d) geo.S[d] = geo.O[d] = geo.st[d] = 1, geo.xs[d] = 0;
    for (int64_t i = 0; i < p.dim; ++i) {
      geo.S[lift + i] = p.in_size[static_cast<std::size_t>(i)];
      geo.O[lift + i] = p.out_size[static_cast<std::size_t>(i)];
      geo.st[lift + i] = p.stride[static_cast<std::size_t>(i)];
      geo.xs[lift + i] = x.stride(2 + i);
    }
    // The 1x1 fast path copies whole channel planes, so it needs each plane contiguous.
    bool plane_contiguous = true;
    for (int64_t i = p.dim - 1, expect = 1; i >= 0; expect *= p.in_size[static_cast<std::size_t>(i)], --i)
      plane_contiguous = plane_contiguous && (p.in_size[static_cast<std::size_t>(i)] == 1 || x.stride(2 + i) == expect);
    const bool flat = flat_ && plane_contiguous;

    // The driver: batch = (image, group), rows = output channels, columns = positions, the
    // reduction = C_in/g x taps. A task packs a B block once per K step and runs every row
    // block of its part over it (rows_in_task); rows are split across tasks only as far as the
    // threads need (each part repacks the same B blocks).
    const bool merged = merged_images(p);
    const Bound bound(*this, x, geo, flat, merged, internal::mutable_data<float>(y));
    gemm::Problem pr;
    pr.batch = merged ? G_ : p.N * G_;
    pr.M = M_;
    pr.N = merged ? p.N * P_ : P_;
    pr.K = Kd_;
    pr.rows_in_task = true;
    pr.c_blocks = merged;  // C blocks span images: made per row block, then stored
    pr.flops = 2.0 * static_cast<double>(p.N * p.C_out * P_) * static_cast<double>(Kd_);
    driver_.run(bound, pr);
  }

 private:
  // The driver's view of one call: A = the plan's packed weights, B = im2col blocks of the
  // input (a plain copy for flat 1x1 layers), C = y in place, with the bias.
  class Bound : public gemm::Operands {
   public:
    Bound(const GemmPlan& plan, const Tensor& x, const Geometry& geo, bool flat, bool merged, float* y)
        : plan_(plan), xp_(x.const_data<float>()), xs0_(x.stride(0)), xs1_(x.stride(1)), geo_(geo), flat_(flat),
          merged_(merged), y_(y) {}
    const float* a(int64_t b, int64_t, int64_t i0, int64_t, int64_t k0, int64_t, float*, int64_t& stride) const override {
      return plan_.packed_a(b % plan_.G_, i0, k0, stride);
    }
    // Merged: batch entry b is group b, and columns [j0, j0 + n) run over images.
    const float* b(int64_t b, int64_t, int64_t k0, int64_t kc, int64_t j0, int64_t n, float* buf, int64_t& ldb) const override {
      ldb = kLdb;
      for_images(b, j0, n, [&](int64_t img, int64_t g, int64_t q0, int64_t len, int64_t at) {
        const float* xg = xp_ + img * xs0_ + g * plan_.params.c_in_per_group() * xs1_;
        if (flat_) {  // 1x1, stride 1, no padding: B row k is a slice of input channel plane k
          for (int64_t kk = 0; kk < kc; ++kk)
            std::memcpy(buf + kk * kLdb + at, xg + (k0 + kk) * xs1_ + q0, static_cast<std::size_t>(len) * sizeof(float));
        } else {
          plan_.pack_b(xg, xs1_, geo_, k0, kc, q0, len, buf + at);
        }
      });
      return buf;
    }
    float* c(int64_t b, int64_t i0, int64_t j0, int64_t& ldc) const override {
      if (merged_) return nullptr;  // C blocks, stored image by image
      const int64_t img = b / plan_.G_, g = b % plan_.G_;
      ldc = plan_.P_;
      return y_ + (img * plan_.params.C_out + g * plan_.M_ + i0) * plan_.P_ + j0;
    }
    void store(int64_t b, int64_t i0, int64_t m, int64_t j0, int64_t n, const float* c, int64_t ldc) const override {
      for_images(b, j0, n, [&](int64_t img, int64_t g, int64_t q0, int64_t len, int64_t at) {
        float* yg = y_ + (img * plan_.params.C_out + g * plan_.M_ + i0) * plan_.P_ + q0;
        for (int64_t i = 0; i < m; ++i)
          std::memcpy(yg + i * plan_.P_, c + i * ldc + at, static_cast<std::size_t>(len) * sizeof(float));
      });
    }
    const float* bias(int64_t b, int64_t i0) const override { return plan_.bias_rows(b % plan_.G_, i0); }

   private:
    // Columns [j0, j0 + n) of batch entry b as runs within one image: f(img, g, first
    // position q0, len, the run's first column within the block).
    template <typename F>
    void for_images(int64_t b, int64_t j0, int64_t n, F&& f) const {
      if (!merged_) {
        f(b / plan_.G_, b % plan_.G_, j0, n, 0);
        return;
      }
      for (int64_t at = 0; at < n;) {
        const int64_t img = (j0 + at) / plan_.P_, q0 = (j0 + at) % plan_.P_, len = std::min(n - at, plan_.P_ - q0);
        f(img, b, q0, len, at);
        at += len;
      }
    }

    const GemmPlan& plan_;
    const float* xp_;
    int64_t xs0_, xs1_;
    const Geometry& geo_;
    bool flat_, merged_;
    float* y_;
  };

  // Group g's packed weights from row i0 and k step k0 (MR-row panels Kd * MR apart).
  const float* packed_a(int64_t g, int64_t i0, int64_t k0, int64_t& panel_stride) const {
    panel_stride = Kd_ * mr_;
    return a_.const_data<float>() + ((g * panels_ + i0 / mr_) * Kd_ + k0) * mr_;
  }
  const float* bias_rows(int64_t g, int64_t i0) const {
    return bias_.defined() ? bias_.const_data<float>() + g * M_ + i0 : nullptr;
  }

  // Rows [0, count) of a run: source offset src + i src_step, destination dst + i dst_step.
  struct RowRun {
    int64_t src, dst, count, src_step, dst_step;
  };

  // Tap mode's source (see run_taps): plane stride ds, row stride hs, channel stride cs, Q
  // positions per image, and whether position q is the output index (1-d).
  struct TapSource {
    int64_t ds, hs, cs, Q;
    bool direct;
    int64_t O0, O1, O2;
    const int64_t* k_off;  // per reduction index k = (channel, tap) of a group: its row's offset in the source
    bool image_rows;       // 1-d images as the rows of one 2-d source: row oh is image n0 + oh
  };

  // The driver's view of tap mode over images [n0, ...): A = the packed weights, B = rows of the
  // source from each (channel, tap)'s offset, C = y in place (1-d) or a block whose valid
  // positions the epilogue copies out.
  class TapBound : public gemm::Operands {
   public:
    TapBound(const GemmPlan& plan, const TapSource& src, const float* s, int64_t s_n, int64_t n0, float* y)
        : plan_(plan), t_(src), s_(s), s_n_(s_n), n0_(n0), y_(y) {}
    const float* a(int64_t b, int64_t, int64_t i0, int64_t, int64_t k0, int64_t, float*, int64_t& stride) const override {
      return plan_.packed_a(b % plan_.G_, i0, k0, stride);
    }
    const float* const* b_rows(int64_t b, int64_t, int64_t k0, int64_t kc, int64_t j0, const float** rows,
                               int64_t& off) const override {
      const float* sg = s_ + b / plan_.G_ * s_n_ + b % plan_.G_ * plan_.params.c_in_per_group() * t_.cs;
      for (int64_t k = k0; k < k0 + kc; ++k) rows[k - k0] = sg + t_.k_off[k];
      off = j0;
      return rows;
    }
    float* c(int64_t b, int64_t i0, int64_t j0, int64_t& ldc) const override {
      if (!t_.direct) return nullptr;
      ldc = plan_.P_;
      return y_ + ((n0_ + b / plan_.G_) * plan_.params.C_out + b % plan_.G_ * plan_.M_ + i0) * plan_.P_ + j0;
    }
    const float* bias(int64_t b, int64_t i0) const override { return plan_.bias_rows(b % plan_.G_, i0); }
    // Copies the valid positions of [j0, j0 + n) out, one output-row run at a time.
    void store(int64_t b, int64_t i0, int64_t m, int64_t j0, int64_t n, const float* c, int64_t ldc) const override {
      const int64_t img = n0_ + b / plan_.G_, g = b % plan_.G_;
      for (int64_t q = j0; q < j0 + n;) {
        const int64_t od = q / t_.ds, oh = q % t_.ds / t_.hs, ow = q % t_.hs;
        const int64_t run = std::min(t_.hs - ow, j0 + n - q);
        if (oh < t_.O1 && ow < t_.O2) {
          // The m rows' runs in one call of the copy kernel (a memcpy per row and run was a fifth
          // of the seed Conv1d's time): output channels are a plane apart.
          const int64_t valid = std::min(run, t_.O2 - ow), plane = t_.O0 * t_.O1 * t_.O2;
          const int64_t row = (t_.image_rows ? n0_ + oh : img) * plan_.params.C_out + g * plan_.M_ + i0;
          float* dst = t_.image_rows ? y_ + row * t_.O2 + ow : y_ + row * plane + (od * t_.O1 + oh) * t_.O2 + ow;
          plan_.copy_.rows(c + (q - j0), 1, valid, m, ldc, dst, t_.image_rows ? t_.O2 : plane);
        }
        q += run;
      }
    }

   private:
    const GemmPlan& plan_;
    const TapSource& t_;
    const float* s_;
    int64_t s_n_, n0_;
    float* y_;
  };

  // Columns mode (cols_): per (image, group) Y^T[P, M] = B^T[P, Kd] * W^T[Kd, M], in row
  // blocks within one output row. A = the source read in place, one pointer per (channel, tap)
  // at the block's first position (the A-columns kernel broadcasts consecutive positions);
  // B = the plan's W^T in NR-wide panels (the bias per column, the kernel's init); C blocks
  // written to y transposed.
  class ColsBound : public gemm::Operands {
   public:
    ColsBound(const GemmPlan& plan, const TapSource& src, const float* const* cols, int64_t s_n, float* y, int64_t n0)
        : plan_(plan), t_(src), cols_(cols), s_n_(s_n), y_(y), n0_(n0) {}
    const float* const* a_cols(int64_t b, int64_t, int64_t i0, int64_t k0, int64_t& off) const override {
      const int64_t ow = i0 % t_.O2, oh = i0 / t_.O2 % t_.O1, od = i0 / (t_.O2 * t_.O1);
      off = b / plan_.G_ * s_n_ + b % plan_.G_ * plan_.params.c_in_per_group() * t_.cs + od * t_.ds + oh * t_.hs + ow;
      return cols_ + k0;
    }
    const float* a(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, float*, int64_t&) const override {
      return nullptr;  // (A comes from a_cols)
    }
    const float* b(int64_t b, int64_t, int64_t k0, int64_t, int64_t j0, int64_t, float*, int64_t& ldb) const override {
      int64_t stride = 0;
      ldb = plan_.mr_;
      return plan_.packed_a(b % plan_.G_, j0, k0, stride);
    }
    int64_t b_panel_stride(int64_t) const override { return plan_.Kd_ * plan_.mr_; }
    // Of output channels [j0, ...): the A-columns kernel's bias is per column.
    const float* bias(int64_t b, int64_t j0) const override { return plan_.bias_rows(b % plan_.G_, j0); }
    // y[img][g M + j0 + j][i0 + i] = C[i][j] (the bias in it), 16 positions at a time.
    void store(int64_t b, int64_t i0, int64_t m, int64_t j0, int64_t n, const float* c, int64_t ldc) const override {
      const int64_t g = b % plan_.G_, img = n0_ + b / plan_.G_, P = plan_.P_;
      float* yb = y_ + (img * plan_.params.C_out + g * plan_.M_ + j0) * P + i0;
      for (int64_t i = 0; i < m; i += kernels::kTransposeMaxRows) {
        const int64_t rn = std::min(kernels::kTransposeMaxRows, m - i);
        const float* src[kernels::kTransposeMaxRows];
        for (int64_t q = 0; q < rn; ++q) src[q] = c + (i + q) * ldc;
        plan_.transpose_.fn(src, 1, rn, n, yb + i, P);
      }
    }

   private:
    const GemmPlan& plan_;
    const TapSource& t_;
    const float* const* cols_;
    int64_t s_n_;
    float* y_;
    int64_t n0_;
  };

  // Several taps. Outputs are computed in the source's coordinates: output (od, oh, ow) is
  // position q = od * ds + oh * hs + ow of a source with unit column stride, row stride hs and
  // plane stride ds. The source is a per-image padded copy of the input (every padding mode
  // materialized) split by stride phases — padded index u of a dim with stride s is position
  // u / s of phase u % s — so tap (kd, kh, kw) of channel ci reads, for every output, one
  // phase at a fixed offset: q + ci * cs + phase * ps + (kd dd / sd) ds + (kh dh / sh) hs +
  // kw dw / sw. With stride 1, no padding read and contiguous planes, the source is the input
  // itself. So B row k = (ci, tap) is the source from one offset on, read in place through the
  // kernel's row pointers (no im2col). Positions past a row's Wo (the kernel's reach into the
  // next row) are computed and dropped: C goes to per-thread scratch and only valid columns
  // are copied out, except in 1-d where q is the output index.
  void run_taps(const Tensor& x, Tensor& y) const {
    const ConvParams& p = params;
    const int64_t lift = 3 - p.dim;
    int64_t S[3] = {1, 1, 1}, O[3] = {1, 1, 1}, xs[3] = {0, 0, 0};
    for (int64_t i = 0; i < p.dim; ++i) {
      S[lift + i] = p.in_size[static_cast<std::size_t>(i)];
      O[lift + i] = p.out_size[static_cast<std::size_t>(i)];
      xs[lift + i] = x.stride(2 + i);
    }
    bool in_place = xs[2] == 1 && xs[1] == (S[1] == 1 ? xs[1] : S[2]) && xs[0] == (S[0] == 1 ? xs[0] : S[1] * S[2]);
    for (int d = 0; d < 3; ++d) in_place = in_place && s_[d] == 1 && lo_[d] == 0 && Sp_[d] <= S[d];
    // 1-d images of few positions (the seed Conv1d: 20 images, 25 per phase) are copied side by
    // side in each channel and phase, as the rows of a 2-d source: one product's columns then
    // run over all of them, where a column tile per image was partly padding (24 of 32): 0.021
    // -> 0.019 ms. Only on one thread: on two, the images as tasks (0.0145 ms) beat the merged
    // product's few column blocks (0.017). Each output sums the same products in the same order
    // either way (the microkernel's contract), so the bits do not depend on the choice.
    const double flops = 2.0 * static_cast<double>(p.N * p.C_out * P_) * static_cast<double>(Kd_);
    const bool image_rows = !cols_ && p.dim == 1 && !in_place && p.N > 1 && p.padding_mode == PaddingMode::Zeros &&
                            Lp_[2] < kNC && threads_for(p.N * G_, flops) == 1;
    // Images padded (and then computed) together: as many as fit in ~4 MB, at least one.
    const int64_t image_floats = s_[0] * s_[1] * s_[2] * Lp_[0] * Lp_[1] * Lp_[2];
    const int64_t batch = in_place ? p.N : std::max<int64_t>(1, std::min(p.N, (int64_t{1} << 20) / (p.C_in * image_floats)));
    // Source strides: column 1, row hs, plane ds, phase ps, channel cs.
    const int64_t hs = in_place ? S[2] : Lp_[2];
    const int64_t ds = in_place ? S[1] * S[2] : image_rows ? batch * hs : Lp_[1] * Lp_[2];
    // A padded channel spans an odd number of cache lines: B rows of consecutive channels
    // then start on every L1 set, not on a few (a stride of 2^k lines folds them together).
    const int64_t ps = Lp_[0] * ds;
    const int64_t lines = (s_[0] * s_[1] * s_[2] * ps + 15) / 16;
    const int64_t cs = in_place ? x.stride(1) : (lines | 1) * 16;
    std::vector<int64_t> tap_off = in_place ? tap_in_place_ : tap_padded_;
    if (image_rows)  // (1-d: tap_padded_ is phase * Lp + shift)
      for (int64_t& t : tap_off) t = t / Lp_[2] * ps + t % Lp_[2];
    const int64_t Q = (O[0] - 1) * ds + (O[1] - 1) * hs + O[2];  // positions up to the last output
    const bool direct = O[0] == 1 && O[1] == 1 && !image_rows;     // q is the output index
    const int threads = image_rows ? 1 : threads_for(p.N * G_ * ceil_div(Q, kNC) * ceil_div(M_, kMC), flops);
    // (Each layout has its own buffer: padding positions are zeroed once, when it is made, and a
    // plan run on one thread and then on two would otherwise find copied data in them.)
    const auto padded = (image_rows ? padded_rows_ : padded_).lease(1, in_place ? 1 : (image_rows ? 1 : batch) * p.C_in * cs);
    const float* xp = x.const_data<float>();
    float* yp = internal::mutable_data<float>(y);
    // Row k = (channel, tap)'s offset, computed once per call rather than per image and K block
    // (two divisions per row made b_rows an eighth of a small layer's time).
    std::vector<int64_t> k_off(static_cast<std::size_t>(Kd_));
    for (int64_t k = 0; k < Kd_; ++k)
      k_off[static_cast<std::size_t>(k)] = k / taps_ * cs + tap_off[static_cast<std::size_t>(k % taps_)];
    const TapSource geo{ds, hs, cs, Q, direct, O[0], O[1], O[2], k_off.data(), image_rows};
    std::vector<const float*> cols(cols_ ? static_cast<std::size_t>(Kd_) : 0);  // columns mode: per k, its source row

    // Images [n0, n1) on the driver: batch = (image, group), rows = output channels, columns =
    // source positions up to Q, the reduction = C_in/g x taps read in place through row
    // pointers. B costs no packing, so every row block is its own task.
    auto compute = [&](int64_t n0, int64_t n1, const float* src, int64_t src_n) {
      TapSource g = geo;
      if (cols_) {
        const ColsBound bound(*this, g, cols.data(), src_n, yp, n0);
        gemm::Problem pr;
        pr.batch = (n1 - n0) * G_;
        pr.M = P_;
        pr.N = M_;
        pr.K = Kd_;
        // Row blocks within one output row (a single output row: the driver's blocks).
        pr.mc = pr.row_quantum = cols_row_block(O[0] * O[1] > 1 ? O[2] : 0);
        pr.rows_in_task = true;  // each B block over all the rows of a task, from L2
        pr.c_blocks = true;
        pr.c_block_floats = internal::cache_sizes().l2 / 16;  // a quarter of the L2
        pr.flops = 2.0 * static_cast<double>((n1 - n0) * p.C_out * P_) * static_cast<double>(Kd_);
        for (int64_t k = 0; k < Kd_; ++k) cols[static_cast<std::size_t>(k)] = src + k_off[static_cast<std::size_t>(k)];
        cols_driver_->run(bound, pr);
        return;
      }
      if (image_rows) g.O1 = n1 - n0, g.Q = (n1 - n0 - 1) * hs + O[2];  // rows: the images
      const TapBound bound(*this, g, src, src_n, n0, yp);
      gemm::Problem pr;
      pr.batch = (image_rows ? 1 : n1 - n0) * G_;
      pr.M = M_;
      pr.N = g.Q;
      pr.K = Kd_;
      // A short reduction onto a C beyond L2 (wav2vec2's first layer: 10 products per output,
      // 6.5 MB of them): writing C is the cost; the driver streams it.
      pr.stream_c = Kd_ <= kStreamBelowK &&
                    M_ * g.Q * static_cast<int64_t>(sizeof(float)) > internal::cache_sizes().l2 / 2;
      pr.flops = 2.0 * static_cast<double>((n1 - n0) * p.C_out * P_) * static_cast<double>(Kd_);
      driver_.run(bound, pr);
    };
    if (in_place) {
      compute(0, p.N, xp, x.stride(0));
      return;
    }
    // A batch of images at a time: pad them (channels in parallel), then compute from the copy.
    // Where each padded row (d, h) comes from (its offset in a channel of x, or -1: padding) and
    // goes (phase rows (d % sd, h % sh, *) at row (d / sd, h / sh)), worked out once per call:
    // per channel, the divisions cost more than a small layer's copies.
    std::vector<std::pair<int64_t, int64_t>> pad_rows;  // (source offset or -1, destination offset)
    for (int64_t d = 0; d < Sp_[0]; ++d)
      for (int64_t h = 0; h < Sp_[1]; ++h) {
        const int64_t id = source_index(d - lo_[0], S[0], p.padding_mode), ih = source_index(h - lo_[1], S[1], p.padding_mode);
        pad_rows.emplace_back(id < 0 || ih < 0 ? -1 : id * xs[0] + ih * xs[1],
                              (d % s_[0] * s_[1] + h % s_[1]) * s_[2] * ps + d / s_[0] * ds + h / s_[1] * hs);
      }
    // With zero padding, the in-range rows as runs (source and destination each advancing by
    // one step): a run is one call of the copy kernel per column phase, not one per row.
    std::vector<RowRun> runs;
    if (p.padding_mode == PaddingMode::Zeros) {
      std::vector<std::pair<int64_t, int64_t>> in_range;  // (destination, source), destinations in order
      for (const auto& [src, dst] : pad_rows)
        if (src >= 0) in_range.emplace_back(dst, src);
      std::sort(in_range.begin(), in_range.end());
      for (const auto& [dst, src] : in_range) {
        RowRun* r = runs.empty() ? nullptr : &runs.back();
        if (r && r->count == 1) r->src_step = src - r->src, r->dst_step = dst - r->dst;
        if (r && src == r->src + r->count * r->src_step && dst == r->dst + r->count * r->dst_step) {
          ++r->count;
        } else {
          runs.push_back({src, dst, 1, 0, 0});
        }
      }
      pad_rows.clear();  // the runs copy every in-range row; padding rows stay zero
    }
    float* pad = padded.get(0);
    const int64_t xs_n = x.stride(0), xs_c = x.stride(1);
    for (int64_t n0 = 0; n0 < p.N; n0 += batch) {
      const int64_t n1 = std::min(p.N, n0 + batch), count = (n1 - n0) * p.C_in;
      // Channels (image-major) in one contiguous range per thread, walked without divisions.
#pragma omp parallel num_threads(threads) if (threads > 1)
      {
        const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
        const int64_t begin = count * t / nt, end = count * (t + 1) / nt;
        int64_t n = n0 + begin / p.C_in, c = begin % p.C_in;
        // One row per channel (1-d, zeros padding): an image's channels are the rows of one copy
        // call per column phase (a call per channel and phase was a third of the seed Conv1d's
        // time, 20 images of 16 channels of 50).
        const bool row_per_channel = runs.size() == 1 && runs[0].count == 1 && pad_rows.empty();
        for (int64_t i = begin; row_per_channel && i < end;) {
          const int64_t k = std::min(end - i, p.C_in - c);  // channels c .. c + k - 1 of image n
          const RowRun& r = runs[0];
          for (int64_t ph = 0; ph < s_[2]; ++ph) {
            const PaddedPhase& f = wphases_[static_cast<std::size_t>(ph)];
            if (f.i1 > f.i0)
              copy_.rows(xp + n * xs_n + c * xs_c + r.src + (f.ph + s_[2] * f.i0 - lo_[2]) * xs[2],
                         f.i1 - f.i0 > 1 ? s_[2] * xs[2] : 1, f.i1 - f.i0, k, xs_c,
                         pad + (image_rows ? c * cs + (n - n0) * hs : i * cs) + r.dst + ph * ps + f.i0, cs);
          }
          i += k, c = 0, ++n;
        }
        for (int64_t i = begin; !row_per_channel && i < end; ++i) {
          const float* xc = xp + n * xs_n + c * xs_c;
          float* base = pad + i * cs;
          for (const RowRun& r : runs)
            for (int64_t ph = 0; ph < s_[2]; ++ph) {
              const PaddedPhase& f = wphases_[static_cast<std::size_t>(ph)];
              if (f.i1 > f.i0)  // (only then is the first in-range column's pointer formed)
                copy_.rows(xc + r.src + (f.ph + s_[2] * f.i0 - lo_[2]) * xs[2], f.i1 - f.i0 > 1 ? s_[2] * xs[2] : 1,
                           f.i1 - f.i0, r.count, r.src_step, base + r.dst + ph * ps + f.i0, r.dst_step);
            }
          for (const auto& [src, dst] : pad_rows)  // (other padding modes: row by row)
            for (int64_t ph = 0; ph < s_[2]; ++ph)
              fill_padded_phase(src < 0 ? nullptr : xc + src, xs[2], S[2], lo_[2], s_[2],
                                wphases_[static_cast<std::size_t>(ph)], p.padding_mode, copy_,
                                base + dst + ph * ps);  // padded_ is zeroed once, each row has a fixed place
          if (++c == p.C_in) c = 0, ++n;
        }
      }
      compute(n0, n1, pad, p.C_in * cs);
    }
  }

  // Columns mode's row block for output rows of O2 positions (0: a single row, the driver's blocks):
  // the row, or the largest part of it in whole tiles up to 128 positions (C blocks of a task's
  // rows stay small).
  int64_t cols_row_block(int64_t O2) const {
    if (O2 <= 128) return O2;
    for (int64_t rb = 128 / cols_->mr * cols_->mr; rb >= cols_->mr; rb -= cols_->mr)
      if (O2 % rb == 0) return rb;
    return O2;
  }

  // Whether tap mode can serve p (before the source size rule for more than 128 output
  // channels): several taps, each dim's stride within its kernel span, windows that overlap in
  // some dim, a padded copy that fits, and images not merged.
  static bool tap_mode_fits(const ConvParams& p) {
    int64_t taps = 1;
    bool within = true, overlap = false;
    for (std::size_t d = 0; d < p.kernel.size(); ++d) {
      const int64_t span = (p.kernel[d] - 1) * p.dilation[d] + 1;
      taps *= p.kernel[d];
      within = within && p.stride[d] <= span;
      overlap = overlap || p.stride[d] < span;
    }
    return taps > 1 && within && overlap && padded_copy_fits(p) && !merged_images(p);
  }

 public:
  // Columns mode's kernel for p, or null (gemm_columns_kernel): 2-d and 3-d tap-mode layers of
  // unit column stride whose output rows are whole A-columns tiles (of the height, 7 to 14,
  // that pads them least: 14 of 56, 11 of 33; at least 93% of the rows used), whose output
  // channels per group fill whole NR panels (at least 90%), with at least kColsFromK products
  // per output. There, against tap mode (1 thread, vs oneDNN best): ResNet-50 res4 3x3 (14 x
  // 14) forward 0.72 -> 0.83, input gradient 0.74 -> 0.87; res2 3x3 batch 8 0.73-0.78 ->
  // 0.88-0.90 and 0.79 -> 0.90; res2 3x3 (56 x 56) 0.82-0.85 -> 0.87-0.89 and 0.84 -> 0.89;
  // DeepLab's dilated 33 x 33 (11-row tiles) 0.74-0.78 -> 0.80 and 0.74-0.86 -> 0.91-0.98.
  // Shorter reductions lose:
  // the transposed store of C costs what few products per output do not amortize (ResNet-50's
  // first layer, 147: 0.83 -> 0.65), and so do 1-d layers, whose tap-mode rows waste nothing
  // (wav2vec2's second layer 0.92 -> 0.77). A column stride (rows read from stride phases)
  // gained nothing at one thread and lost at two (ResNet-50 res3 3x3/2 on AVX2: 0.73-0.75 ->
  // 0.62-0.67).
  static const kernels::GemmKernel* columns_kernel(const ConvParams& p) {
    const kernels::GemmKernel& ck = kernels::gemm_acols_kernel(max_isa(), p.out_size.back());
    int64_t kd = p.c_in_per_group();
    for (int64_t k : p.kernel) kd *= k;
    const int64_t O2 = p.out_size.back(), M = p.c_out_per_group();
    const bool fits = p.dim >= 2 && p.stride.back() == 1 && kd >= kColsFromK && 100 * O2 >= 93 * ceil_div(O2, ck.mr) * ck.mr &&
                      10 * M >= 9 * ceil_div(M, ck.nr) * ck.nr && tap_mode_fits(p);
    return fits ? &ck : nullptr;
  }

 private:
  static constexpr int64_t kColsFromK = 256;

  // The kernel whose tiles pad the M x P product least: M = 64 takes 8 x 48 (12-row panels
  // would pad it to 72), P = 7 x 7 takes 12 x 32 (48-column tiles would pad 49 to 96).
  static const kernels::GemmKernel& pick_kernel(const ConvParams& p) {
    const int64_t P = p.positions();
    return kernels::gemm_kernel_for(max_isa(), p.c_out_per_group(), merged_images(p) ? p.N * P : P, kNC);
  }
  // Images with few output positions are one GEMM's columns, image after image, packed: per
  // image, the last column tile is mostly padding (DCGAN's 8 x 8 outputs: 64 columns in tiles of
  // 48 or 16, and the tile choice follows the padding). With more than 128 output rows, which
  // amortize the packing: with fewer, reading the rows in place won (the seed Conv1d, 33 rows of
  // 24 positions: 0.024 ms in tap mode, 0.035 ms packed).
  static bool merged_images(const ConvParams& p) {
    return p.N > 1 && p.positions() < kMergedBelow && p.c_out_per_group() > 128;
  }
  static constexpr int64_t kMergedBelow = 2 * kNC;
  // Reductions this short have C streamed by the driver when it is large (Problem::stream_c):
  // wav2vec2's first layer (10 products) 0.80 -> 0.41 ms at 1 thread, a 3x3 layer on RGB
  // (27 products, 64 x 224 x 224 outputs) 2.10 -> 1.99 ms; ResNet-50's first layer (147) even.
  static constexpr int64_t kStreamBelowK = 64;

  // Packs B[pc .. pc+kc, jc .. jc+nc] (im2col of one image and group) row-major:
  // bp[kk * kLdb + q] = B[pc + kk, jc + q]. Each output row contributes one run of columns,
  // copied (or gathered, for strides) in one piece between its zero-padding ends.
  void pack_b(const float* xg, int64_t xs1, const Geometry& geo, int64_t pc, int64_t kc, int64_t jc, int64_t nc,
              float* bp) const {
    const PaddingMode mode = params.padding_mode;
    for (int64_t kk = 0; kk < kc; ++kk) {
      const auto k = static_cast<std::size_t>(pc + kk);
      const float* xc = xg + kci_[k] * xs1;
      float* dst = bp + kk * kLdb;
      int64_t q = 0, pos = jc;
      int64_t ow = pos % geo.O[2], oh = (pos / geo.O[2]) % geo.O[1], od = pos / (geo.O[2] * geo.O[1]);
      while (q < nc) {
        if (ow == 0 && nc - q >= geo.O[2] && mode == PaddingMode::Zeros && geo.xs[2] == 1) {
          // Whole output rows, up to kWindowRows of them in one call of the copy kernel
          // (a call per row of 8 columns had cost 5 cycles per element).
          constexpr int64_t kWindowRows = 64;
          const float* rows[kWindowRows];
          const int64_t n = std::min(kWindowRows, (nc - q) / geo.O[2]);
          for (int64_t i = 0; i < n; ++i) {
            const int64_t id = source_index(od * geo.st[0] + koff_[0][k], geo.S[0], mode);
            const int64_t ih = source_index(oh * geo.st[1] + koff_[1][k], geo.S[1], mode);
            rows[i] = id < 0 || ih < 0 ? nullptr : xc + id * geo.xs[0] + ih * geo.xs[1];
            if (++oh == geo.O[1]) oh = 0, ++od;
          }
          copy_.windows(rows, n, koff_[2][k], geo.st[2], geo.S[2], geo.O[2], dst + q);
          q += n * geo.O[2];
          continue;
        }
        const int64_t run = std::min(geo.O[2] - ow, nc - q);
        float* out = dst + q;
        const int64_t id = source_index(od * geo.st[0] + koff_[0][k], geo.S[0], mode);
        const int64_t ih = source_index(oh * geo.st[1] + koff_[1][k], geo.S[1], mode);
        if (id < 0 || ih < 0) {
          std::memset(out, 0, static_cast<std::size_t>(run) * sizeof(float));
        } else {
          const float* row = xc + id * geo.xs[0] + ih * geo.xs[1];
          const int64_t st = geo.st[2], xw = geo.xs[2];
          const int64_t iw0 = ow * st + koff_[2][k];
          if (mode == PaddingMode::Zeros) {
            // t is in range when 0 <= iw0 + t * st < S: zeros, inputs, zeros. (Ceiling divisions
            // written so a stride near 2^63 cannot overflow.)
            const int64_t a = std::clamp<int64_t>(iw0 >= 0 ? 0 : ceil_div(-iw0, st), 0, run);
            const int64_t z = std::clamp<int64_t>(geo.S[2] > iw0 ? ceil_div(geo.S[2] - iw0, st) : 0, a, run);
            std::memset(out, 0, static_cast<std::size_t>(a) * sizeof(float));
            if (z > a && st == 1 && xw == 1) {
              std::memcpy(out + a, row + iw0 + a, static_cast<std::size_t>(z - a) * sizeof(float));
            } else if (z > a) {
              // z > a means an in-range element exists, so (iw0 + t * st) * xw is an index of
              // the input and st * xw (the distance between two in-range ones) fits too.
              copy_.fn(row + (iw0 + a * st) * xw, z - a > 1 ? st * xw : 1, z - a, out + a);
            }
            std::memset(out + z, 0, static_cast<std::size_t>(run - z) * sizeof(float));
          } else {
            for (int64_t t = 0; t < run; ++t) {
              const int64_t iw = source_index(iw0 + t * st, geo.S[2], mode);
              out[t] = iw < 0 ? 0.0f : row[iw * xw];
            }
          }
        }
        q += run;
        ow = 0;
        if (++oh == geo.O[1]) oh = 0, ++od;
      }
    }
  }

  const kernels::GemmKernel& kernel_;
  const kernels::CopyKernel& copy_;
  const kernels::TransposeKernel& transpose_;
  int64_t mr_;
  int64_t G_ = 1, M_ = 0, Kd_ = 0, P_ = 0, taps_ = 1, panels_ = 0;
  bool flat_ = false;
  std::vector<int64_t> kci_;
  std::vector<int64_t> koff_[3];
  Tensor a_, bias_;
  Workspace padded_;     // tap mode's padded, phase-split copy of a batch of images
  Workspace padded_rows_;  // the same with 1-d images side by side (image_rows in run_taps)
  gemm::Driver driver_;  // both modes' GEMM loops
  const kernels::GemmKernel* cols_ = nullptr;  // columns mode's A-columns kernel, or null
  std::optional<gemm::Driver> cols_driver_;
  bool tap_ = false;
  int64_t K_[3] = {1, 1, 1}, dl_[3] = {1, 1, 1}, lo_[3] = {0, 0, 0}, s_[3] = {1, 1, 1}, Sp_[3] = {1, 1, 1}, Lp_[3] = {1, 1, 1};
  // Tap mode: source offset of tap t from its channel's start, read in place or padded.
  std::vector<int64_t> tap_in_place_, tap_padded_;
  std::vector<PaddedPhase> wphases_;  // tap mode: the column phases of a padded row
  int64_t kc_ = 1;                      // K block (gemm_k_block)
};

}  // namespace

const kernels::GemmKernel* gemm_columns_kernel(const ConvParams& p) { return GemmPlan::columns_kernel(p); }

std::unique_ptr<ConvPlan> make_gemm_plan(const ConvParams& p, const Tensor& w, const Tensor& b) {
  if (const kernels::GemmKernel* k = pointwise_transposed_kernel(p)) return make_pointwise_t_plan(p, w, b, *k);
  return std::make_unique<GemmPlan>(p, w, b);
}

}  // namespace convkit::internal
