// bfloat16 weight gradient of stride-1 layers on the bfloat16 pair kernels (the AMX tiles): per
// group and tap t, as float32's channels-last form,
//
//   G_t[co][ci] = sum over images n and positions j of dY_n[co][j] x_n[ci][j + offset_t]
//
// with positions on the padded input grid (rows of even length W2 >= Sp2 + 1; dY is zero at the
// grid's positions that are not outputs) and the reduction in pairs of positions (2q, 2q + 1):
//   A (rows co): dY's pairs, from a copy of dY on the grid, packed once per call for every tap;
//   B (columns ci): read in place from a channels-last copy of x's pairs: word m of channel ci =
//      (x[ci][2m + par], x[ci][2m + par + 1]), one copy per parity par of the taps' offsets, so a
//      tap's pair row q is word q + (offset - par) / 2, its channels contiguous and consecutive
//      rows one word row apart (the kernel's rows form);
//   C: float32 [G][taps][C_out/g][C_in/g], summed over images in a fixed order (chunks added in
//      order: the same bits for any thread count), then moved to [C_out][C_in/g][taps] and rounded
//      once into gw.
// The bias gradient: dY's channel sums in float32 (as the float32 plans), rounded once.
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "conv/half_precision.h"
#include "conv/padded_copy.h"
#include "conv/reference.h"
#include "core/finite.h"
#include "core/storage.h"
#include "convkit/threads.h"
#include "gemm/driver.h"
#include "kernels/convert/convert.h"
#include "kernels/gemm_bf16/gemm_bf16.h"
#include "kernels/transpose/transpose.h"

namespace convkit::internal {

namespace {

constexpr int64_t kQ = kernels::kBf16PairQuantum;
constexpr int64_t kT = kernels::kTransposeMaxRows;
constexpr int64_t kPiece = int64_t{1} << 15;  // elements per piece of the element-wise passes

int64_t round_up(int64_t v, int64_t q) { return (v + q - 1) / q * q; }

class Bf16WeightsPlan : public BackwardWeightsPlan {
 public:
  explicit Bf16WeightsPlan(const ConvParams& p) : k_(kernels::gemm_bf16_kernel(max_isa())), driver_(k_), pc_(p) {
    G_ = p.groups, C_ = p.C_in, Co_ = p.C_out, cin_g_ = p.c_in_per_group(), M_ = p.c_out_per_group();
    const Lifted& g = pc_.g;
    taps_ = g.taps();
    W2_ = round_up(pc_.Sp[2] + 1, 2);  // (a pair's partner past a row's last column reads zero)
    grid_ = pc_.Sp[0] * pc_.Sp[1] * W2_;
    J_ = ((g.O[0] - 1) * pc_.Sp[1] + g.O[1]) * W2_;  // the grid's positions up to the last output row's end
    K_ = round_up(J_ / 2, kQ);
    kc_ = K_ <= 128 ? K_ : round_up(ceil_div(K_, ceil_div(K_, 128)), kQ);
    Cw_ = round_up(cin_g_, 16);
    for (int64_t t = 0; t < taps_; ++t) {
      const int64_t kd = t / (g.K[1] * g.K[2]), kh = t / g.K[2] % g.K[1], kw = t % g.K[2];
      tap_off_.push_back((kd * g.dl[0] * pc_.Sp[1] + kh * g.dl[1]) * W2_ + kw * g.dl[2]);
    }
    if (p.conv_mode == ConvMode::Convolution) std::reverse(tap_off_.begin(), tap_off_.end());
    // Word rows of a copy: the grid's pairs, + the rows that the last output row's non-output
    // columns read past the grid at the widest tap, and a reduction padded to whole chunks
    // past that (zeros; their dY is zero).
    words_ = grid_ / 2 + (g.K[2] - 1) * g.dl[2] / 2 + kQ + 2;
  }

  int64_t memory_bytes() const override { return scratch_.bytes() + driver_.memory_bytes(); }

  void run(const Tensor& x, const Tensor& gy, Tensor& gw) const override { run_with_bias(x, gy, gw, nullptr); }

