// The float32 forward of a 2-d layer on channels-last data (PyTorch's channels_last tensors,
// the NHWC memory of TensorFlow- and ONNX-exported models), written channels-last, with no
// layout change of either tensor. Per image n and group g, with M = C_out/g, Cg = C_in/g and
// taps t:
//
//   y[n][p][g M + co] = bias[g M + co] + sum over t, ci < Cg of W_g[co][t Cg + ci] * X(n, p, t)[g Cg + ci]
//
// X(n, p, t) is the channel vector tap t of position p reads: of x itself when no window reads
// padding and x's channels are contiguous, else of a channels-last copy with the padding
// materialized (any padding mode). On the GEMM driver: rows = output channels (A = the weight,
// packed once in MR-row panels, the reduction in (tap, channel) order), columns = positions
// (B = blocks of windows, each position's run of a tap's channels transposed in, packed once
// per K step and run by every row block of a task), C = blocks that store() transposes into
// y's rows, C_out apart.
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "conv/plan.h"
#include "conv/select.h"
#include "core/storage.h"
#include "gemm/driver.h"
#include "kernels/transpose/transpose.h"

namespace convkit::internal {

namespace {

class ChannelsLastConvPlan : public ConvPlan {
 public:
  ChannelsLastConvPlan(const ConvParams& p, const Tensor& w, const Tensor& b)
      : g3_(lift3(p)), M_(p.c_out_per_group()), Cg_(p.c_in_per_group()), K_(Cg_ * g3_.taps()),
        P_(p.positions()), driver_(kernels::gemm_kernel_for(max_isa(), M_, P_, kGemmNC)),
        transpose_(kernels::transpose_kernel(max_isa())) {
    params = p;
    // A: [G][panels][K][MR], k = t Cg + ci (conv_mode=convolution reads the kernel back to
    // front), rows past M zero.
    const int64_t taps = g3_.taps(), mr = driver_.kernel().mr;
    panels_ = ceil_div(M_, mr);
    a_ = Tensor::zeros({p.groups * panels_ * K_ * mr});
    // The weight [C_out, Cg, taps] read through its strides (an input gradient's forward gets
    // the channel-swapped view, no copy): per panel and tap, up to 16 rows' channels transposed
    // into the panel's k-major order; panels over the threads (the functional gradients make
    // this plan per call, and element by element the packing cost a third of ResNet-50 res4's
    // input gradient).
    const WeightView wv = weight_view(w);
    const float* wp = wv.data();
    float* ap = internal::mutable_data<float>(a_);
    const bool flip = p.conv_mode == ConvMode::Convolution;
    const kernels::TransposeKernel& tr = transpose_;
    const int64_t blocks = p.groups * panels_, Cg = Cg_, K = K_, panels = panels_, M = M_;
    const int threads = threads_for(blocks, static_cast<double>(blocks * K * mr) * 8);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const int64_t g = blk / panels, m0 = blk % panels * mr, valid = std::min(mr, M - m0);
      float* panel = ap + blk * K * mr;  // [taps][Cg][MR]
      const float* srcs[kernels::kTransposeMaxRows];
      for (int64_t i = 0; i < valid; i += kernels::kTransposeMaxRows) {
        const int64_t rn = std::min(kernels::kTransposeMaxRows, valid - i);
        for (int64_t t = 0; t < taps; ++t) {
          for (int64_t r = 0; r < rn; ++r) srcs[r] = wp + (g * M + m0 + i + r) * wv.s_co + (flip ? taps - 1 - t : t) * wv.s_t;
          tr.fn(srcs, wv.s_ci, rn, Cg, panel + t * Cg * mr + i, mr);
        }
      }
    }
    if (b.defined()) bias_ = b.contiguous().clone();
    // The padded extent the windows read, per lifted dim; x serves in place when it is x's own.
    for (int d = 0; d < 3; ++d) {
      ext_[d] = g3_.read_extent(d);
      inside_ = inside_ && g3_.lo[d] == 0 && ext_[d] <= g3_.S[d];
    }
  }

