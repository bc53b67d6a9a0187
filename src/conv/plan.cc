#include "conv/plan.h"

#include "conv/complex_plans.h"
#include "conv/half_precision.h"
#include "conv/reference.h"
#include "core/finite.h"
#include "core/storage.h"
#include "cpu/cache.h"
#include "kernels/blas1/blas1.h"
#include "kernels/transpose/transpose.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <atomic>
#include <vector>

#include "convkit/threads.h"

namespace convkit::internal {

Workspace::Lease Workspace::lease(int threads, int64_t floats_each) const {
  std::unique_ptr<Set> set;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!free_.empty()) {
      set = std::move(free_.back());
      free_.pop_back();
    }
  }
  if (!set) set = std::make_unique<Set>();
  int64_t grown = 0;
  if (static_cast<int>(set->size()) < threads) set->resize(static_cast<std::size_t>(threads));
  for (auto& t : *set)
    if (!t.defined() || t.numel() < floats_each) {
      grown -= t.defined() ? t.numel() * 4 : 0;
      t = Tensor::zeros({std::max<int64_t>(floats_each, 1)}, kFloat32);
      grown += t.numel() * 4;
    }
  if (grown != 0) {
    std::lock_guard<std::mutex> lock(mu_);
    bytes_ += grown;
  }
  return Lease(*this, std::move(set));
}

void Workspace::give_back(std::unique_ptr<Set> set) const noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  try {
    free_.push_back(std::move(set));
  } catch (...) {  // no room to keep it: the set is freed
    int64_t b = 0;
    for (const auto& t : *set) b += t.defined() ? t.numel() * 4 : 0;
    bytes_ -= b;
  }
}

int64_t Workspace::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}

bool window3x3_reads_in_place(const ConvParams& p) {
  const Lifted g = lift3(p);
  return p.padding_mode == PaddingMode::Zeros && g.K[0] == 1 && g.S[0] == 1 && g.O[0] == 1 && g.lo[0] == 0 &&
         g.K[1] == 3 && g.K[2] == 3 && g.dl[1] == 1 && g.dl[2] == 1 && g.st[2] <= 2 && g.lo[1] >= 0 && g.lo[2] >= 0 &&
         g.lo[2] <= 1;
}

bool padded_copy_fits(const ConvParams& p) {
  // In double: the extents may be near 2^63 and their product far beyond. Per image, over
  // every channel: a slack per channel would let 20000 channels of 60001 padded positions
  // (4.8 GB) through for an input of 80 KB.
  double padded = 1, in = 1, out = 1;
  for (int64_t i = 0; i < p.dim; ++i) {
    const auto d = static_cast<std::size_t>(i);
    padded *= static_cast<double>(p.out_size[d] - 1) * static_cast<double>(p.stride[d]) +
              static_cast<double>(p.kernel[d] - 1) * static_cast<double>(p.dilation[d]) + 1;
    in *= static_cast<double>(p.in_size[d]);
    out *= static_cast<double>(p.out_size[d]);
  }
  const double cin = static_cast<double>(p.C_in), cout = static_cast<double>(p.C_out);
  return padded * cin <= 4 * (in * cin + out * cout) + 65536.0 * 16;
}

bool windows_read_padding(const ConvParams& p) {
  const Lifted g = lift3(p);
  bool reads = false;
  for (int d = 0; d < 3; ++d) {
    const int64_t extent = g.read_extent(d);
    reads = reads || g.lo[d] > 0 || extent - g.lo[d] > g.S[d];
  }
  return reads;
}

bool zero_padding_is_read(const ConvParams& p) {
  return p.padding_mode == PaddingMode::Zeros && windows_read_padding(p);
}

bool zero_padding_meets_nonfinite(const ConvParams& p, const Tensor& dy) {
  return zero_padding_is_read(p) && !all_finite(dy);
}

bool reference_weights_if_nonfinite(const ConvParams& p, const Tensor& x, const Tensor& dy, Tensor& gw) {
  if (!zero_padding_meets_nonfinite(p, dy)) return false;
  reference_backward_weights(p, x, dy, gw);
  return true;
}

PaddedPhase padded_phase(int64_t ph, int64_t s, int64_t lo, int64_t W, int64_t Wp) {
  // Ceilings without overflow for any s; columns ph + s * i >= c from i = first_at_or_after(c).
  auto first_at_or_after = [&](int64_t c) { return c <= ph ? 0 : ceil_div(c - ph, s); };
  const int64_t len = Wp > ph ? ceil_div(Wp - ph, s) : 0;
  const int64_t i0 = std::min(len, first_at_or_after(lo));
  return {ph, len, i0, std::max(i0, std::min(len, first_at_or_after(lo + W)))};
}

