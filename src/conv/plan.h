// ConvPlan: everything a convolution needs that does not depend on the input values —
// validated params, the chosen algorithm, packed (and flipped, for conv_mode=convolution)
// weights, and a workspace — made once; run() only computes.
#pragma once

#include <algorithm>
#include <memory>
#include <mutex>
#include <initializer_list>
#include <vector>

#include "conv/select.h"
#include "kernels/copy/copy.h"
#include "kernels/gemm/gemm.h"

namespace convkit::internal {

class ConvPlan {
 public:
  virtual ~ConvPlan() = default;
  /// x: [N, C_in, *S_in] with any strides; y: [N, C_out, *S_out] contiguous, preallocated.
  /// Safe to call from several threads at once (scratch comes per call from Workspace pools).
  virtual void run(const Tensor& x, Tensor& y) const = 0;
  /// Packed weights + workspace, in bytes.
  virtual int64_t memory_bytes() const = 0;
  /// Whether run() writes y channels-last ([N, C_out, H, W] with strides (H W C_out, 1,
  /// W C_out, C_out)) instead of contiguous: the plans made for channels-last input.
  virtual bool writes_channels_last() const { return false; }

  ConvParams params;
  AlgorithmChoice choice{Algorithm::Reference, ""};
};

/// A plan for BackwardData: gx[N, C_in, *S_in] (contiguous, preallocated) from
/// gy[N, C_out, *S_out] (any strides) and the weight it was made with, plus the bias it was
/// made with (a transposed layer's, over C_in) when params.has_bias. No conjugation.
class BackwardDataPlan {
 public:
  virtual ~BackwardDataPlan() = default;
  virtual void run(const Tensor& gy, Tensor& gx) const = 0;
  virtual int64_t memory_bytes() const = 0;
  /// Whether run_channels_last computes a channels-last gx from a channels-last gy (2-d) on
  /// channels-last data itself; else the caller converts.
  virtual bool serves_channels_last() const { return false; }
  virtual void run_channels_last(const Tensor&, Tensor&) const {
    CONVKIT_CHECK(false, "internal: run_channels_last on a plan that does not serve channels-last data");
  }

  ConvParams params;
  AlgorithmChoice choice{Algorithm::Reference, ""};
};

/// A plan for BackwardWeights: gw[C_out, C_in/groups, *K] (contiguous, preallocated) from
/// x[N, C_in, *S_in] and gy[N, C_out, *S_out] (any strides). No conjugation. The reduction
/// over N and S_out runs in an order that does not depend on the thread count.
class BackwardWeightsPlan {
 public:
  virtual ~BackwardWeightsPlan() = default;
  virtual void run(const Tensor& x, const Tensor& gy, Tensor& gw) const = 0;
  /// run, and with gb (not null) also gb[C_out] = the channel sums of gy (the bias gradient):
  /// here with channel_sums; plans that sum it from the loads of gy they make anyway override.
  virtual void run_with_bias(const Tensor& x, const Tensor& gy, Tensor& gw, Tensor* gb) const;
  virtual int64_t memory_bytes() const = 0;
  /// Whether run also takes a 2-d gw of channels-last memory and writes it directly (else the
  /// caller converts a contiguous one).
  virtual bool writes_channels_last() const { return false; }

