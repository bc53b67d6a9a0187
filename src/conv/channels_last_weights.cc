// The weight gradient read from a channels-last copy of the input. Per group g and tap t of
// the kernel (geometric position: its offset off_t into the padded input), with M = C_out/g,
// C = C_in/g and P positions per image:
//
//   dW_g,t[M, C] = sum over images n of dY_g[n][M, P] * Xt_t[n][P, C]
//   Xt_t[n][p, c] = xt[n][window start of p + off_t][g * C + c]
//
// xt [N, *S_padded, C_in (+ a gap)] is x with its padding materialized (any mode) and its channels
// innermost, made once per call. Row p of B is then C contiguous channels of xt, read in
// place through the microkernel's rows form, and A is dY packed once per call in MR-row
// panels: no operand is transposed per block, where the im2col form transposes taps x the
// input for every block of the reduction. The products are batch entries (g, t) of one driver
// run, into a [G][taps][M][C] scratch that is then spread into dW's (C, taps) order.
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <numeric>

#include "conv/plan.h"
#include "conv/reference.h"
#include "core/finite.h"
#include "core/storage.h"
#include "cpu/cache.h"
#include "gemm/driver.h"
#include "kernels/transpose/transpose.h"

namespace convkit::internal {

namespace {

std::atomic<int64_t> g_min_channels{-1};

// With fewer channels per group the per-tap products are small and mostly edge tiles, and
// the copies' fixed cost shows (the seed Conv1d's 16 channels: 30 us, im2col 25 us).
constexpr int64_t kMinChannels = 32;

// Floats between positions of the channels-last copy: C_in rounded up to 16, an odd number of
// cache lines. Rows of a power-of-two channel count would all fall in a few of L1's sets (512
// channels: every row of a K block in 2 of 64), and the microkernel's B rows evict each other.
int64_t position_stride(int64_t c_in) {
  const int64_t ld = ceil_div(c_in, int64_t{16}) * 16;
  return ld / 16 % 2 == 0 ? ld + 16 : ld;
}

// One image's copies: x channels-last over the padded extent the windows read, and dY in
// MR-row panels.
int64_t floats_per_image(const ConvParams& p, int64_t mr) {
  const Lifted g = lift3(p);
  int64_t x = position_stride(p.C_in), positions = 1;
  for (int d = 0; d < 3; ++d) x *= (g.O[d] - 1) * g.st[d] + (g.K[d] - 1) * g.dl[d] + 1, positions *= g.O[d];
  return x + p.groups * ceil_div(p.c_out_per_group(), mr) * mr * positions;
}

const kernels::GemmKernel& kernel_for(const ConvParams& p) {
  return kernels::gemm_kernel_for(max_isa(), p.c_out_per_group(), p.c_in_per_group(), kGemmNC);
}

class ChannelsLastWeightsPlan : public BackwardWeightsPlan {
 public:
  explicit ChannelsLastWeightsPlan(const ConvParams& p)
      : g3_(lift3(p)), G_(p.groups), M_(p.c_out_per_group()), C_(p.c_in_per_group()), taps_(g3_.taps()),
        driver_(kernel_for(p)),
        transpose_(kernels::transpose_kernel(max_isa())) {
    params = p;
    P_ = std::accumulate(p.out_size.begin(), p.out_size.end(), int64_t{1}, std::multiplies<>());
    for (int d = 0; d < 3; ++d) {
      sp_[d] = (g3_.O[d] - 1) * g3_.st[d] + (g3_.K[d] - 1) * g3_.dl[d] + 1;  // the padded extent read
      zero_padded_ = zero_padded_ || (p.padding_mode == PaddingMode::Zeros &&
                                      (g3_.lo[d] > 0 || sp_[d] - g3_.lo[d] > g3_.S[d]));
    }
    panels_ = ceil_div(M_, static_cast<int64_t>(driver_.kernel().mr));
    ld_ = position_stride(p.C_in);
    image_ = sp_[0] * sp_[1] * sp_[2] * ld_;
    // Images in groups whose copies fit half the L2: every tap's product reads a group's
    // copies, which a pass over all images at once would fetch from memory again per tap (and
    // two threads would share that bandwidth: ResNet-50 res2 with 8 images ran 1.3x slower).
    const int64_t per_image = floats_per_image(p, driver_.kernel().mr);
    group_ = std::clamp<int64_t>(cache_sizes().l2 / 2 / (per_image * 4), 1, std::max<int64_t>(p.N, 1));
    xt_floats_ = group_ * image_;
    at_floats_ = group_ * G_ * panels_ * P_ * driver_.kernel().mr;
    for (int64_t t = 0; t < taps_; ++t) {
      const int64_t k0 = t / (g3_.K[1] * g3_.K[2]), k1 = t / g3_.K[2] % g3_.K[1], k2 = t % g3_.K[2];
      tap_off_.push_back(((k0 * g3_.dl[0] * sp_[1] + k1 * g3_.dl[1]) * sp_[2] + k2 * g3_.dl[2]) * ld_);
    }
  }