std::vector<int64_t> tap_phases(int64_t K, int64_t d, int64_t s, int64_t lo, int64_t W, int64_t Wp,
                                std::vector<PaddedPhase>& phases) {
  std::vector<int64_t> phase_of(static_cast<std::size_t>(K));
  for (int64_t k = 0; k < K; ++k) {
    const int64_t ph = k * d % s;
    auto it = std::find_if(phases.begin(), phases.end(), [&](const PaddedPhase& f) { return f.ph == ph; });
    phase_of[static_cast<std::size_t>(k)] = it - phases.begin();
    if (it == phases.end()) phases.push_back(padded_phase(ph, s, lo, W, Wp));
  }
  return phase_of;
}

void fill_padded_phase(const float* row, int64_t xsw, int64_t W, int64_t lo, int64_t s, const PaddedPhase& f,
                       PaddingMode mode, const kernels::CopyKernel& copy, float* dst) {
  // (Rows are short: the kernel's inline vector copy beats a call to memcpy.)
  fill_phase(row, xsw, W, lo, s, f, mode,
             [&](const float* src, int64_t step, int64_t n, float* to) { copy.fn(src, step, n, to); }, dst);
}

namespace {
std::atomic<int64_t> g_tap_source_limit{-1};
}  // namespace

int64_t tap_source_limit() {
  const int64_t set = g_tap_source_limit.load();
  return set >= 0 ? set : cache_sizes().l2 / 2;
}
void set_tap_source_limit(int64_t bytes) { g_tap_source_limit.store(bytes); }

int threads_for(int64_t tasks, double flops) {
  // A thread gets at least ~4e5 flops (a few us of one core, still above OpenMP's cost of
  // waking a thread): the 1.5 MFLOP seed Conv1d runs ~25% faster on 2 threads than on 1
  // (measured; 1e6 kept it on one).
  constexpr double kMinFlopsPerThread = 4e5;
  const auto by_work = static_cast<int64_t>(flops / kMinFlopsPerThread);
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>({get_num_threads(), tasks, by_work})));
}

namespace {

// The oracle as a plan: it keeps the (contiguous) weight and bias and runs the plain loops.
class ReferencePlan : public ConvPlan {
 public:
  ReferencePlan(const Tensor& w, const Tensor& b) : w_(w.contiguous()), b_(b) {}
  void run(const Tensor& x, Tensor& y) const override { reference_conv(params, x, w_, b_, y); }
  int64_t memory_bytes() const override { return 0; }

 private:
  Tensor w_, b_;
};

// A FiniteInputPlan in front, and for calls it reports as holding inf or NaN a gemm plan made
// on the first such call (under a lock; later calls find it through the atomic pointer).
class ExactOnNonFinitePlan : public ConvPlan {
 public:
  ExactOnNonFinitePlan(std::unique_ptr<FiniteInputPlan> fast, const Tensor& w, const Tensor& b)
      : fast_(std::move(fast)), w_(w), b_(b) {}
  void run(const Tensor& x, Tensor& y) const override {
    if (fast_->run_if_finite(x, y)) return;
    const ConvPlan* exact = exact_ptr_.load(std::memory_order_acquire);
    if (!exact) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!exact_) {
        auto e = make_gemm_plan(params, w_, b_);
        e->params = params;
        e->choice = {Algorithm::Gemm, "the input holds inf or NaN"};
        exact_ = std::move(e);
        exact_ptr_.store(exact_.get(), std::memory_order_release);
      }
      exact = exact_.get();
    }
    exact->run(x, y);
  }
  int64_t memory_bytes() const override {
    const ConvPlan* exact = exact_ptr_.load(std::memory_order_acquire);
    return fast_->memory_bytes() + (exact ? exact->memory_bytes() : 0);
  }

 private:
  std::unique_ptr<FiniteInputPlan> fast_;
  Tensor w_, b_;
  mutable std::mutex mu_;  // guards making exact_
  mutable std::unique_ptr<ConvPlan> exact_;
  mutable std::atomic<const ConvPlan*> exact_ptr_{nullptr};  // exact_, once made
};

// complex64 (and complex128 forwards) run as a real layer unless the reference is asked for (or there is
// nothing to compute); that layer's plans choose their algorithms.
bool complex_runs_real(const ConvParams& p, Algorithm forced) {
  return complex_on_engine(p) && forced != Algorithm::Reference && checked_numel(p.output_shape()) != 0;
}

