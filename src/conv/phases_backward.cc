// backward_data of a strided convolution (zeros padding) as stride-1 forward convolutions, one
// per phase of the input (the sub-pixel form of a transposed convolution). Per dim, with
// stride s, dilation d, padding lo: input position i reads back from output o through tap k
// when i + lo = o s + k d. Write i + lo = q s + r (0 <= r < s): only the taps with
// k d = r (mod s) reach phase r, at o = q - (k d - r) / s. So phase r of dX is a stride-1
// correlation of dY with those taps (dilation d / gcd(d, s)), the channel dims swapped:
//
//   dX_r[n, ci, u] = sum over co and the phase's taps j of W[co, ci, k_j] * dY[n, co, q0 + u - m_j]
//
// Each phase runs on the forward paths (gemm, pointwise, depthwise): no col2im scatter-add,
// every element of dX written once, by one phase. It serves kernels no larger than the stride
// and layers of large phases (phases_serve_backward_data), and every float64 layer (which has
// no col2im path): a 2x2 stride-2 transposed convolution becomes four 1x1 convolutions, a 1x1
// stride-2 layer's input gradient one (the other phases are zero).
#include <algorithm>
#include <numeric>

#include "conv/half_precision.h"
#include "conv/plan.h"
#include "conv/select.h"
#include "convkit/settings.h"
#include "core/storage.h"
#include "kernels/copy/copy.h"

namespace convkit::internal {

namespace {

// One dim of one phase.
struct DimPhase {
  int64_t r = 0;               // (i + lo) mod s of the phase's input positions
  std::vector<int64_t> taps;   // stored taps reaching it, in the forward correlation's order
  int64_t q0 = 0, len = 0;     // its positions: i = (q0 + u) s + r - lo for u < len
  int64_t dilation = 1;        // the sub-kernel's
  int64_t in0 = 0, in_len = 0; // the dY range the correlation reads
  int64_t pad_lo = 0, pad_hi = 0;
};

// floor(a / b) for b > 0.
int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

DimPhase dim_phase(const ConvParams& p, int64_t d, int64_t r) {
  const auto ud = static_cast<std::size_t>(d);
  const int64_t s = p.stride[ud], dl = p.dilation[ud], lo = p.pad_lo[ud], K = p.kernel[ud];
  const int64_t S = p.in_size[ud], O = p.out_size[ud];
  DimPhase f;
  f.r = r;
  // Kernel positions k (where the forward applies a tap; stored tap K-1-k for conv_mode
  // convolution) with k d = r mod s, ascending; m_k = (k d - r) / s.
  std::vector<int64_t> pos;
  for (int64_t k = 0; k < K; ++k)
    if (k * dl % s == r) pos.push_back(k);
  f.q0 = -floor_div(r - lo, s);  // ceil((lo - r) / s): the first q with i >= 0
  f.len = std::max<int64_t>(0, floor_div(S - 1 + lo - r, s) - f.q0 + 1);
  if (pos.empty() || f.len == 0) return f;
  const int64_t J = static_cast<int64_t>(pos.size());
  f.dilation = J > 1 ? (pos[1] - pos[0]) * dl / s : 1;
  // The correlation's tap j' is position pos[J-1-j'] (read back to front), reading dY at
  // u - pad + j' dilation.
  for (int64_t j = J - 1; j >= 0; --j) {
    const int64_t k = pos[static_cast<std::size_t>(j)];
    f.taps.push_back(p.conv_mode == ConvMode::Convolution ? K - 1 - k : k);
  }
  const int64_t m0 = (pos[0] * dl - r) / s;
  const int64_t pad = m0 + (J - 1) * f.dilation - f.q0;
  const int64_t pad_hi = f.len - 1 - pad + (J - 1) * f.dilation - (O - 1);
  // Negative padding crops dY instead.
  f.in0 = std::max<int64_t>(0, -pad);
  f.in_len = O - f.in0 - std::max<int64_t>(0, -pad_hi);
  f.pad_lo = std::max<int64_t>(0, pad), f.pad_hi = std::max<int64_t>(0, pad_hi);
  return f;
}

class PhasesBackwardDataPlan : public BackwardDataPlan {
 public:
  PhasesBackwardDataPlan(const ConvParams& p, const Tensor& w, const Tensor& b, bool winograd)
      : copy_(kernels::copy_kernel(max_isa())), winograd_(winograd) {
    params = p;
    const Lifted lifted = lift3(p);
    for (int d = 0; d < 3; ++d) S_[d] = lifted.S[d];
    if (b.defined()) bias_ = b.contiguous();
    std::vector<std::vector<DimPhase>> dims(static_cast<std::size_t>(p.dim));
    int64_t count = 1;
    for (int64_t d = 0; d < p.dim; ++d) {
      const int64_t s = p.stride[static_cast<std::size_t>(d)];
      for (int64_t r = 0; r < s; ++r) dims[static_cast<std::size_t>(d)].push_back(dim_phase(p, d, r));
      count *= s;
    }
    const Tensor wc = w.contiguous();
    for (int64_t idx = 0; idx < count; ++idx) {
      Phase ph;
      for (int64_t d = p.dim - 1, rest = idx; d >= 0; --d) {
        const auto& list = dims[static_cast<std::size_t>(d)];
        ph.dims.insert(ph.dims.begin(), list[static_cast<std::size_t>(rest % static_cast<int64_t>(list.size()))]);
        rest /= static_cast<int64_t>(list.size());
      }
      bool positions = true, reads = true;
      for (const DimPhase& f : ph.dims) positions = positions && f.len > 0, reads = reads && !f.taps.empty() && f.in_len > 0;
      if (!positions) continue;  // no input position in this phase
      if (!reads) {              // its positions read no dY: they hold the bias or zero
        uncovered_ = true;
        continue;
      }
      make_phase_plan(ph, wc);
      place(ph);
      phases_.push_back(std::move(ph));
    }
    pair_column_phases();
  }