  void run_with_bias(const Tensor& x, const Tensor& gy, Tensor& gw, Tensor* gb) const override {
    // The products also multiply zero padding by dY, and inputs at the grid's non-output
    // positions (next to the padding) by dY's zeros: an inf or NaN in either would spread where
    // the reference (which skips both) has none. Such calls run the reference.
    if (!all_finite(x) || (zero_padding_is_read(params) && !all_finite(gy))) {
      reference_backward_weights(params, x, gy, gw);
      if (gb) channel_sums(gy, *gb);
      return;
    }
    const int64_t N = x.size(0);
    const int64_t copy = N * G_ * words_ * Cw_;      // one parity's channels-last copy (words)
    const int64_t dyp = ceil_div(N * Co_ * J_, 2);    // dY on the grid (words)
    const int64_t panels = ceil_div(M_, k_.mr), ap = N * G_ * panels * K_ * k_.mr;  // dY's pairs packed (words)
    const int64_t cf = G_ * taps_ * M_ * cin_g_;     // C (floats)
    const int64_t stage = 2 * kT * (words_ + 1);     // per thread: 16 channels' grid, as words, twice
    const int threads = threads_for(N * G_ * ceil_div(Cw_, kT), static_cast<double>(N * C_ * grid_) * 16);
    const int64_t g32 = gb ? gy.numel() : 0;         // dY in float32, for the bias gradient
    const auto lease = scratch_.lease(1, 2 * copy + dyp + ap + 2 * cf + g32 + threads * stage);
    float* base = lease.get(0);
    float* cl[2] = {base, base + copy};
    auto* dy = reinterpret_cast<uint16_t*>(base + 2 * copy);
    auto* a = reinterpret_cast<uint32_t*>(base + 2 * copy + dyp);
    float* c = base + 2 * copy + dyp + ap;
    float* gy32 = c + 2 * cf;
    fill_copies(x, cl, gy32 + g32, stage, threads);
    fill_dy(gy, dy);
    pack_dy(reinterpret_cast<const uint32_t*>(dy), a, N);
    gemm::Problem pr;
    pr.batch = G_ * taps_, pr.M = M_, pr.N = cin_g_, pr.outer = N, pr.K = K_, pr.kc = kc_;
    pr.rows_in_task = true, pr.split_reduction = true;
    pr.flops = 2.0 * static_cast<double>(N * Co_ * cin_g_ * taps_) * static_cast<double>(J_);
    driver_.run(Bound(*this, cl, a, c), pr);
    finish(c, c + cf, gw);
    if (gb) {  // dY's channel sums in float32 (the float32 plans' order), rounded once
      const auto& cv = kernels::convert_kernel(max_isa());
      const Tensor g = gy.contiguous();
      const auto* g16 = static_cast<const uint16_t*>(g.const_data_ptr());
      const int pt = threads_for(ceil_div(g32, kPiece), static_cast<double>(g32) * 8);
#pragma omp parallel for num_threads(pt) schedule(static) if (pt > 1)
      for (int64_t i = 0; i < g32; i += kPiece) cv.bf16_to_f32(g16 + i, std::min(kPiece, g32 - i), gy32 + i);
      Tensor s = Tensor::empty({Co_}, kFloat32);
      channel_sums(Tensor::from_blob(gy32, gy.sizes(), kFloat32), s);
      cv.f32_to_bf16(s.const_data<float>(), Co_, static_cast<uint16_t*>(mutable_data_ptr(*gb)));
    }
  }

 private:
  // The channels-last pair copies, per image and group: cl[par][(n G + g) words + m][ci].
  // 16 channels at a time: their padded grid (rows of W2, zeros past Sp2), its words as the
  // parity-0 pairs and the words shifted by one element as the parity-1 pairs, transposed.
  void fill_copies(const Tensor& x, float* const cl[2], float* stage_base, int64_t stage, int threads) const {
    const PaddedCopy::Source<uint16_t> src(x);
    const int64_t N = x.size(0), blocks = ceil_div(Cw_, kT), rows = pc_.Sp[0] * pc_.Sp[1];
    const auto& cv = kernels::convert_kernel(max_isa());
    const auto& tr = kernels::transpose_kernel(max_isa());
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t task = 0; task < N * G_ * blocks; ++task) {
      const int64_t ng = task / blocks, ci0 = task % blocks * kT, image = ng / G_, g = ng % G_;
      float* st = stage_base + static_cast<int64_t>(omp_get_thread_num()) * stage;
      auto* grid = reinterpret_cast<uint16_t*>(st);  // [16][2 words_] elements
      auto* odd = reinterpret_cast<uint32_t*>(st + kT * (words_ + 1));
      const int64_t rn = std::min(kT, Cw_ - ci0);
      const float* w0[kT];
      const float* w1[kT];
      for (int64_t r = 0; r < rn; ++r) {
        uint16_t* plane = grid + r * 2 * (words_ + 1);
        std::memset(plane, 0, static_cast<std::size_t>(2 * (words_ + 1)) * 2);
        if (ci0 + r < cin_g_)
          for (int64_t row = 0; row < rows; ++row) pc_.fill_row(src, image, g * cin_g_ + ci0 + r, row, plane + row * W2_);
        cv.pairs(plane + 1, plane + 2, 2, words_, odd + r * (words_ + 1));
        w0[r] = reinterpret_cast<const float*>(plane);
        w1[r] = reinterpret_cast<const float*>(odd + r * (words_ + 1));
      }
      tr.fn(w0, 1, rn, words_, cl[0] + ng * words_ * Cw_ + ci0, Cw_);
      tr.fn(w1, 1, rn, words_, cl[1] + ng * words_ * Cw_ + ci0, Cw_);
    }
  }