  bool writes_channels_last() const override { return true; }

  void run(const Tensor& x, Tensor& y) const override {
    const ConvParams& p = params;
    CONVKIT_CHECK(y.stride(1) == 1 && y.stride(3) == p.C_out && y.stride(2) == g3_.O[2] * p.C_out &&
                      y.stride(0) == P_ * p.C_out,
                  "internal: the channels-last plan writes a channels-last output");
    // The channel vectors: x in place, or the padded copy. Strides in floats.
    const bool in_place = inside_ && x.stride(1) == 1;
    const auto lease = copy_.lease(1, in_place ? 1 : p.N * ext_[1] * ext_[2] * p.C_in);
    Source src{lease.get(0), ext_[1] * ext_[2] * p.C_in, ext_[2] * p.C_in, p.C_in};
    if (in_place) src = {x.const_data<float>(), x.stride(0), x.stride(2), x.stride(3)};
    else padded_copy(x, lease.get(0));
    // Batch = (image, group); a task packs a B block once per K step and runs every row block
    // of its part over it.
    const Bound bound(*this, src, internal::mutable_data<float>(y));
    gemm::Problem pr;
    pr.batch = p.N * p.groups;
    pr.M = M_;
    pr.N = P_;
    pr.K = K_;
    pr.rows_in_task = true;
    pr.c_blocks = true;
    pr.flops = 2.0 * static_cast<double>(p.N * p.C_out * K_) * static_cast<double>(P_);
    driver_.run(bound, pr);
  }

  int64_t memory_bytes() const override {
    return a_.numel() * 4 + (bias_.defined() ? bias_.numel() * 4 : 0) + copy_.bytes() + driver_.memory_bytes();
  }

 private:
  struct Source {
    const float* data;
    int64_t image, row, pixel;  // strides; channels are contiguous
  };

  // x (any strides) -> [N][ext H][ext W][C_in] at out, the padding filled as params' mode
  // reads it: a row of positions per task.
  void padded_copy(const Tensor& x, float* out) const {
    const ConvParams& p = params;
    const Lifted& g = g3_;
    const float* xp = x.const_data<float>();
    const int64_t sc = x.stride(1), sh = x.stride(2), sw = x.stride(3), C = p.C_in;
    const int64_t rows = p.N * ext_[1];
    const int threads = threads_for(rows, static_cast<double>(rows * ext_[2] * C) * 40);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t n = r / ext_[1], ih = source_index(r % ext_[1] - g.lo[1], g.S[1], p.padding_mode);
      float* dst = out + r * ext_[2] * C;
      for (int64_t c = 0; c < ext_[2]; ++c, dst += C) {
        const int64_t iw = ih < 0 ? -1 : source_index(c - g.lo[2], g.S[2], p.padding_mode);
        if (iw < 0) {
          std::fill(dst, dst + C, 0.0f);
          continue;
        }
        const float* s = xp + n * x.stride(0) + ih * sh + iw * sw;
        if (sc == 1) std::memcpy(dst, s, static_cast<std::size_t>(C) * sizeof(float));
        else
          for (int64_t ci = 0; ci < C; ++ci) dst[ci] = s[ci * sc];
      }
    }
  }

  class Bound : public gemm::Operands {
   public:
    Bound(const ChannelsLastConvPlan& plan, const Source& src, float* y) : plan_(plan), src_(src), y_(y) {}