  void run(const Tensor& gy, Tensor& gx) const override {
    if (params.dtype == kFloat64) run_as<double>(gy, gx);
    else run_as<float>(gy, gx);
  }
  int64_t memory_bytes() const override {
    int64_t bytes = 0;
    for (const Phase& ph : phases_) bytes += ph.plan->memory_bytes();
    return bytes;
  }

 private:
  template <typename T>
  void run_as(const Tensor& gy, Tensor& gx) const {
    const ConvParams& p = params;
    const Lifted g = lift3(p);
    const int64_t plane = g.S[0] * g.S[1] * g.S[2], planes = p.N * p.C_in;
    T* dx = internal::mutable_data<T>(gx);
    if (uncovered_) {
      const T* bp = bias_.defined() ? bias_.const_data<T>() : nullptr;
      for (int64_t nc = 0; nc < planes; ++nc) fill(dx + nc * plane, plane, bp ? bp[nc % p.C_in] : T{});
    }
    // Every phase's result first, then each plane of dX written by all phases in turn while it
    // is in cache (phase by phase over the whole of dX, each pass filling a 1/stride share of
    // every line, streamed dX from memory once per phase: 3x slower on MobileNetV2's layer).
    std::vector<Tensor> ys;
    for (const Phase& ph : phases_) {
      Tensor view = gy;  // [N, C_out, *O] cropped to what the phase reads
      Shape shape{p.N, p.C_in};
      for (int64_t d = 0; d < p.dim; ++d) {
        const DimPhase& f = ph.dims[static_cast<std::size_t>(d)];
        view = view.slice(2 + d, f.in0, f.in0 + f.in_len);
        shape.push_back(f.len);
      }
      ys.push_back(Tensor::empty(shape, p.dtype));
      ph.plan->run(view, ys.back());
    }
    const int threads = threads_for(planes, static_cast<double>(planes * plane) * static_cast<double>(sizeof(T)));
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t nc = 0; nc < planes; ++nc)
      for (std::size_t i = 0; i < phases_.size(); ++i) {
        const Phase& a = phases_[i];
        const auto j = static_cast<std::size_t>(a.partner);
        if (a.partner < 0) scatter(a, ys[i].const_data<T>(), nc, dx);
        else if (a.first[2] < phases_[j].first[2]) interleave(a, ys[i].const_data<T>(), phases_[j], ys[j].const_data<T>(), nc, dx);
      }
  }

  struct Phase {
    std::vector<DimPhase> dims;
    std::unique_ptr<ConvPlan> plan;
    // Where its result goes in a plane of dX, lifted to 3 dims: len positions per dim, the first
    // at input index first, stride apart.
    int64_t len[3] = {1, 1, 1}, first[3] = {0, 0, 0}, st[3] = {1, 1, 1};
    // With column stride 2, the phase writing the other columns of the same rows (first
    // column one apart), if any: the pair is written together by interleave, called for the
    // one whose first column comes first; -1: none.
    int64_t partner = -1;
  };

  // Pairs the phases that split rows' columns two ways: first columns f and f + 1, the same
  // rows; f's phase has as many positions as f + 1's or one more.
  void pair_column_phases() {
    for (std::size_t i = 0; i < phases_.size(); ++i)
      for (std::size_t j = 0; j < phases_.size(); ++j) {
        Phase &a = phases_[i], &b = phases_[j];
        const bool rows = a.first[0] == b.first[0] && a.first[1] == b.first[1] && a.len[0] == b.len[0] &&
                          a.len[1] == b.len[1] && a.st[0] == b.st[0] && a.st[1] == b.st[1];
        const int64_t extra = a.len[2] - b.len[2];
        if (rows && a.st[2] == 2 && b.first[2] == a.first[2] + 1 && (extra == 0 || extra == 1) && a.partner < 0 &&
            b.partner < 0)
          a.partner = static_cast<int64_t>(j), b.partner = static_cast<int64_t>(i);
      }
  }