class ReferenceBackwardDataPlan : public BackwardDataPlan {
 public:
  ReferenceBackwardDataPlan(const Tensor& w, const Tensor& b) : w_(w.contiguous()), b_(b) {}
  void run(const Tensor& gy, Tensor& gx) const override { reference_backward_data(params, gy, w_, b_, gx); }
  int64_t memory_bytes() const override { return 0; }

 private:
  Tensor w_, b_;
};

class ReferenceBackwardWeightsPlan : public BackwardWeightsPlan {
 public:
  void run(const Tensor& x, const Tensor& gy, Tensor& gw) const override {
    reference_backward_weights(params, x, gy, gw);
  }
  int64_t memory_bytes() const override { return 0; }
};

}  // namespace

std::unique_ptr<BackwardDataPlan> make_backward_data_plan(const ConvParams& p, const Tensor& w, const Tensor& b,
                                                          Algorithm forced, bool winograd) {
  if (complex_runs_real(p, forced)) {
    if (auto plan = make_complex_backward_data_plan(p, w, b, forced, winograd)) return plan;
    forced = Algorithm::Reference;  // a weight or bias holding inf or NaN, as for float32
  }
  AlgorithmChoice choice = select_algorithm(p, forced);
  if (checked_numel(p.output_shape()) == 0) choice = {Algorithm::Reference, "empty: nothing to compute"};
  // As forward: fast paths multiply zeros by every weight (inf * 0 is NaN); the reference
  // skips them. (16-bit data runs on the float32 plan: the values converted.)
  const bool half = computes_in_float32(p.dtype);
  const Tensor w32 = half && choice.algorithm != Algorithm::Reference ? to_float32(w) : w;
  const Tensor b32 = half && choice.algorithm != Algorithm::Reference ? to_float32(b) : b;
  if (choice.algorithm != Algorithm::Reference && (!all_finite(w) || !all_finite(b)))
    choice = {Algorithm::Reference, "the weight or bias holds inf or NaN"};
  log_choice(p, choice);
  // A stride-1 input gradient is a forward convolution (backward_data_is_forward): float64
  // runs it on its forward kernels, bfloat16 on the AMX tiles where the CPU has them. Other
  // 16-bit cases run the float32 plan of the layer between conversions.
  const bool as_forward = choice.algorithm == Algorithm::Gemm && backward_data_is_forward(p) &&
                          (p.dtype == kFloat64 || (p.dtype == kBFloat16 && max_isa() >= Isa::Amx));
  const bool wrap = half && choice.algorithm != Algorithm::Reference && !as_forward;
  const ConvParams q = wrap ? float32_params(p) : p;
  std::unique_ptr<BackwardDataPlan> plan;
  if (choice.algorithm == Algorithm::Gemm) plan = make_gemm_backward_data_plan(q, w32, b32, winograd);
  else if (choice.algorithm == Algorithm::Depthwise) plan = make_depthwise_backward_data_plan(q, w32, b32);
  else plan = std::make_unique<ReferenceBackwardDataPlan>(w, b);
  if (wrap) {
    plan->params = q;
    plan->choice = choice;
    plan = wrap_half(std::move(plan));
  }
  plan->params = p;
  plan->choice = choice;
  return plan;
}

std::unique_ptr<BackwardWeightsPlan> make_backward_weights_plan(const ConvParams& p, Algorithm forced) {
  if (complex_runs_real(p, forced)) return make_complex_backward_weights_plan(p, forced);
  AlgorithmChoice choice = select_algorithm(p, forced);
  if (checked_numel(p.output_shape()) == 0) choice = {Algorithm::Reference, "empty: nothing to compute"};
  log_choice(p, choice);
  // bfloat16 on the AMX tiles where the CPU has them; other 16-bit cases on the float32 plan.
  const bool amx = choice.algorithm == Algorithm::Gemm && bf16_pairs_serve_weights(p);
  const bool half = computes_in_float32(p.dtype) && choice.algorithm != Algorithm::Reference && !amx;
  const ConvParams q = half ? float32_params(p) : p;
  std::unique_ptr<BackwardWeightsPlan> plan;
  if (amx) plan = make_bf16_weights_plan(p);
  else if (choice.algorithm == Algorithm::Gemm && p.dtype == kFloat64) plan = make_f64_weights_plan(p);
  else if (choice.algorithm == Algorithm::Gemm) plan = make_gemm_backward_weights_plan(q);
  else if (choice.algorithm == Algorithm::Depthwise && p.dtype == kFloat64) plan = make_f64_direct_weights_plan(p);
  else if (choice.algorithm == Algorithm::Depthwise) plan = make_depthwise_backward_weights_plan(q);
  else plan = std::make_unique<ReferenceBackwardWeightsPlan>();
  if (half) {
    plan->params = q;
    plan->choice = choice;
    plan = wrap_half(std::move(plan));
  }
  plan->params = p;
  plan->choice = choice;
  return plan;
}