  void run(const Tensor& x, const Tensor& gy, Tensor& gw) const override {
    const ConvParams& p = params;
    const Tensor dy = gy.contiguous();  // [N, C_out, P]
    // Zero padding meets every dY of a border output: an inf or NaN there would make
    // 0 * inf = NaN where the reference adds no term. Such calls run the reference.
    if (zero_padded_ && !all_finite(dy)) {
      reference_backward_weights(p, x, dy, gw);
      return;
    }
    // With one tap the products are dW's rows themselves.
    const int64_t c_floats = taps_ > 1 ? G_ * taps_ * M_ * C_ : 0;
    const auto lease = work_.lease(1, xt_floats_ + at_floats_ + c_floats);  // kept for the next call
    float* xt = lease.get(0);
    float* at = xt + xt_floats_;
    float* cb = taps_ > 1 ? at + at_floats_ : internal::mutable_data<float>(gw);
    const Tensor xu = x.stride(1 + p.dim) == 1 ? x : x.contiguous();
    // Group by group, each adding onto the sums of those before (images in order, so the
    // same bits for any thread count); one group may split its reduction into chunks.
    for (int64_t n0 = 0; n0 < p.N; n0 += group_) {
      const int64_t images = std::min(group_, p.N - n0);
      pack_input(xu, n0, images, xt);
      pack_grad(dy.const_data<float>(), n0, images, at);
      gemm::Problem pr;
      pr.batch = G_ * taps_;
      pr.M = M_;
      pr.N = C_;
      pr.outer = images;
      pr.K = P_;
      pr.split_reduction = group_ >= p.N;
      pr.accumulate = n0 > 0;
      pr.flops = 2.0 * static_cast<double>(images * p.C_out * C_ * taps_) * static_cast<double>(P_);
      driver_.run(Bound(*this, xt, at, cb), pr);
    }
    if (taps_ > 1) spread(cb, internal::mutable_data<float>(gw));
  }
  int64_t memory_bytes() const override { return driver_.memory_bytes() + work_.bytes(); }