    const float* a(int64_t b, int64_t, int64_t i0, int64_t, int64_t k0, int64_t, float*, int64_t& stride) const override {
      const ChannelsLastConvPlan& q = plan_;
      const int64_t mr = q.driver_.kernel().mr;
      stride = q.K_ * mr;
      return q.a_.const_data<float>() + (((b % q.params.groups) * q.panels_ + i0 / mr) * q.K_ + k0) * mr;
    }
    // Steps [k0, k0 + kc) x positions [j0, j0 + n) of image and group b, row k at buf + k ldb:
    // 16 positions' runs of a tap's channels per transpose.
    const float* b(int64_t b, int64_t, int64_t k0, int64_t kc, int64_t j0, int64_t n, float* buf, int64_t& ldb) const override {
      const ChannelsLastConvPlan& q = plan_;
      const Lifted& g = q.g3_;
      const float* image = src_.data + b / q.params.groups * src_.image + b % q.params.groups * q.Cg_;
      const float* base[kernels::kTransposeMaxRows];
      const float* srcs[kernels::kTransposeMaxRows];
      for (int64_t j = 0; j < n; j += kernels::kTransposeMaxRows) {
        const int64_t rows = std::min(kernels::kTransposeMaxRows, n - j);
        for (int64_t i = 0; i < rows; ++i) {  // the window's first tap of position j0 + j + i
          const int64_t pos = j0 + j + i, oh = pos / g.O[2], ow = pos % g.O[2];
          base[i] = image + oh * g.st[1] * src_.row + ow * g.st[2] * src_.pixel;
        }
        for (int64_t k = k0; k < k0 + kc;) {  // a tap's run of channels per transpose
          const int64_t tap = k / q.Cg_, ci = k % q.Cg_, len = std::min(q.Cg_ - ci, k0 + kc - k);
          const int64_t off = tap / g.K[2] * g.dl[1] * src_.row + tap % g.K[2] * g.dl[2] * src_.pixel + ci;
          for (int64_t i = 0; i < rows; ++i) srcs[i] = base[i] + off;
          q.transpose_.fn(srcs, 1, rows, len, buf + (k - k0) * ldb + j, ldb);
          k += len;
        }
      }
      return buf;
    }
    const float* bias(int64_t b, int64_t i0) const override {
      const ChannelsLastConvPlan& q = plan_;
      return q.bias_.defined() ? q.bias_.const_data<float>() + b % q.params.groups * q.M_ + i0 : nullptr;
    }
    // C [m output channels][n positions] -> y[n][j0 + j][g M + i0 + i]: 16 channels per transpose.
    void store(int64_t b, int64_t i0, int64_t m, int64_t j0, int64_t n, const float* c, int64_t ldc) const override {
      const ChannelsLastConvPlan& q = plan_;
      const int64_t C_out = q.params.C_out;
      float* out = y_ + (b / q.params.groups * q.P_ + j0) * C_out + b % q.params.groups * q.M_ + i0;
      const float* rows[kernels::kTransposeMaxRows];
      for (int64_t i = 0; i < m; i += kernels::kTransposeMaxRows) {
        const int64_t count = std::min(kernels::kTransposeMaxRows, m - i);
        for (int64_t r = 0; r < count; ++r) rows[r] = c + (i + r) * ldc;
        q.transpose_.fn(rows, 1, count, n, out + i, C_out);
      }
    }

   private:
    const ChannelsLastConvPlan& plan_;
    Source src_;
    float* y_;
  };

  Lifted g3_;
  int64_t M_, Cg_, K_, P_, panels_ = 0;
  int64_t ext_[3] = {1, 1, 1};
  bool inside_ = true;  // no window reads padding: x serves in place when its channels are contiguous
  gemm::Driver driver_;
  const kernels::TransposeKernel& transpose_;
  Tensor a_, bias_;
  Workspace copy_;  // the padded channels-last copy, kept between calls
};

}  // namespace

bool channels_last_conv_serves(const ConvParams& p) {
  // Few channels per group would transpose a few elements per call (ResNet-50's first layer,
  // 3 channels): those keep the planar path.
  return p.direction == Direction::Forward && !p.transposed && p.dim == 2 && p.dtype == kFloat32 &&
         p.c_in_per_group() >= kChannelsLastMinChannels && padded_copy_fits(p);
}

std::unique_ptr<ConvPlan> make_channels_last_conv_plan(const ConvParams& p, const Tensor& w, const Tensor& b) {
  return std::make_unique<ChannelsLastConvPlan>(p, w, b);
}

}  // namespace convkit::internal