  ConvParams params;
  AlgorithmChoice choice{Algorithm::Reference, ""};
};

/// Plans for the two gradient directions (p.direction must match); `forced` and `winograd`
/// (whether fast Winograd may serve the forwards an input gradient runs) as for make_plan.
std::unique_ptr<BackwardDataPlan> make_backward_data_plan(const ConvParams& p, const Tensor& w, const Tensor& b,
                                                          Algorithm forced, bool winograd);
std::unique_ptr<BackwardWeightsPlan> make_backward_weights_plan(const ConvParams& p, Algorithm forced);
// Their gemm factories (gemm_backward.cc).
std::unique_ptr<BackwardDataPlan> make_gemm_backward_data_plan(const ConvParams& p, const Tensor& w, const Tensor& b,
                                                              bool winograd);
std::unique_ptr<BackwardWeightsPlan> make_gemm_backward_weights_plan(const ConvParams& p);
/// Whether a float32 weight gradient (one the channels-last form does not take) runs with x's
/// rows read in place: a pointwise layer's x itself, or per tap a padded, stride-phase-split
/// copy (in_place_weights.cc); and that plan.
bool in_place_weights_serve(const ConvParams& p);
std::unique_ptr<BackwardWeightsPlan> make_in_place_weights_plan(const ConvParams& p);
/// Whether a strided backward_data runs as stride-1 forwards per input phase
/// (phases_backward.cc) rather than col2im, and that plan.
bool phases_serve_backward_data(const ConvParams& p);
/// p with zeros padding over the padded region its outputs read, as its input (folded_backward.cc).
ConvParams valid_over_padding(const ConvParams& p);
/// Whether backward_data of p (float64 with reflect, replicate or circular padding) runs as the
/// valid layer's over the padded region, folded back onto the input.
bool folded_backward_data_serves(const ConvParams& p);
std::unique_ptr<BackwardDataPlan> make_folded_backward_data_plan(const ConvParams& p, const Tensor& w, bool winograd);
/// Whether the depthwise input gradient writes each input row once from the dY rows its taps
/// read (column stride 2, zeros padding, one input and one output channel per group), rather
/// than phases or axpys (depthwise_backward.cc).
bool depthwise_rows_serve_backward_data(const ConvParams& p);
std::unique_ptr<BackwardDataPlan> make_phases_backward_data_plan(const ConvParams& p, const Tensor& w,
                                                                 const Tensor& b, bool winograd);
/// Whether backward_weights runs per tap on a channels-last copy of the input
/// (channels_last_weights.cc) rather than on im2col, and that plan: layers with at least
/// channels_last_weights_min_channels() input channels per group (32, or what the setter set;
/// tests force each form with 0 and INT64_MAX, -1 restores).
bool channels_last_serves_weights(const ConvParams& p);
std::unique_ptr<BackwardWeightsPlan> make_channels_last_weights_plan(const ConvParams& p);
int64_t channels_last_weights_min_channels();
void set_channels_last_weights_min_channels(int64_t c);
/// The bytes a piece of that plan's copies (and its products, for pieces in parallel) may
/// take: half the L2 the CPU reports, or what the setter set (tests pin it, so that the
/// piece layouts they cover do not depend on the machine; -1 restores).
int64_t channels_last_piece_bytes();
void set_channels_last_piece_bytes(int64_t bytes);
// The direct ones for few channels per group (depthwise_backward.cc).
std::unique_ptr<BackwardDataPlan> make_depthwise_backward_data_plan(const ConvParams& p, const Tensor& w,
                                                                    const Tensor& b);
std::unique_ptr<BackwardWeightsPlan> make_depthwise_backward_weights_plan(const ConvParams& p);

/// Whether the 3 x 3 window kernels (kernels/dwconv/row_taps_avx512.h) can read a layer's input
/// planes in place: 3 x 3 taps over one plane (a 2-d layer, or a 3-d one whose single input and
/// output planes take no depth padding), no dilation, columns stepping by 1 or 2 with at most
/// one padding column before the input, no negative padding, zeros padding. Each depthwise path
/// adds its own needs (a kernel for the ISA, the dtype, the stride its kernel takes).
bool window3x3_reads_in_place(const ConvParams& p);

/// p[0 .. n) = v, at memset / memcpy speed (the plain loop stays scalar at -O2, and was an
/// eighth of a small layer's input gradient).
void fill_value(float* p, int64_t n, float v);

/// out[C] = the sum of t[N, C, *S] over every dim but C (a bias gradient), in a fixed order.
void channel_sums(const Tensor& t, Tensor& out);
/// Per group g < G: d[g] = s[g]^T, s [G][R][M] to d [G][M][R] (the weight gradients that
/// compute dW^T), 16 rows at a time through the transpose kernel.
void transpose_groups(const float* s, int64_t G, int64_t R, int64_t M, float* d);

/// A fast path that is exact only on finite inputs: Winograd's transforms add and subtract a
/// whole tile, so one inf or NaN would make every output of its tiles NaN. It checks the input
/// values it reads (with the scan kernel, while they are in cache) and reports them.
class FiniteInputPlan {
 public:
  virtual ~FiniteInputPlan() = default;
  /// Computes y and returns true; or returns false, y unspecified, when x holds an inf or NaN
  /// that some output reads. Thread-safe like ConvPlan::run.
  virtual bool run_if_finite(const Tensor& x, Tensor& y) const = 0;
  virtual int64_t memory_bytes() const = 0;