 private:
  // x[N, C_in, *S] (unit stride along its last dim) -> xt[N, *S_padded, ld_], the padding of
  // params' mode filled in. Per padded row (n, d, h): its in-range columns 16 channels at a
  // time through the transpose kernel, the padding columns channel by channel.
  void pack_input(const Tensor& x, int64_t n0, int64_t images, float* xt) const {
    const ConvParams& p = params;
    const Lifted& g = g3_;
    const float* xp = x.const_data<float>();
    int64_t xs[3] = {0, 0, 0};
    for (int64_t i = 0; i < p.dim; ++i) xs[3 - p.dim + i] = x.stride(2 + i);
    const int64_t xsn = x.stride(0), xsc = x.stride(1), Ci = p.C_in, ld = ld_, row_len = sp_[2] * ld;
    const int64_t w0 = std::clamp<int64_t>(g.lo[2], 0, sp_[2]), w1 = std::clamp<int64_t>(g.lo[2] + g.S[2], w0, sp_[2]);
    const int64_t rows = images * sp_[0] * sp_[1];
    const int threads = threads_for(rows, static_cast<double>(xt_floats_) * 8);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t n = n0 + r / (sp_[0] * sp_[1]), d = r / sp_[1] % sp_[0], h = r % sp_[1];
      float* dst = xt + r * row_len;
      const int64_t id = source_index(d - g.lo[0], g.S[0], p.padding_mode);
      const int64_t ih = source_index(h - g.lo[1], g.S[1], p.padding_mode);
      if (id < 0 || ih < 0) {
        std::fill(dst, dst + row_len, 0.0f);
        continue;
      }
      const float* src = xp + n * xsn + id * xs[0] + ih * xs[1];  // channel 0 of the input row
      // [C_in, W] -> [W, C_in], 16 channels at a time.
      const float* srcs[kernels::kTransposeMaxRows];
      for (int64_t c0 = 0; c0 < Ci && w1 > w0; c0 += kernels::kTransposeMaxRows) {
        const int64_t cn = std::min(kernels::kTransposeMaxRows, Ci - c0);
        for (int64_t c = 0; c < cn; ++c) srcs[c] = src + (c0 + c) * xsc + (w0 - g.lo[2]) * xs[2];
        transpose_.fn(srcs, 1, cn, w1 - w0, dst + w0 * ld + c0, ld);
      }
      auto border = [&](int64_t w) {
        const int64_t iw = source_index(w - g.lo[2], g.S[2], p.padding_mode);
        for (int64_t c = 0; c < Ci; ++c) dst[w * ld + c] = iw < 0 ? 0.0f : src[c * xsc + iw * xs[2]];
      };
      for (int64_t w = 0; w < w0; ++w) border(w);
      for (int64_t w = w1; w < sp_[2]; ++w) border(w);
    }
  }

  // dY [N, C_out, P], images [n0, n0 + images) -> at[images][G][panels][P][MR]: rows past M zero.
  void pack_grad(const float* dy, int64_t n0, int64_t images, float* at) const {
    const int64_t mr = driver_.kernel().mr, blocks = images * G_ * panels_;
    const int threads = threads_for(blocks, static_cast<double>(at_floats_) * 8);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const int64_t ng = blk / panels_, i0 = blk % panels_ * mr, valid = std::min(mr, M_ - i0);
      const float* src = dy + ((n0 * G_ + ng) * M_ + i0) * P_;  // ng = n * G + g: rows of dY in order
      float* dst = at + blk * P_ * mr;
      const float* srcs[kernels::kTransposeMaxRows];
      for (int64_t i = 0; i < valid; i += kernels::kTransposeMaxRows) {
        const int64_t rn = std::min(kernels::kTransposeMaxRows, valid - i);
        for (int64_t r = 0; r < rn; ++r) srcs[r] = src + (i + r) * P_;
        transpose_.fn(srcs, 1, rn, P_, dst + i, mr);
      }
      for (int64_t k = 0; valid < mr && k < P_; ++k) std::fill(dst + k * mr + valid, dst + (k + 1) * mr, 0.0f);
    }
  }

