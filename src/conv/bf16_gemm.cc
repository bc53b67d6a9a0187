// bfloat16 forward on the bfloat16 pair kernels (the AMX tiles): the implicit GEMM of the
// float32 path with its operands in bfloat16 pairs (gemm_bf16.h) and float32 sums, rounded once
// into the bfloat16 output.
//
//   A: the weight, [G][M/MR panels][K pair steps][MR] in the kernel's chunks, packed once; pair p
//      holds reduction steps k = 2p, 2p + 1 of k = (ci, tap) (zeros past C_in/g x taps).
//   B: per image and group, a padded bfloat16 copy of the input [C][Sp0][Sp1][Sp2] made per call,
//      from which each block's pair rows are packed: row p, column j = output position, pairs
//      the inputs that steps 2p and 2p + 1 read for it.
//   C: float32 blocks (the driver's), + bias, rounded to bfloat16 into y[N][C_out][positions].
#include <algorithm>
#include <array>
#include <cstring>

#include "conv/half_precision.h"
#include "core/storage.h"
#include "convkit/threads.h"
#include "gemm/driver.h"
#include "kernels/convert/convert.h"
#include "kernels/gemm_bf16/gemm_bf16.h"

namespace convkit::internal {

namespace {

constexpr int64_t kQ = kernels::kBf16PairQuantum;

int64_t round_up(int64_t v, int64_t q) { return (v + q - 1) / q * q; }

class Bf16GemmPlan : public ConvPlan {
 public:
  Bf16GemmPlan(const ConvParams& p, const Tensor& w32, const Tensor& b32, const kernels::GemmKernel& k)
      : k_(k), driver_(k), g_(lift3(p)) {
    G_ = p.groups, C_ = p.C_in, cin_g_ = p.c_in_per_group(), M_ = p.c_out_per_group();
    taps_ = g_.taps(), Kd_ = cin_g_ * taps_, K_ = round_up(ceil_div(Kd_, 2), kQ);
    for (int d = 0; d < 3; ++d) Sp_[d] = (g_.O[d] - 1) * g_.st[d] + (g_.K[d] - 1) * g_.dl[d] + 1;
    plane_ = Sp_[0] * Sp_[1] * Sp_[2];
    P_ = g_.O[0] * g_.O[1] * g_.O[2];
    mode_ = p.padding_mode;
    // K blocks of up to 256 pair steps in whole chunks: fewer reloads of the C tiles.
    kc_ = K_ <= 256 ? K_ : round_up(ceil_div(K_, ceil_div(K_, 256)), kQ);
    // Each tap's offset in the padded copy of its channel (taps back to front for conv_mode=convolution).
    for (int64_t t = 0; t < taps_; ++t) {
      const int64_t kd = t / (g_.K[1] * g_.K[2]), kh = t / g_.K[2] % g_.K[1], kw = t % g_.K[2];
      tap_off_.push_back((kd * g_.dl[0] * Sp_[1] + kh * g_.dl[1]) * Sp_[2] + kw * g_.dl[2]);
    }
    if (p.conv_mode == ConvMode::Convolution) std::reverse(tap_off_.begin(), tap_off_.end());
    pack_weights(w32);
    if (b32.defined()) bias_ = b32.contiguous().clone();
  }

  int64_t memory_bytes() const override {
    return a_.numel() * 4 + (bias_.defined() ? bias_.numel() * 4 : 0) + padded_.bytes() + driver_.memory_bytes();
  }

  void run(const Tensor& x, Tensor& y) const override {
    const int64_t N = x.size(0);
    // The padded copies of every image, 16-bit, in float-sized slots of the workspace.
    const auto lease = padded_.lease(1, ceil_div(N * C_ * plane_, 2));
    auto* pad = reinterpret_cast<uint16_t*>(lease.get(0));
    fill_padded(x, pad);
    gemm::Problem pr;
    pr.batch = N * G_, pr.M = M_, pr.N = P_, pr.K = K_, pr.kc = kc_;
    pr.rows_in_task = true, pr.c_blocks = true;
    pr.flops = 2.0 * static_cast<double>(N * G_ * M_ * P_) * static_cast<double>(Kd_);
    driver_.run(Bound(*this, pad, y), pr);
  }