  ConvParams params;
};

/// The plan for a FiniteInputPlan: calls whose input holds inf or NaN run on a gemm plan, which
/// puts them where the reference does. That plan is made on the first such call from w and b,
/// which it keeps (sharing their memory when w is contiguous): like the module's plan cache,
/// it assumes they are not written while the plan lives (a module makes a new plan when they
/// change).
std::unique_ptr<ConvPlan> exact_on_nonfinite(std::unique_ptr<FiniteInputPlan> fast, const Tensor& w, const Tensor& b);

/// The depthwise path keeps its tap pointers on the stack, so it takes kernels up to this size.
inline constexpr int64_t kDepthwiseMaxTaps = 1024;

/// Validates the choice, packs w (canonical layout) and b ((C_out) or undefined). `winograd`:
/// whether Auto may pick Winograd (callers pass allow_fast_winograd(), read once).
/// `channels_last`: the input will be channels-last (is_channels_last, core/storage.h), so a GEMM forward runs
/// on channels-last positions where channels_last_conv_serves (writes_channels_last).
std::unique_ptr<ConvPlan> make_plan(const ConvParams& p, const Tensor& w, const Tensor& b, Algorithm forced,
                                    bool winograd, bool channels_last = false);

/// Whether a channels-last plan serves the layer on algorithm a (the one chosen for it).
bool channels_last_serves(const ConvParams& p, Algorithm a);
/// The plan for channels-last input that make_plan makes for `choice` (a channels-last plan
/// serves the layer on that algorithm), else null.
std::unique_ptr<ConvPlan> make_channels_last_plan_for(const ConvParams& p, const Tensor& w, const Tensor& b,
                                                      AlgorithmChoice choice);
/// Whether make_plan with channels_last makes a different plan than without (the channels-last
/// forward) for this layer, weights and choice.
bool channels_last_plan_differs(const ConvParams& p, const Tensor& w, const Tensor& b, Algorithm forced, bool winograd);
/// The least channels per group the channels-last forward takes: with fewer, its transposes
/// move a few elements per call (ResNet-50's first layer, 3), and the planar path serves.
inline constexpr int64_t kChannelsLastMinChannels = 16;
/// Whether the channels-last forward (channels_last_conv.cc) serves a layer: a float32 2-d
/// forward with at least kChannelsLastMinChannels channels per group.
bool channels_last_conv_serves(const ConvParams& p);
std::unique_ptr<ConvPlan> make_channels_last_conv_plan(const ConvParams& p, const Tensor& w, const Tensor& b);
/// Whether the channels-last depthwise forward (channels_last_depthwise.cc) serves a layer: a
/// float32 2-d depthwise layer (multiplier 1) with zero padding.
bool channels_last_depthwise_serves(const ConvParams& p);
std::unique_ptr<ConvPlan> make_channels_last_depthwise_plan(const ConvParams& p, const Tensor& w, const Tensor& b);

/// make_plan after its choice: the plan of that algorithm, for a weight and bias already known
/// finite (or a choice of Reference).
std::unique_ptr<ConvPlan> make_plan_for(const ConvParams& p, const Tensor& w, const Tensor& b,
                                        const AlgorithmChoice& choice);
// The algorithm-specific factories make_plan dispatches to.
/// A weight [C_out, C_in/g, *K] as packers read it: tap t (the kernel dims flattened) of
/// (co, ci) at data + co * s_co + ci * s_ci + t * s_t. The tensor itself when its kernel dims
/// step through the taps with one stride, whatever its channel strides (the contiguous weight,
/// or the channel-swapped view a backward_data runs as a forward); else a contiguous copy.
struct WeightView {
  Tensor w;
  int64_t s_co = 0, s_ci = 0, s_t = 1;
  const float* data() const { return w.const_data<float>(); }
};
WeightView weight_view(const Tensor& w);
std::unique_ptr<ConvPlan> make_gemm_plan(const ConvParams& p, const Tensor& w, const Tensor& b);
/// The A-columns kernel when the gemm plan computes p in columns mode (per output row, positions
/// as rows read in place, W^T pre-packed, C stored transposed), else null.
const kernels::GemmKernel* gemm_columns_kernel(const ConvParams& p);
/// The gemm path's column block (output positions per task).
inline constexpr int64_t kGemmNC = 192;
/// For pointwise layers whose transposed GEMM (rows: positions, vectors: output channels) pads
/// clearly less than the plain one, its kernel; else null. make_gemm_plan then makes:
const kernels::GemmKernel* pointwise_transposed_kernel(const ConvParams& p);
std::unique_ptr<ConvPlan> make_pointwise_t_plan(const ConvParams& p, const Tensor& w, const Tensor& b,
                                                const kernels::GemmKernel& k);
std::unique_ptr<ConvPlan> make_depthwise_plan(const ConvParams& p, const Tensor& w, const Tensor& b);
/// Whether a bfloat16 forward's gemm runs on the bfloat16 pair kernels (the AMX tiles are
/// there and allowed, and the padded input copy it makes is not oversized), and that plan
/// (bf16_gemm.cc; weight and bias given as float32).
bool bf16_pairs_serve(const ConvParams& p);
std::unique_ptr<ConvPlan> make_bf16_gemm_plan(const ConvParams& p, const Tensor& w32, const Tensor& b32);
/// The same for a bfloat16 weight gradient (bf16_weights.cc).
bool bf16_pairs_serve_weights(const ConvParams& p);
std::unique_ptr<BackwardWeightsPlan> make_bf16_weights_plan(const ConvParams& p);
/// The float64 forward gemm plan (f64_gemm.cc; needs padded_copy_fits(p)).
std::unique_ptr<ConvPlan> make_f64_gemm_plan(const ConvParams& p, const Tensor& w, const Tensor& b);
/// The float64 weight gradient gemm plan (f64_gemm.cc; needs padded_copy_fits(p)).
std::unique_ptr<BackwardWeightsPlan> make_f64_weights_plan(const ConvParams& p);
/// The float64 weight gradient of few channels per group, as dot products (f64_gemm.cc; needs
/// padded_copy_fits(p)).
std::unique_ptr<BackwardWeightsPlan> make_f64_direct_weights_plan(const ConvParams& p);
std::unique_ptr<ConvPlan> make_winograd_plan(const ConvParams& p, const Tensor& w, const Tensor& b);    // 2-d
std::unique_ptr<ConvPlan> make_winograd1d_plan(const ConvParams& p, const Tensor& w, const Tensor& b);  // 1-d

/// ceil(num / den) for num >= 0 and den >= 1, without overflow for any den (strides and
/// dilations may come near 2^63).
inline int64_t ceil_div(int64_t num, int64_t den) { return num / den + (num % den != 0); }

/// The depth of the K blocks of every GEMM (gemm, Winograd, pointwise): about 128, balanced —
/// a short last block (ResNet-50's first layer, Kd = 147 = 128 + 19) would reload and store
/// every C tile for a few k steps; up to 160 is one block. The KC x NR slice of B a
/// microkernel sweeps stays in L1 next to its A panel.
inline constexpr int64_t kMaxKc = 160;  // the deepest K block gemm_k_block makes
inline int64_t gemm_k_block(int64_t Kd) {
  constexpr int64_t kKC = 128;
  static_assert(kKC * 5 / 4 == kMaxKc);
  return Kd <= kMaxKc ? (Kd > 1 ? Kd : 1) : ceil_div(Kd, ceil_div(Kd, kKC));
}

/// Maps a coordinate of the padded input (already shifted by -pad_lo) to the input index it
/// reads, or -1 for a zero (shared by the reference and the packers).
inline int64_t source_index(int64_t i, int64_t S, PaddingMode mode) {
  if (i >= 0 && i < S) return i;
  switch (mode) {
    case PaddingMode::Zeros: return -1;
    case PaddingMode::Reflect: return i < 0 ? -i : 2 * (S - 1) - i;
    case PaddingMode::Replicate: return i < 0 ? 0 : S - 1;
    case PaddingMode::Circular: return ((i % S) + S) % S;
  }
  return -1;
}

/// Whether a per-channel copy of the padded input region the outputs read (per dim
/// (O - 1) * stride + (K - 1) * dilation + 1) stays within a few times the input and output
/// planes: huge paddings and dilations with small outputs would otherwise make the direct and
/// tap-mode paths allocate (or overflow while sizing) far more than the tensors themselves.
bool padded_copy_fits(const ConvParams& p);
/// Whether some output's window reads padding (in any dim, a window starts before the input
/// or ends past it).
bool windows_read_padding(const ConvParams& p);
/// Whether the windows read zero padding (zeros mode and windows_read_padding).
bool zero_padding_is_read(const ConvParams& p);
/// For the weight-gradient paths that materialize zero padding: whether it meets an inf or
/// NaN of dy (every dY of a border output multiplies it, and 0 * inf = NaN where the reference
/// adds no term). Such calls take a path that adds no term there either.
bool zero_padding_meets_nonfinite(const ConvParams& p, const Tensor& dy);
/// The weight gradient of those calls: when zero_padding_meets_nonfinite(p, dy), the reference's
/// into gw and true; else false (the fast path runs).
bool reference_weights_if_nonfinite(const ConvParams& p, const Tensor& x, const Tensor& dy, Tensor& gw);
/// The largest source (one image and group's padded input, bytes) the gemm path reads taps
/// in place from when it has more than 128 output channels: half the L2 the CPU reports, or
/// what set_tap_source_limit set (tests force each path with 0 and INT64_MAX; -1 restores).
int64_t tap_source_limit();
void set_tap_source_limit(int64_t bytes);

/// Phase `ph` of a padded row read with column stride s: padded columns ph + s * i for
/// i < len (the row has Wp padded columns; column c reads input column c - lo). Elements
/// [i0, i1) read the input directly (W columns); the rest are padding. Computed once per plan:
/// the divisions stay out of the per-row copy.
struct PaddedPhase {
  int64_t ph, len, i0, i1;
};
PaddedPhase padded_phase(int64_t ph, int64_t s, int64_t lo, int64_t W, int64_t Wp);
/// The phases the K taps of a kernel row read (column k * d of a window, stride s): the distinct
/// ones in order of first use go to phases, and the result gives each tap's index there.
std::vector<int64_t> tap_phases(int64_t K, int64_t d, int64_t s, int64_t lo, int64_t W, int64_t Wp,
                                std::vector<PaddedPhase>& phases);

/// dst[i] = element i of phase f of the padded row over `row` (W input columns, xsw apart;
/// nullptr: a zero row), padding of `mode`; the in-range run is one call of
/// inside(src, step, n, dst) (dst[t] = src[t * step] for t < n). dst is a place in a plan's
/// zeroed scratch that holds this row and phase on every call: with zero padding its padding
/// positions already hold zeros and are not rewritten — only the in-range run is written.
template <typename T, typename Inside>
void fill_phase(const T* row, int64_t xsw, int64_t W, int64_t lo, int64_t s, const PaddedPhase& f, PaddingMode mode,
                Inside inside, T* dst) {
  const bool zeros_kept = mode == PaddingMode::Zeros;
  if (row == nullptr) {
    if (!zeros_kept) std::fill(dst, dst + f.len, T{});
    return;
  }
  auto edge = [&](int64_t i) {
    const int64_t iw = source_index(f.ph + s * i - lo, W, mode);
    dst[i] = iw < 0 ? T{} : row[iw * xsw];
  };
  if (!zeros_kept)
    for (int64_t i = 0; i < f.i0; ++i) edge(i);
  // (Only with an in-range run is its first element's pointer formed; two in-range elements
  // mean s * xsw, their distance in the input, fits.)
  if (f.i1 > f.i0) inside(row + (f.ph + s * f.i0 - lo) * xsw, f.i1 - f.i0 > 1 ? s * xsw : 1, f.i1 - f.i0, dst + f.i0);
  if (!zeros_kept)
    for (int64_t i = f.i1; i < f.len; ++i) edge(i);
}

/// fill_phase for float32 rows, the in-range run by the copy kernel's strided gather.
void fill_padded_phase(const float* row, int64_t xsw, int64_t W, int64_t lo, int64_t s, const PaddedPhase& f,
                       PaddingMode mode, const kernels::CopyKernel& copy, float* dst);

/// Threads worth using for `tasks` independent pieces of `flops` total work: small problems run
/// on one thread, where waking others would cost more than it saves.
int threads_for(int64_t tasks, double flops);

/// A plan's per-thread scratch: 64-byte-aligned float buffers, zero when allocated.
/// run() is const and may run on several threads at once, so each call leases a set of
/// per-thread buffers from the plan's pool before its parallel region (allocating only when
/// every set is in use or too small) and gives it back when the lease ends; inside the region
/// get() only returns pointers. A set serves only its own plan, in the same layout on every
/// call, so a path that keeps zeros at fixed places of its scratch (fill_padded_phase) finds
/// them there again.
class Workspace {
 public:
  using Set = std::vector<Tensor>;
  class Lease {
   public:
    Lease(const Workspace& pool, std::unique_ptr<Set> set) : pool_(&pool), set_(std::move(set)) {}
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { pool_->give_back(std::move(set_)); }
    float* get(int thread) const { return static_cast<float*>(mutable_data_ptr((*set_)[static_cast<std::size_t>(thread)])); }

