// bfloat16 forward on the bfloat16 pair kernels (the AMX tiles): the implicit GEMM of the
// float32 path with its operands in bfloat16 pairs (gemm_bf16.h) and float32 sums, rounded once
// into the bfloat16 output.
//
//   A: the weight, [G][M/MR panels][K pair steps][MR] in the kernel's chunks, packed once.
//   B, packed form: a padded bfloat16 copy of the input [N][C][Sp0][Sp1][Sp2] made per call,
//      from which each block's pair rows are packed: pair p = reduction steps 2p, 2p + 1 of
//      k = (ci, tap), column j = output position, each the input that step reads for it.
//   B, tap form (stride 1, >= 3/4 of the channel pairs real): the copy holds channel pairs
//      interleaved, [N][G][CP][Sp0][Sp1][Sp2] pair slots (CP: C_in/g / 2 rounded up to chunks),
//      and pair p = (tap, channel pair) is read in place, as the f32 path's tap mode: column j =
//      a position of the padded grid (outputs on it, the others computed and dropped), its row
//      the channel pair's plane shifted by the tap's offset. Nothing is packed per block.
//   C: float32 blocks (the driver's), + bias, rounded to bfloat16 into y[N][C_out][positions].
#include <algorithm>
#include <array>
#include <cstring>