 private:
  // A: [G][panels][K][MR] in chunks [K / Q][MR][Q] (gemm_bf16.h), rows past M zero.
  void pack_weights(const Tensor& w32) {
    const int64_t mr = k_.mr, panels = ceil_div(M_, mr);
    a_ = Tensor::zeros({G_ * panels * K_ * mr});
    const Tensor w = w32.contiguous();  // [C_out][C_in/g][taps]
    const float* wp = w.const_data<float>();
    auto* ap = reinterpret_cast<uint32_t*>(mutable_data<float>(a_));
    for (int64_t g = 0; g < G_; ++g)
      for (int64_t m = 0; m < M_; ++m) {
        const float* row = wp + (g * M_ + m) * Kd_;
        uint32_t* panel = ap + (g * panels + m / mr) * K_ * mr;
        for (int64_t pk = 0; pk < ceil_div(Kd_, 2); ++pk) {
          const uint32_t lo = BFloat16::from_float(row[2 * pk]);
          const uint32_t hi = 2 * pk + 1 < Kd_ ? BFloat16::from_float(row[2 * pk + 1]) : 0u;
          panel[pk / kQ * mr * kQ + m % mr * kQ + pk % kQ] = lo | hi << 16;
        }
      }
  }

  // pad[n][c][Sp0][Sp1][Sp2] = x at the padded coordinates (minus the padding), by the padding mode.
  void fill_padded(const Tensor& x, uint16_t* pad) const {
    const int64_t N = x.size(0), nd = x.dim() - 2;
    int64_t xs[3] = {0, 0, 0};  // the lifted spatial strides (dims added in front: size 1)
    for (int64_t d = 0; d < nd; ++d) xs[3 - nd + d] = x.stride(2 + d);
    const auto* xp = static_cast<const uint16_t*>(x.const_data_ptr());
    const int64_t xsn = x.stride(0), xsc = x.stride(1);
    const int threads = threads_for(N * C_, static_cast<double>(N * C_ * plane_) * 4);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t nc = 0; nc < N * C_; ++nc) {
      const uint16_t* src = xp + nc / C_ * xsn + nc % C_ * xsc;
      uint16_t* dst = pad + nc * plane_;
      for (int64_t r = 0; r < Sp_[0] * Sp_[1]; ++r, dst += Sp_[2]) {
        const int64_t s0 = source_index(r / Sp_[1] - g_.lo[0], g_.S[0], mode_);
        const int64_t s1 = source_index(r % Sp_[1] - g_.lo[1], g_.S[1], mode_);
        if (s0 < 0 || s1 < 0) {
          std::memset(dst, 0, static_cast<std::size_t>(Sp_[2]) * 2);
          continue;
        }
        const uint16_t* row = src + s0 * xs[0] + s1 * xs[1];
        // The columns inside the input straight, the others by the padding mode.
        const int64_t in0 = std::clamp<int64_t>(g_.lo[2], 0, Sp_[2]);
        const int64_t in1 = std::clamp<int64_t>(g_.lo[2] + g_.S[2], in0, Sp_[2]);
        for (int64_t c = 0; c < in0; ++c) dst[c] = edge(row, c, xs[2]);
        if (xs[2] == 1) std::memcpy(dst + in0, row + (in0 - g_.lo[2]), static_cast<std::size_t>(in1 - in0) * 2);
        else
          for (int64_t c = in0; c < in1; ++c) dst[c] = row[(c - g_.lo[2]) * xs[2]];
        for (int64_t c = in1; c < Sp_[2]; ++c) dst[c] = edge(row, c, xs[2]);
      }
    }
  }
  uint16_t edge(const uint16_t* row, int64_t c, int64_t xsw) const {
    const int64_t s = source_index(c - g_.lo[2], g_.S[2], mode_);
    return s < 0 ? uint16_t{0} : row[s * xsw];
  }

  // The driver's view of one call: A pre-packed, B pair rows packed from the padded copies, C
  // blocks rounded into y.
  class Bound : public gemm::Operands {
   public:
    Bound(const Bf16GemmPlan& plan, const uint16_t* pad, Tensor& y)
        : p_(plan), pad_(pad), y_(static_cast<uint16_t*>(mutable_data_ptr(y))),
          convert_(kernels::convert_kernel(max_isa())) {}

    const float* a(int64_t b, int64_t, int64_t i0, int64_t, int64_t k0, int64_t, float*,
                   int64_t& panel_stride) const override {
      const int64_t mr = p_.k_.mr, panels = ceil_div(p_.M_, mr);
      panel_stride = p_.K_ * mr;
      return p_.a_.const_data<float>() + ((b % p_.G_ * panels + i0 / mr) * p_.K_ + k0) * mr;
    }