void fill_value(float* p, int64_t n, float v) {
  if (v == 0.0f && !std::signbit(v)) {
    std::memset(p, 0, static_cast<std::size_t>(std::max<int64_t>(n, 0)) * sizeof(float));
    return;
  }
  const int64_t head = std::min<int64_t>(n, 64);
  for (int64_t i = 0; i < head; ++i) p[i] = v;
  for (int64_t done = head; done < n;) {  // doubling copies of what is filled
    const int64_t c = std::min(done, n - done);
    std::memcpy(p + done, p, static_cast<std::size_t>(c) * sizeof(float));
    done += c;
  }
}

void BackwardWeightsPlan::run_with_bias(const Tensor& x, const Tensor& gy, Tensor& gw, Tensor* gb) const {
  run(x, gy, gw);
  if (gb != nullptr) channel_sums(gy, *gb);
}

void channel_sums(const Tensor& t, Tensor& out) {
  if (t.dtype() != kFloat32 || !t.is_contiguous() || t.numel() == 0) {
    reference_channel_sums(t, out);
    return;
  }
  // [N, C, plane]: per channel, the rows of its N images as one dot product with ones, in
  // pieces of at most kPiece columns (lane-wise float32 sums: an order fixed by the shape, so
  // the same bits for any thread count). One thread per channel.
  constexpr int64_t kPiece = 4096;
  const int64_t N = t.size(0), C = t.size(1), plane = t.numel() / (N * C), piece = std::min(plane, kPiece);
  const std::vector<float> ones(static_cast<std::size_t>(piece), 1.0f);
  const kernels::Blas1Kernel& k = kernels::blas1_kernel(max_isa());
  const float* tp = t.const_data<float>();
  float* op = internal::mutable_data<float>(out);
  // (Weighted as memory-bound work: MobileNetV2's 451K-element gradient took 25 us on one
  // thread while the other waited.)
  const int threads = threads_for(C, static_cast<double>(t.numel()) * 8);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
  for (int64_t c = 0; c < C; ++c) {
    float s = 0.0f;
    for (int64_t i0 = 0; i0 < plane; i0 += piece)
      s += k.dot(tp + c * plane + i0, C * plane, ones.data(), 0, 1, std::min(piece, plane - i0), N);
    op[c] = s;
  }
}

void transpose_groups(const float* s, int64_t G, int64_t R, int64_t M, float* d) {
  const kernels::TransposeKernel& tk = kernels::transpose_kernel(max_isa());
  const float* srcs[kernels::kTransposeMaxRows];
  for (int64_t g = 0; g < G; ++g)
    for (int64_t r0 = 0; r0 < R; r0 += kernels::kTransposeMaxRows) {
      const int64_t rows = std::min(kernels::kTransposeMaxRows, R - r0);
      for (int64_t t = 0; t < rows; ++t) srcs[t] = s + (g * R + r0 + t) * M;
      tk.fn(srcs, 1, rows, M, d + g * M * R + r0, R);
    }
}

WeightView weight_view(const Tensor& w) {
  // The taps in order: each kernel dim longer than 1 steps by the taps of the dims after it.
  // (A kernel dim of stride 0, an expanded weight, is not: the weight is copied.)
  int64_t s_t = 1, taps_after = 1;
  bool flat = true, first = true;
  for (int64_t d = w.dim() - 1; d >= 2; --d) {
    if (w.size(d) == 1) continue;
    if (first) s_t = w.stride(d), first = false;
    flat = flat && s_t != 0 && w.stride(d) == s_t * taps_after;
    taps_after *= w.size(d);
  }
  const Tensor v = flat ? w : w.contiguous();
  return {v, v.stride(0), v.stride(1), flat ? s_t : 1};
}

std::unique_ptr<ConvPlan> exact_on_nonfinite(std::unique_ptr<FiniteInputPlan> fast, const Tensor& w, const Tensor& b) {
  return std::make_unique<ExactOnNonFinitePlan>(std::move(fast), w, b);
}