#include "conv/half_precision.h"
#include "conv/padded_copy.h"
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
      : k_(k), driver_(k), pc_(p), g_(pc_.g), Sp_(pc_.Sp), plane_(pc_.plane) {
    G_ = p.groups, C_ = p.C_in, cin_g_ = p.c_in_per_group(), M_ = p.c_out_per_group();
    taps_ = g_.taps(), Kd_ = cin_g_ * taps_;
    P_ = g_.O[0] * g_.O[1] * g_.O[2];
    CP_ = round_up(ceil_div(cin_g_, 2), kQ);
    tap_ = g_.st[0] == 1 && g_.st[1] == 1 && g_.st[2] == 1 && 3 * 2 * CP_ <= 4 * cin_g_;
    K_ = tap_ ? taps_ * CP_ : round_up(ceil_div(Kd_, 2), kQ);
    // Tap form: columns are the padded grid's positions up to the last output.
    N_ = tap_ ? ((g_.O[0] - 1) * Sp_[1] + g_.O[1] - 1) * Sp_[2] + g_.O[2] : P_;
    // K blocks of up to 128 pair steps in whole chunks: a microkernel's A and B panels (16 KB
    // each) stay in L1 (256 ran the kernel at half the rate). (The rows form takes <= kMaxKc.)
    static_assert(128 <= kMaxKc);
    kc_ = K_ <= 128 ? K_ : round_up(ceil_div(K_, ceil_div(K_, 128)), kQ);
    // Each tap's offset in the padded copy of its channel (taps back to front for conv_mode=convolution).
    for (int64_t t = 0; t < taps_; ++t) tap_off_.push_back(pc_.tap_offset(t));
    if (p.conv_mode == ConvMode::Convolution) std::reverse(tap_off_.begin(), tap_off_.end());
    pack_weights(w32);
    if (b32.defined()) bias_ = b32.contiguous().clone();
  }

  int64_t memory_bytes() const override {
    return a_.numel() * 4 + (bias_.defined() ? bias_.numel() * 4 : 0) + padded_.bytes() + driver_.memory_bytes();
  }

  void run(const Tensor& x, Tensor& y) const override {
    const int64_t N = x.size(0);
    // The padded copies of every image, in float-sized slots of the workspace: 16-bit values
    // (packed form) or pairs of them (tap form, + kSlack slots the last tiles read past a plane).
    const int64_t slots = tap_ ? N * G_ * copy_slots() : ceil_div(N * C_ * plane_, 2);
    const auto lease = padded_.lease(1, slots);
    float* pad = lease.get(0);
    if (tap_) fill_pairs(x, reinterpret_cast<uint32_t*>(pad));
    else fill_padded(x, reinterpret_cast<uint16_t*>(pad));
    gemm::Problem pr;
    pr.batch = N * G_, pr.M = M_, pr.N = N_, pr.K = K_, pr.kc = kc_;
    pr.rows_in_task = true, pr.c_blocks = true;
    pr.flops = 2.0 * static_cast<double>(N * G_ * M_ * P_) * static_cast<double>(Kd_);
    driver_.run(Bound(*this, pad, y), pr);
  }

 private:
  // A: [G][panels][K][MR] in chunks [K / Q][MR][Q] (gemm_bf16.h), rows past M zero. Pair p
  // holds steps (ci, tap) 2p and 2p + 1 (packed form) or tap p / CP of channels 2 (p % CP) and
  // 2 (p % CP) + 1 (tap form); zeros past the channels or steps.
  void pack_weights(const Tensor& w32) {
    const int64_t mr = k_.mr, panels = ceil_div(M_, mr);
    a_ = Tensor::zeros({G_ * panels * K_ * mr});
    const Tensor w = w32.contiguous();  // [C_out][C_in/g][taps]
    const float* wp = w.const_data<float>();
    auto* ap = reinterpret_cast<uint32_t*>(mutable_data<float>(a_));
    auto half = [&](const float* row, int64_t ci, int64_t t) -> uint32_t {
      return ci < cin_g_ ? BFloat16::from_float(row[ci * taps_ + t]) : 0u;
    };
    for (int64_t g = 0; g < G_; ++g)
      for (int64_t m = 0; m < M_; ++m) {
        const float* row = wp + (g * M_ + m) * Kd_;
        uint32_t* panel = ap + (g * panels + m / mr) * K_ * mr;
        for (int64_t pk = 0; pk < K_; ++pk) {
          const int64_t k0 = 2 * pk;
          const uint32_t pair = tap_ ? half(row, 2 * (pk % CP_), pk / CP_) | half(row, 2 * (pk % CP_) + 1, pk / CP_) << 16
                                     : (k0 < Kd_ ? half(row, k0 / taps_, k0 % taps_) : 0u) |
                                           (k0 + 1 < Kd_ ? half(row, (k0 + 1) / taps_, (k0 + 1) % taps_) << 16 : 0u);
          panel[pk / kQ * mr * kQ + m % mr * kQ + pk % kQ] = pair;
        }
      }
  }

  static constexpr int64_t kSlack = 32;  // a tile's columns read past the last output
  int64_t copy_slots() const { return CP_ * plane_ + kSlack; }

  // The tap form's copy: per image and group, plane cp holds channels 2 cp and 2 cp + 1 of the
  // group (zeros past C_in/g) as pairs, padded by the mode.
  void fill_pairs(const Tensor& x, uint32_t* pad) const {
    const PaddedCopy::Source<uint16_t> src(x);
    const int64_t N = x.size(0);
    const auto& cv = kernels::convert_kernel(max_isa());
    const int threads = threads_for(N * G_ * CP_, static_cast<double>(N * G_ * CP_ * plane_) * 8);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t q = 0; q < N * G_ * CP_; ++q) {
      const int64_t image = q / (G_ * CP_), c0 = q / CP_ % G_ * cin_g_ + 2 * (q % CP_);
      const int64_t real = std::clamp<int64_t>(cin_g_ - 2 * (q % CP_), 0, 2);  // the pair's channels in the group
      uint32_t* dst = pad + q / CP_ * copy_slots() + q % CP_ * plane_;
      for (int64_t r = 0; r < Sp_[0] * Sp_[1]; ++r, dst += Sp_[2]) {
        // Both channels of a pair read the same input row (or none: zero padding).
        const uint16_t* lo = real > 0 ? pc_.source_row(src, image, c0, r) : nullptr;
        if (lo == nullptr) {
          std::memset(dst, 0, static_cast<std::size_t>(Sp_[2]) * 4);
          continue;
        }
        const uint16_t* hi = real > 1 ? lo + src.sc : nullptr;
        const int64_t xsw = src.s[2], in0 = pc_.in0(), in1 = pc_.in1();
        cv.pairs(lo + (in0 - g_.lo[2]) * xsw, hi ? hi + (in0 - g_.lo[2]) * xsw : nullptr, xsw, in1 - in0, dst + in0);
        auto edge = [&](int64_t col) {  // a padding column
          const int64_t si = source_index(col - g_.lo[2], g_.S[2], pc_.mode);
          dst[col] = si < 0 ? 0u : lo[si * xsw] | (hi ? static_cast<uint32_t>(hi[si * xsw]) << 16 : 0u);
        };
        for (int64_t col = 0; col < in0; ++col) edge(col);
        for (int64_t col = in1; col < Sp_[2]; ++col) edge(col);
      }
      if (q % CP_ == CP_ - 1)  // the group's slack after its last plane
        std::memset(pad + q / CP_ * copy_slots() + CP_ * plane_, 0, kSlack * 4);
    }
  }

  // The packed form's copy: pad[n][c][Sp0][Sp1][Sp2].
  void fill_padded(const Tensor& x, uint16_t* pad) const {
    const PaddedCopy::Source<uint16_t> src(x);
    const int64_t N = x.size(0);
    const int threads = threads_for(N * C_, static_cast<double>(N * C_ * plane_) * 4);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t nc = 0; nc < N * C_; ++nc) {
      uint16_t* dst = pad + nc * plane_;
      for (int64_t r = 0; r < Sp_[0] * Sp_[1]; ++r, dst += Sp_[2]) pc_.fill_row(src, nc / C_, nc % C_, r, dst);
    }
  }

  // The driver's view of one call: A pre-packed, B pair rows packed from the padded copies, C
  // blocks rounded into y.
  class Bound : public gemm::Operands {
   public:
    Bound(const Bf16GemmPlan& plan, const float* pad, Tensor& y)
        : p_(plan), pad_(reinterpret_cast<const uint16_t*>(pad)), pairs_(pad),
          y_(static_cast<uint16_t*>(mutable_data_ptr(y))), convert_(kernels::convert_kernel(max_isa())) {}

    const float* a(int64_t b, int64_t, int64_t i0, int64_t, int64_t k0, int64_t, float*,
                   int64_t& panel_stride) const override {
      const int64_t mr = p_.k_.mr, panels = ceil_div(p_.M_, mr);
      panel_stride = p_.K_ * mr;
      return p_.a_.const_data<float>() + ((b % p_.G_ * panels + i0 / mr) * p_.K_ + k0) * mr;
    }

    // Tap form: pair row p = (tap p / CP, channel pair p % CP) of image b / G, group b % G, read
    // in place; each chunk of 16 rows is 16 channel pairs of one tap, a plane apart.
    const float* const* b_rows(int64_t b, int64_t, int64_t k0, int64_t kc, int64_t j0, const float** rows,
                               int64_t& off) const override {
      if (!p_.tap_) return nullptr;
      const float* base = pairs_ + b * p_.copy_slots();
      for (int64_t pk = k0; pk < k0 + kc; ++pk)
        rows[pk - k0] = base + pk % p_.CP_ * p_.plane_ + p_.tap_off_[static_cast<std::size_t>(pk / p_.CP_)];
      off = j0;
      return rows;
    }

    // Packed form: pair rows [k0, k0 + kc) x output positions [j0, j0 + n) of image b / G,
    // group b % G.
    const float* b(int64_t b, int64_t, int64_t k0, int64_t kc, int64_t j0, int64_t n, float* buf,
                   int64_t& ldb) const override {
      const Lifted& g = p_.g_;
      std::array<PaddedCopy::Run, kGemmNC> runs;
      const int64_t count = p_.pc_.runs(j0, n, runs.data());
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
          const PaddedCopy::Run& u = runs[static_cast<std::size_t>(r)];
          convert_.pairs(lo + u.src, hi ? hi + u.src : nullptr, g.st[2], u.len, row + u.dst);
        }
        // The tiles read whole 32-column panels: the columns past n zero, not a previous block's.
        std::memset(row + n, 0, static_cast<std::size_t>(round_up(n, p_.k_.nr) - n) * 4);
      }
      return buf;
    }

    const float* bias(int64_t b, int64_t i0) const override {
      return p_.bias_.defined() ? p_.bias_.const_data<float>() + b % p_.G_ * p_.M_ + i0 : nullptr;
    }

    void store(int64_t b, int64_t i0, int64_t m, int64_t j0, int64_t n, const float* c, int64_t ldc) const override {
      const int64_t image = b / p_.G_, co = b % p_.G_ * p_.M_ + i0;
      uint16_t* y = y_ + (image * p_.G_ * p_.M_ + co) * p_.P_;
      if (!p_.tap_) {
        for (int64_t i = 0; i < m; ++i) convert_.f32_to_bf16(c + i * ldc, n, y + i * p_.P_ + j0);
        return;
      }
      // Tap form: columns are padded-grid positions; the outputs among them in runs along the
      // last dim (j = (o0 Sp1 + o1) Sp2 + o2 is an output when o1 < O1 and o2 < O2).
      const Lifted& g = p_.g_;
      const int64_t* Sp = p_.Sp_;
      for (int64_t j = j0; j < j0 + n;) {
        const int64_t o2 = j % Sp[2], o1 = j / Sp[2] % Sp[1], o0 = j / (Sp[2] * Sp[1]);
        const int64_t len = std::min(Sp[2] - o2, j0 + n - j);
        if (o1 < g.O[1] && o2 < g.O[2]) {
          const int64_t run = std::min(len, g.O[2] - o2), at = (o0 * g.O[1] + o1) * g.O[2] + o2;
          for (int64_t i = 0; i < m; ++i) convert_.f32_to_bf16(c + i * ldc + (j - j0), run, y + i * p_.P_ + at);
        }
        j += len;
      }
    }

   private:
    const Bf16GemmPlan& p_;
    const uint16_t* pad_;  // the packed form's copy
    const float* pairs_;   // the tap form's
    uint16_t* y_;
    const kernels::ConvertKernel& convert_;
  };

  const kernels::GemmKernel& k_;
  gemm::Driver driver_;
  PaddedCopy pc_;
  const Lifted& g_;          // pc_'s
  const int64_t* Sp_;
  const int64_t& plane_;
  int64_t G_ = 1, C_ = 0, cin_g_ = 0, M_ = 0, taps_ = 1, Kd_ = 0, K_ = 0, kc_ = 0, P_ = 0, N_ = 0, CP_ = 0;
  bool tap_ = false;  // B in the tap form (else packed)
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