    // Pair rows [k0, k0 + kc) x output positions [j0, j0 + n) of image b / G, group b % G.
    const float* b(int64_t b, int64_t, int64_t k0, int64_t kc, int64_t j0, int64_t n, float* buf,
                   int64_t& ldb) const override {
      const Lifted& g = p_.g_;
      const int64_t* Sp = p_.Sp_;
      // The block's columns in runs along the last output dim: where each starts in the
      // copy (relative to a tap's offset) and in the row.
      struct Run {
        int64_t src, dst, len;
      };
      std::array<Run, kGemmNC + 2> runs;
      int64_t count = 0;
      for (int64_t j = j0; j < j0 + n; count++) {
        const int64_t o2 = j % g.O[2], o1 = j / g.O[2] % g.O[1], o0 = j / (g.O[2] * g.O[1]);
        const int64_t len = std::min(g.O[2] - o2, j0 + n - j);
        runs[static_cast<std::size_t>(count)] = {(o0 * g.st[0] * Sp[1] + o1 * g.st[1]) * Sp[2] + o2 * g.st[2], j - j0, len};
        j += len;
      }
      const uint16_t* base = pad_ + (b / p_.G_ * p_.C_ + b % p_.G_ * p_.cin_g_) * p_.plane_;
      auto source = [&](int64_t k) -> const uint16_t* {
        return k < p_.Kd_ ? base + k / p_.taps_ * p_.plane_ + p_.tap_off_[static_cast<std::size_t>(k % p_.taps_)]
                          : nullptr;
      };
      auto* out = reinterpret_cast<uint32_t*>(buf);
      for (int64_t pk = k0; pk < k0 + kc; ++pk) {
        uint32_t* row = out + (pk - k0) * ldb;
        const uint16_t *lo = source(2 * pk), *hi = source(2 * pk + 1);
        if (lo == nullptr) {  // past the reduction: zeros (A is zero there, but 0 * NaN is not)
          std::memset(row, 0, static_cast<std::size_t>(n) * 4);
          continue;
        }
        for (int64_t r = 0; r < count; ++r) {
          const Run& u = runs[static_cast<std::size_t>(r)];
          convert_.pairs(lo + u.src, hi ? hi + u.src : nullptr, g.st[2], u.len, row + u.dst);
        }
      }
      return buf;
    }

    const float* bias(int64_t b, int64_t i0) const override {
      return p_.bias_.defined() ? p_.bias_.const_data<float>() + b % p_.G_ * p_.M_ + i0 : nullptr;
    }

    void store(int64_t b, int64_t i0, int64_t m, int64_t j0, int64_t n, const float* c, int64_t ldc) const override {
      const int64_t image = b / p_.G_, co = b % p_.G_ * p_.M_ + i0;
      uint16_t* y = y_ + ((image * p_.G_ * p_.M_ + co) * p_.P_ + j0);
      for (int64_t i = 0; i < m; ++i) convert_.f32_to_bf16(c + i * ldc, n, y + i * p_.P_);
    }

   private:
    const Bf16GemmPlan& p_;
    const uint16_t* pad_;
    uint16_t* y_;
    const kernels::ConvertKernel& convert_;
  };

  const kernels::GemmKernel& k_;
  gemm::Driver driver_;
  Lifted g_;
  int64_t G_ = 1, C_ = 0, cin_g_ = 0, M_ = 0, taps_ = 1, Kd_ = 0, K_ = 0, kc_ = 0, P_ = 0, plane_ = 0;
  int64_t Sp_[3] = {1, 1, 1};
  PaddingMode mode_ = PaddingMode::Zeros;
  std::vector<int64_t> tap_off_;
  Tensor a_, bias_;
  Workspace padded_;  // the padded bfloat16 copies of a call's images
};

}  // namespace

bool bf16_pairs_serve(const ConvParams& p) {
  return p.dtype == kBFloat16 && p.direction == Direction::Forward && max_isa() >= Isa::Amx && padded_copy_fits(p);
}

std::unique_ptr<ConvPlan> make_bf16_gemm_plan(const ConvParams& p, const Tensor& w32, const Tensor& b32) {
  return std::make_unique<Bf16GemmPlan>(p, w32, b32, kernels::gemm_bf16_kernel(max_isa()));
}

}  // namespace convkit::internal