  // scatter for a pair (a's first column one before b's): each row's columns in one pass.
  template <typename T>
  void interleave(const Phase& a, const T* ya, const Phase& b, const T* yb, int64_t nc, T* dx) const {
    const int64_t* S = S_;
    const int64_t n = b.len[2];
    const T* fa = ya + nc * a.len[0] * a.len[1] * a.len[2];
    const T* fb = yb + nc * b.len[0] * b.len[1] * b.len[2];
    T* to = dx + nc * S[0] * S[1] * S[2];
    for (int64_t u = 0; u < a.len[0]; ++u)
      for (int64_t v = 0; v < a.len[1]; ++v) {
        T* row = to + ((a.first[0] + u * a.st[0]) * S[1] + a.first[1] + v * a.st[1]) * S[2] + a.first[2];
        const T* ra = fa + (u * a.len[1] + v) * a.len[2];
        interleave_row(ra, a.len[2], fb + (u * b.len[1] + v) * n, n, row);
      }
  }

  void place(Phase& ph) const {
    const ConvParams& p = params;
    for (int64_t d = 0; d < p.dim; ++d) {
      const DimPhase& f = ph.dims[static_cast<std::size_t>(d)];
      const auto ud = static_cast<std::size_t>(d);
      ph.len[3 - p.dim + d] = f.len;
      ph.first[3 - p.dim + d] = f.q0 * p.stride[ud] + f.r - p.pad_lo[ud];  // i of u = 0
      ph.st[3 - p.dim + d] = p.stride[ud];
    }
  }

  // The phase's forward: dY (channels C_out) in, its dX positions (channels C_in) out, weight
  // V[g][ci][co][j...] = W[g][co][ci][tap j...], stride 1.
  void make_phase_plan(Phase& ph, const Tensor& wc) const {
    const ConvParams& p = params;
    ConvParams f = p;
    f.direction = Direction::Forward;
    f.transposed = false;
    f.batched = true;
    std::swap(f.C_in, f.C_out);
    f.conv_mode = ConvMode::CrossCorrelation;
    f.has_bias = bias_.defined();
    for (int64_t d = 0; d < p.dim; ++d) {
      const auto ud = static_cast<std::size_t>(d);
      const DimPhase& dp = ph.dims[ud];
      f.in_size[ud] = dp.in_len, f.out_size[ud] = dp.len, f.kernel[ud] = static_cast<int64_t>(dp.taps.size());
      f.stride[ud] = 1, f.dilation[ud] = dp.dilation, f.pad_lo[ud] = dp.pad_lo, f.pad_hi[ud] = dp.pad_hi;
    }
    // Lifted tap lists (size-1 dims in front) and the stored weight's strides.
    std::vector<int64_t> tl[3] = {{0}, {0}, {0}};
    int64_t ks[3] = {1, 1, 1};
    for (int64_t d = 0; d < p.dim; ++d) {
      tl[3 - p.dim + d] = ph.dims[static_cast<std::size_t>(d)].taps;
      ks[3 - p.dim + d] = p.kernel[static_cast<std::size_t>(d)];
    }
    const int64_t taps = ks[0] * ks[1] * ks[2];
    const int64_t G = p.groups, M = p.c_out_per_group(), Ci = p.c_in_per_group();
    Tensor v = Tensor::empty(f.weight_shape(), p.dtype);
    visit_dtype(p.dtype, [&](auto tag) {
      using T = decltype(tag);
      const T* src = wc.const_data<T>();
      T* dst = internal::mutable_data<T>(v);
      for (int64_t gg = 0; gg < G; ++gg)
        for (int64_t ci = 0; ci < Ci; ++ci)
          for (int64_t co = 0; co < M; ++co) {
            const T* kern = src + ((gg * M + co) * Ci + ci) * taps;
            for (int64_t a : tl[0])
              for (int64_t b : tl[1])
                for (int64_t c : tl[2]) *dst++ = kern[(a * ks[1] + b) * ks[2] + c];
          }
    });
    // The weight was checked finite by make_backward_data_plan: no second scan.
    ph.plan = make_plan_for(f, v, bias_, select_algorithm(f, Algorithm::Auto, winograd_));
  }