  // cb[G][taps][M][C] -> dW[G * M][C][taps], the stored tap of geometric tap t being t, or
  // taps - 1 - t for conv_mode=convolution (the forward reads that kernel back to front).
  void spread(const float* cb, float* dw) const {
    const bool flip = params.conv_mode == ConvMode::Convolution;
    const int64_t rows = G_ * M_;
    const int threads = threads_for(rows, static_cast<double>(rows * C_ * taps_) * 4);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t g = r / M_, m = r % M_;
      float* out = dw + r * C_ * taps_;
      for (int64_t t = 0; t < taps_; ++t) {
        const float* src = cb + ((g * taps_ + t) * M_ + m) * C_;
        float* to = out + (flip ? taps_ - 1 - t : t);
        for (int64_t c = 0; c < C_; ++c) to[c * taps_] = src[c];
      }
    }
  }

  // Batch entry b = g * taps + t.
  class Bound : public gemm::Operands {
   public:
    Bound(const ChannelsLastWeightsPlan& plan, const float* xt, const float* at, float* cb)
        : plan_(plan), xt_(xt), at_(at), cb_(cb) {}
    const float* a(int64_t b, int64_t o, int64_t i0, int64_t, int64_t k0, int64_t, float*,
                   int64_t& panel_stride) const override {
      const ChannelsLastWeightsPlan& q = plan_;
      const int64_t mr = q.driver_.kernel().mr;
      panel_stride = q.P_ * mr;
      return at_ + (((o * q.G_ + b / q.taps_) * q.panels_ + i0 / mr) * q.P_ + k0) * mr;
    }
    // Row k: position k0 + k's window start in image o, shifted by the tap's offset.
    const float* const* b_rows(int64_t b, int64_t o, int64_t k0, int64_t kc, int64_t j0, const float** rows,
                               int64_t& off) const override {
      const ChannelsLastWeightsPlan& q = plan_;
      const Lifted& G = q.g3_;
      const float* base = xt_ + o * q.image_ + q.tap_off_[static_cast<std::size_t>(b % q.taps_)];
      off = b / q.taps_ * q.C_ + j0;
      const int64_t s0 = G.st[0] * q.sp_[1] * q.sp_[2] * q.ld_, s1 = G.st[1] * q.sp_[2] * q.ld_, s2 = G.st[2] * q.ld_;
      int64_t o2 = k0 % G.O[2], o1 = k0 / G.O[2] % G.O[1], o0 = k0 / (G.O[2] * G.O[1]);
      for (int64_t k = 0; k < kc; ++k) {
        rows[k] = base + o0 * s0 + o1 * s1 + o2 * s2;
        if (++o2 == G.O[2]) {
          o2 = 0;
          if (++o1 == G.O[1]) o1 = 0, ++o0;
        }
      }
      return rows;
    }
    float* c(int64_t b, int64_t i0, int64_t j0, int64_t& ldc) const override {
      ldc = plan_.C_;
      return cb_ + (b * plan_.M_ + i0) * plan_.C_ + j0;
    }

   private:
    const ChannelsLastWeightsPlan& plan_;
    const float* xt_;
    const float* at_;
    float* cb_;
  };

  Lifted g3_;
  int64_t G_, M_, C_, taps_, P_ = 0, sp_[3] = {1, 1, 1}, panels_ = 0, image_ = 0, ld_ = 0;
  int64_t group_ = 1, xt_floats_ = 0, at_floats_ = 0;  // images per pass and their copies' sizes
  std::vector<int64_t> tap_off_;  // per geometric tap: its offset in xt (floats)
  gemm::Driver driver_;
  const kernels::TransposeKernel& transpose_;
  bool zero_padded_ = false;  // the windows read zero padding
  Workspace work_;            // xt, the packed dY and the per-tap products, kept between calls
};

}  // namespace

int64_t channels_last_weights_min_channels() {
  const int64_t set = g_min_channels.load();
  return set >= 0 ? set : kMinChannels;
}
void set_channels_last_weights_min_channels(int64_t c) { g_min_channels.store(c); }

bool channels_last_serves_weights(const ConvParams& p) {
  // A 1x1 layer's im2col is x itself: transposed once per call either way, and in blocks that
  // stay in cache unless many row blocks of dW pack it again (ResNet-50 res2's 1x1 with 64
  // outputs: 1.21 ms here, 1.05 ms im2col; res5's with 2048: 0.74 ms here, 0.84 ms im2col).
  // And the copies of one image within twice the L2: larger ones are read from memory again
  // by every tap's product (VGG-16 conv3's 7 MB: 31 ms here, 29 ms im2col; wav2vec2 conv1's
  // 10 MB at two threads: 14 ms here, 12 ms im2col; ResNet-50 res3's 2.3 MB: 1.9 ms, 2.3 ms).
  if (p.N <= 0 || p.c_in_per_group() < channels_last_weights_min_channels() || !padded_copy_fits(p)) return false;
  if (channels_last_weights_min_channels() == 0) return true;  // forced (tests)
  const bool one_tap = lift3(p).taps() == 1;
  return (!one_tap || p.c_out_per_group() > 96) &&
         static_cast<double>(floats_per_image(p, kernel_for(p).mr)) * 4 <= 2.0 * static_cast<double>(cache_sizes().l2);
}

std::unique_ptr<BackwardWeightsPlan> make_channels_last_weights_plan(const ConvParams& p) {
  return std::make_unique<ChannelsLastWeightsPlan>(p);
}

}  // namespace convkit::internal