namespace {

// select_algorithm, and what the weights and the output size rule out.
AlgorithmChoice choose(const ConvParams& p, const Tensor& w, const Tensor& b, Algorithm forced, bool winograd) {
  AlgorithmChoice choice = select_algorithm(p, forced, winograd);
  // Nothing to compute (N = 0): the fast plans would still size buffers from the spatial
  // shape, which an empty batch may make absurdly large.
  if (checked_numel(p.output_shape()) == 0) choice = {Algorithm::Reference, "empty output: nothing to compute"};
  // A fast path multiplies zero padding by every weight (inf * 0 is NaN) and Winograd mixes
  // weights and bias into whole tiles; the reference skips padding, as a direct convolution
  // does, so non-finite weights and biases run there (their outputs are diagnostics anyway).
  if (choice.algorithm != Algorithm::Reference && (!all_finite(w) || !all_finite(b)))
    choice = {Algorithm::Reference, "the weight or bias holds inf or NaN"};
  return choice;
}

}  // namespace

bool channels_last_serves(const ConvParams& p, Algorithm a) {
  return (a == Algorithm::Gemm && channels_last_conv_serves(p)) ||
         (a == Algorithm::Depthwise && channels_last_depthwise_serves(p));
}

bool channels_last_plan_differs(const ConvParams& p, const Tensor& w, const Tensor& b, Algorithm forced, bool winograd) {
  return !complex_runs_real(p, forced) && channels_last_serves(p, choose(p, w, b, forced, winograd).algorithm);
}

std::unique_ptr<ConvPlan> make_plan(const ConvParams& p, const Tensor& w, const Tensor& b, Algorithm forced,
                                    bool winograd, bool channels_last) {
  if (complex_runs_real(p, forced)) {
    if (auto plan = make_complex_plan(p, w, b, forced, winograd)) return plan;
    forced = Algorithm::Reference;  // a weight or bias holding inf or NaN, as for float32
  }
  const AlgorithmChoice choice = choose(p, w, b, forced, winograd);
  if (channels_last)
    if (auto plan = make_channels_last_plan_for(p, w, b, choice)) return plan;
  return make_plan_for(p, w, b, choice);
}

std::unique_ptr<ConvPlan> make_channels_last_plan_for(const ConvParams& p, const Tensor& w, const Tensor& b,
                                                      AlgorithmChoice choice) {
  if (!channels_last_serves(p, choice.algorithm)) return nullptr;
  const bool gemm = choice.algorithm == Algorithm::Gemm;
  choice.reason = gemm ? "GEMM over channels-last positions: windows packed per block by the transpose kernel from "
                         "the channel vectors, the weight packed once, the output written channels-last"
                       : "depthwise on channels-last rows: the channels in vector lanes, the input read in place, "
                         "the output written channels-last";
  log_choice(p, choice);
  auto plan = gemm ? make_channels_last_conv_plan(p, w, b) : make_channels_last_depthwise_plan(p, w, b);
  plan->params = p;
  plan->choice = choice;
  return plan;
}

namespace {

std::unique_ptr<ConvPlan> plan_of(const ConvParams& p, const Tensor& w, const Tensor& b, const AlgorithmChoice& choice) {
  std::unique_ptr<ConvPlan> plan;
  switch (choice.algorithm) {
    case Algorithm::Gemm: plan = p.dtype == kFloat64 ? make_f64_gemm_plan(p, w, b) : make_gemm_plan(p, w, b); break;
    case Algorithm::Depthwise: plan = make_depthwise_plan(p, w, b); break;
    case Algorithm::Winograd: plan = p.dim == 1 ? make_winograd1d_plan(p, w, b) : make_winograd_plan(p, w, b); break;
    default: plan = std::make_unique<ReferencePlan>(w, b); break;
  }
  plan->params = p;
  plan->choice = choice;
  return plan;
}

}  // namespace

std::unique_ptr<ConvPlan> make_plan_for(const ConvParams& p, const Tensor& w, const Tensor& b,
                                        const AlgorithmChoice& choice) {
  log_choice(p, choice);
  if (!computes_in_float32(p.dtype) || choice.algorithm == Algorithm::Reference) return plan_of(p, w, b, choice);
  // (The direct path widens and rounds the data row by row itself.)
  std::unique_ptr<ConvPlan> plan =
      choice.algorithm == Algorithm::Gemm && bf16_pairs_serve(p) ? make_bf16_gemm_plan(p, to_float32(w), to_float32(b))
      : choice.algorithm == Algorithm::Depthwise                ? make_depthwise_plan(p, to_float32(w), to_float32(b))
                                                 : wrap_half(plan_of(float32_params(p), to_float32(w), to_float32(b), choice));
  plan->params = p;
  plan->choice = choice;
  return plan;
}

}  // namespace convkit::internal