  // Plane nc (image and channel) of the phase's result y [N, C_in, *len] to its positions of dx.
  template <typename T>
  void scatter(const Phase& ph, const T* y, int64_t nc, T* dx) const {
    const int64_t* S = S_;
    const T* from = y + nc * ph.len[0] * ph.len[1] * ph.len[2];
    T* to = dx + nc * S[0] * S[1] * S[2];
    for (int64_t a = 0; a < ph.len[0]; ++a)
      for (int64_t b = 0; b < ph.len[1]; ++b) {
        T* row = to + ((ph.first[0] + a * ph.st[0]) * S[1] + ph.first[1] + b * ph.st[1]) * S[2] + ph.first[2];
        scatter_row(from + (a * ph.len[1] + b) * ph.len[2], ph.len[2], row, ph.st[2]);
      }
  }

  // A row's elements: float32 on the copy kernels, float64 in plain loops.
  void scatter_row(const float* src, int64_t n, float* dst, int64_t st) const { copy_.scatter(src, n, dst, st); }
  static void scatter_row(const double* src, int64_t n, double* dst, int64_t st) {
    for (int64_t t = 0; t < n; ++t) dst[t * st] = src[t];
  }
  void interleave_row(const float* a, int64_t na, const float* b, int64_t nb, float* dst) const {
    copy_.interleave(a, na, b, nb, dst);
  }
  static void interleave_row(const double* a, int64_t na, const double* b, int64_t nb, double* dst) {
    for (int64_t t = 0; t < na; ++t) dst[2 * t] = a[t];
    for (int64_t t = 0; t < nb; ++t) dst[2 * t + 1] = b[t];
  }
  static void fill(float* p, int64_t n, float v) { fill_value(p, n, v); }
  static void fill(double* p, int64_t n, double v) { std::fill(p, p + n, v); }

  const kernels::CopyKernel& copy_;  // its scatter writes a phase's rows into every stride-th element, its
                                     // interleave a pair's
  bool winograd_;                    // whether the phases' forwards may take fast Winograd
  int64_t S_[3] = {1, 1, 1};         // the input's spatial sizes, lifted to 3 dims
  Tensor bias_;
  std::vector<Phase> phases_;
  bool uncovered_ = false;  // some positions read no dY (a kernel smaller than the stride)
};

}  // namespace

bool phases_serve_backward_data(const ConvParams& p) {
  // Zeros padding only (other modes fold padding back: col2im).
  if (p.padding_mode != PaddingMode::Zeros || !(engine_dtype(p.dtype) || p.dtype == kFloat64)) return false;
  // One phase per residue of every dim: a handful for real layers (4 for 2x2 stride 2), but
  // strides may be huge (a stride of 10^9 over a 4-element input); col2im handles those.
  constexpr int64_t kMaxPhases = 64;
  int64_t phases = 1;
  for (int64_t d = 0; d < p.dim; ++d) {
    const int64_t s = p.stride[static_cast<std::size_t>(d)];
    if (s > kMaxPhases || phases * s > kMaxPhases) return false;
    phases *= s;
  }
  // float64 has no col2im path: the phases serve all the others.
  if (p.dtype == kFloat64) return true;
  // Forwards with a handful of output channels (one input channel, as wav2vec2's first layer)
  // waste a GEMM's rows: col2im.
  if (p.c_in_per_group() < 16 && p.groups == 1) return false;
  // At most one tap per phase (K <= s / gcd(d, s) in every dim: a kernel no larger than the
  // stride, as 2x2 stride-2 up-convolutions and 1x1 stride-2 shortcuts): each phase is a
  // pointwise product. With more taps per phase, only phases of many positions: a phase's
  // product has a column per position, and below ~512 per image its column tiles and fixed
  // costs lose to col2im (measured, plans prepared once: ResNet-50 res3 3x3/2, 784 positions
  // per phase, 18% faster; wav2vec2 conv1, 1600, 14-20%; DCGAN's 4x4/2 on 8 x 8, 64, and
  // HiFi-GAN's 16/8 over 200, 17-30% slower; the seed Conv1d, 25, 10-30% slower).
  bool one_tap = true;
  double positions = 1;  // per phase and image
  for (int64_t d = 0; d < p.dim; ++d) {
    const auto ud = static_cast<std::size_t>(d);
    one_tap = one_tap && p.kernel[ud] <= p.stride[ud] / std::gcd(p.dilation[ud], p.stride[ud]);
    positions *= static_cast<double>(p.in_size[ud]) / static_cast<double>(p.stride[ud]);
  }
  return one_tap || positions >= 512;
}

std::unique_ptr<BackwardDataPlan> make_phases_backward_data_plan(const ConvParams& p, const Tensor& w,
                                                                 const Tensor& b, bool winograd) {
  return std::make_unique<PhasesBackwardDataPlan>(p, w, b, winograd);
}

}  // namespace convkit::internal