  // dY on the grid: dy[n][co][j] for j < J, zeros where j is not an output.
  void fill_dy(const Tensor& gy, uint16_t* dy) const {
    const int64_t N = gy.size(0), nd = gy.dim() - 2;
    const Lifted& g = pc_.g;
    const auto* src = static_cast<const uint16_t*>(gy.const_data_ptr());
    int64_t s[3] = {0, 0, 0};
    for (int64_t d = 0; d < nd; ++d) s[3 - nd + d] = gy.stride(2 + d);
    const int threads = threads_for(N * Co_, static_cast<double>(N * Co_ * J_) * 4);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t nc = 0; nc < N * Co_; ++nc) {
      uint16_t* d = dy + nc * J_;
      std::memset(d, 0, static_cast<std::size_t>(J_) * 2);
      const uint16_t* base = src + nc / Co_ * gy.stride(0) + nc % Co_ * gy.stride(1);
      for (int64_t o0 = 0; o0 < g.O[0]; ++o0)
        for (int64_t o1 = 0; o1 < g.O[1]; ++o1) {
          const uint16_t* row = base + o0 * s[0] + o1 * s[1];
          uint16_t* out = d + (o0 * pc_.Sp[1] + o1) * W2_;
          if (s[2] == 1) std::memcpy(out, row, static_cast<std::size_t>(g.O[2]) * 2);
          else
            for (int64_t o2 = 0; o2 < g.O[2]; ++o2) out[o2] = row[o2 * s[2]];
        }
    }
  }