   private:
    const Workspace* pool_;
    std::unique_ptr<Set> set_;
  };

  Workspace() = default;
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  /// Buffers for threads 0 .. threads - 1 of at least floats_each floats each.
  Lease lease(int threads, int64_t floats_each) const;
  /// Every set's bytes, leased or not.
  int64_t bytes() const;

 private:
  void give_back(std::unique_ptr<Set> set) const noexcept;
  mutable std::mutex mu_;
  mutable std::vector<std::unique_ptr<Set>> free_;
  mutable int64_t bytes_ = 0;
};

/// One call's scratch from a Workspace (its thread-0 buffer), cut into parts of the given
/// element counts of T, each starting on a whole cache line.
template <typename T>
class ScratchParts {
 public:
  ScratchParts(const Workspace& ws, std::initializer_list<int64_t> counts) : lease_(ws.lease(1, floats(counts))) {
    T* p = reinterpret_cast<T*>(lease_.get(0));
    for (int64_t c : counts) at_.push_back(p), p += line(c);
  }
  T* operator[](std::size_t i) const { return at_[i]; }

 private:
  static constexpr int64_t kLine = 64 / static_cast<int64_t>(sizeof(T));
  static int64_t line(int64_t c) { return (c + kLine - 1) / kLine * kLine; }
  static int64_t floats(std::initializer_list<int64_t> counts) {
    int64_t t = 0;
    for (int64_t c : counts) t += line(c);
    return t * static_cast<int64_t>(sizeof(T) / sizeof(float));
  }
  Workspace::Lease lease_;
  std::vector<T*> at_;
};

}  // namespace convkit::internal