  // dY's pairs as the kernel's A panels, once for every tap: [n][g][panels][K / 16][32][16]
  // (rows past M and steps past the grid's pairs zero).
  void pack_dy(const uint32_t* dy, uint32_t* a, int64_t N) const {
    const int64_t mr = k_.mr, panels = ceil_div(M_, mr), J2 = J_ / 2;
    const int threads = threads_for(N * G_ * panels, static_cast<double>(N * Co_ * J_) * 4);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t blk = 0; blk < N * G_ * panels; ++blk) {
      uint32_t* panel = a + blk * K_ * mr;
      std::memset(panel, 0, static_cast<std::size_t>(K_ * mr) * 4);
      const int64_t ng = blk / panels, m0 = blk % panels * mr;
      for (int64_t i = 0; i < std::min(mr, M_ - m0); ++i) {
        const uint32_t* row = dy + (ng / G_ * Co_ + ng % G_ * M_ + m0 + i) * J2;
        for (int64_t q = 0; q < J2; q += kQ)
          std::memcpy(panel + q * mr + i * kQ, row + q, static_cast<std::size_t>(std::min(kQ, J2 - q)) * 4);
      }
    }
  }

  // gw[g M + co][ci][t] = C[g taps + t][co][ci] (taps transposed 16 at a time), rounded once.
  void finish(const float* c, float* t, Tensor& gw) const {
    const auto& cv = kernels::convert_kernel(max_isa());
    auto* out = static_cast<uint16_t*>(mutable_data_ptr(gw));
    if (taps_ == 1) {  // C is gw's layout already
      cv.f32_to_bf16(c, G_ * M_ * cin_g_, out);
      return;
    }
    const auto& tr = kernels::transpose_kernel(max_isa());
    const int64_t Nw = cin_g_ * taps_;
    const int threads = threads_for(G_ * M_, static_cast<double>(G_ * M_ * Nw) * 8);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t gco = 0; gco < G_ * M_; ++gco) {
      const int64_t g = gco / M_, co = gco % M_;
      for (int64_t t0 = 0; t0 < taps_; t0 += kT) {
        const int64_t rn = std::min(kT, taps_ - t0);
        const float* src[kT];
        for (int64_t r = 0; r < rn; ++r) src[r] = c + ((g * taps_ + t0 + r) * M_ + co) * cin_g_;
        tr.fn(src, 1, rn, cin_g_, t + gco * Nw + t0, taps_);
      }
      cv.f32_to_bf16(t + gco * Nw, Nw, out + gco * Nw);  // (each row while it is in cache)
    }
  }

  class Bound : public gemm::Operands {
   public:
    Bound(const Bf16WeightsPlan& plan, float* const cl[2], const uint32_t* a, float* c)
        : p_(plan), cl_{cl[0], cl[1]}, a_(a), c_(c) {}

    // A block: output channels [i0, i0 + m) of group b / taps x pair steps from k0 of image o,
    // pre-packed (pack_dy).
    const float* a(int64_t b, int64_t o, int64_t i0, int64_t, int64_t k0, int64_t, float*,
                   int64_t& panel_stride) const override {
      const int64_t mr = p_.k_.mr, panels = ceil_div(p_.M_, mr);
      panel_stride = p_.K_ * mr;
      return reinterpret_cast<const float*>(a_ + (((o * p_.G_ + b / p_.taps_) * panels + i0 / mr) * p_.K_ + k0) * mr);
    }

    // B rows: pair step q of tap b % taps is word q + (offset - par) / 2 of the parity-par copy
    // of image o, group b / taps; columns ci from j0.
    const float* const* b_rows(int64_t b, int64_t o, int64_t k0, int64_t kc, int64_t j0, const float** rows,
                               int64_t& off) const override {
      const int64_t g = b / p_.taps_, off_t = p_.tap_off_[static_cast<std::size_t>(b % p_.taps_)], par = off_t % 2;
      const float* copy = cl_[par] + (o * p_.G_ + g) * p_.words_ * p_.Cw_;
      for (int64_t q = k0; q < k0 + kc; ++q) rows[q - k0] = copy + (q + (off_t - par) / 2) * p_.Cw_;
      off = j0;
      return rows;
    }

    float* c(int64_t b, int64_t i0, int64_t j0, int64_t& ldc) const override {
      ldc = p_.cin_g_;
      return c_ + (b * p_.M_ + i0) * p_.cin_g_ + j0;
    }

   private:
    const Bf16WeightsPlan& p_;
    const float* cl_[2];
    const uint32_t* a_;
    float* c_;
  };

  const kernels::GemmKernel& k_;
  gemm::Driver driver_;
  PaddedCopy pc_;
  int64_t G_ = 1, C_ = 0, Co_ = 0, cin_g_ = 0, M_ = 0, taps_ = 1;
  int64_t W2_ = 0, grid_ = 0, J_ = 0, K_ = 0, kc_ = 0, Cw_ = 0, words_ = 0;
  std::vector<int64_t> tap_off_;
  Workspace scratch_;
};

}  // namespace

// Stride-1 layers of several taps: 1x1 layers ran no faster than the float32 plan between
// conversions (ResNet-50 res5 1x1: 0.67 against 0.57 ms), whose reduction needs no copies. And
// at least 16 outputs and 8 inputs per group: dY's packed panels (32 rows) and the copies'
// channels (rounded up to 16) would otherwise take many times dY and x.
bool bf16_pairs_serve_weights(const ConvParams& p) {
  if (p.c_out_per_group() < 16 || p.c_in_per_group() < 8) return false;
  bool stride1 = true;
  int64_t taps = 1;
  for (int64_t s : p.stride) stride1 = stride1 && s == 1;
  for (int64_t k : p.kernel) taps *= k;
  return p.dtype == kBFloat16 && p.direction == Direction::BackwardWeights && max_isa() >= Isa::Amx && stride1 &&
         taps > 1 && padded_copy_fits(p);
}

std::unique_ptr<BackwardWeightsPlan> make_bf16_weights_plan(const ConvParams& p) {
  return std::make_unique<Bf16WeightsPlan>(p);
}

}  // namespace convkit::internal
