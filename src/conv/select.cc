#include "conv/select.h"

#include "conv/half_precision.h"
#include "conv/plan.h"
#include "convkit/settings.h"
#include "kernels/blas1/blas1.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace convkit {
namespace {

std::atomic<bool>& fast_winograd() {
  static std::atomic<bool> on{[] {
    const char* v = std::getenv("CONVKIT_WINOGRAD");
    return v != nullptr && std::strcmp(v, "1") == 0;
  }()};
  return on;
}

}  // namespace

void set_allow_fast_winograd(bool allow) { fast_winograd().store(allow); }
bool allow_fast_winograd() { return fast_winograd().load(); }

namespace internal {

namespace {

// One input channel per group (depthwise, or a tiny layer), or few channels and few outputs
// per group: GEMM tiles would be mostly edge and packing.
bool few_channels_per_group(const ConvParams& p) {
  if (p.c_in_per_group() == 1 && (p.groups > 1 || p.C_out < 16)) return true;
  return p.c_in_per_group() <= 8 && p.c_out_per_group() <= 16 && p.groups > 1;
}

// A weight gradient over one input channel per group with 2 to kDotTapsMax taps, however many
// outputs: its GEMM would have at most 12 columns. wav2vec2's first layer, 512 outputs of 10
// taps: the direct path's dot products load dY once for all taps and the bias (2.2x faster).
// (Several input channels would stream each dY plane once per channel; 1x1 layers are GEMMs.)
bool few_weight_columns(const ConvParams& p) {
  int64_t taps = 1;
  for (int64_t k : p.kernel) taps *= k;
  return p.c_in_per_group() == 1 && taps > 1 && taps <= kernels::kDotTapsMax;
}

constexpr const char* kGemmDtypes =
    "the gemm path computes float32, float16, bfloat16 (in float32) and float64 only";
constexpr const char* kDepthwiseDtypes =
    "the direct (depthwise) gradient paths compute float32, float16 and bfloat16 (in float32), and float64 "
    "depthwise weight gradients, only";
constexpr const char* kDepthwiseForwardDtypes =
    "the direct (depthwise) path computes float32, float16 and bfloat16 (in float32), and float64 only";

}  // namespace

const char* unsupported_reason(Algorithm a, const ConvParams& p) {
  if (p.direction != Direction::Forward) {
    if (a == Algorithm::Winograd) return "gradients and transposed convolutions run on gemm, depthwise or the reference";
    // (float64: the weight gradient of depthwise layers, as dot products. Groups of several
    // channels and wav2vec2's first layer ran 2-4x faster on the GEMM.)
    if (a == Algorithm::Depthwise && !engine_dtype(p.dtype) &&
        !(p.dtype == kFloat64 && p.direction == Direction::BackwardWeights && padded_copy_fits(p) &&
          p.c_in_per_group() == 1 && p.groups > 1))
      return kDepthwiseDtypes;
    if (a == Algorithm::Depthwise && p.c_in_per_group() * p.kernel[0] * (p.dim > 1 ? p.kernel[1] : 1) *
                                             (p.dim > 2 ? p.kernel[2] : 1) > kDepthwiseMaxTaps)
      return "the direct (depthwise) gradient path takes at most 1024 taps (C_in/groups * kernel size)";
    if (a == Algorithm::Depthwise) return nullptr;
    if (a == Algorithm::Gemm && p.dtype == kFloat64) {  // on the float64 kernels, from a padded copy
      if (!padded_copy_fits(p))
        return "the float64 gemm paths pack from a padded copy of the input; with this padding and dilation it "
               "would be far larger than the input and output";
      return p.direction == Direction::BackwardWeights || backward_data_is_forward(p) ||
                     phases_serve_backward_data(p) || folded_backward_data_serves(p)
                 ? nullptr
                 : "float64 input gradients run on the gemm path with at most 64 phases (the product of the strides)";
    }
    if (a == Algorithm::Gemm && !engine_dtype(p.dtype)) return kGemmDtypes;
    if (a == Algorithm::Gemm && !padded_copy_fits(p))
      return "the gemm gradient paths walk every output position; with this padding and dilation they would "
             "visit far more than the input and output hold";
    return nullptr;
  }
  switch (a) {
    case Algorithm::Auto:
    case Algorithm::Reference:
      return nullptr;
    case Algorithm::Gemm:
      if (p.dtype == kFloat64)  // its own kernels, on B blocks packed from a padded copy
        return padded_copy_fits(p) ? nullptr
                                   : "the float64 gemm path packs from a padded copy of the input; with this padding "
                                     "and dilation it would be far larger than the input and output";
      if (!engine_dtype(p.dtype)) return kGemmDtypes;
      return nullptr;
    case Algorithm::Depthwise:
      if (!engine_dtype(p.dtype) && p.dtype != kFloat64) return kDepthwiseForwardDtypes;
      if (p.dim > 2) return "the direct (depthwise) path handles 1-d and 2-d";
      if (p.c_in_per_group() * p.kernel[0] * (p.dim > 1 ? p.kernel[1] : 1) > kDepthwiseMaxTaps)
        return "the direct (depthwise) path takes at most 1024 taps (C_in/groups * kernel size)";
      if (!padded_copy_fits(p))
        return "the direct (depthwise) path copies the padded input rows the outputs read; with this padding and "
               "dilation they would be far larger than the input and output";
      return nullptr;
    case Algorithm::Winograd:
      if (!engine_dtype(p.dtype)) return "Winograd computes float32, float16 and bfloat16 (in float32) only";
      if (!(p.dim == 2 && p.kernel[0] == 3 && p.kernel[1] == 3) && !(p.dim == 1 && p.kernel[0] == 3))
        return "Winograd F(4x4, 3x3) / F(4, 3) needs a 2-d 3x3 or a 1-d 3-tap kernel";
      for (int64_t i = 0; i < p.dim; ++i) {
        if (p.stride[static_cast<std::size_t>(i)] != 1) return "Winograd needs stride 1";
        if (p.dilation[static_cast<std::size_t>(i)] > 65536) return "Winograd takes dilations up to 65536";
      }
      if (p.groups != 1) return "Winograd handles groups == 1";
      if (p.padding_mode != PaddingMode::Zeros) return "Winograd handles padding_mode='zeros'";
      return nullptr;
  }
  return "unknown algorithm";
}

AlgorithmChoice select_algorithm(const ConvParams& p, Algorithm forced, bool winograd) {
  if (forced != Algorithm::Auto) {
    const char* why = unsupported_reason(forced, p);
    CONVKIT_CHECK(why == nullptr, "algorithm '", name_of(forced), "' cannot compute this ", op_label(p), " (",
                  dtype_name(p.dtype), ", groups=", p.groups, ", C_in=", p.C_in, "): ", why);
    return {forced, "forced by the algorithm option"};
  }
  if (p.direction != Direction::Forward) {
    if (const char* why = unsupported_reason(Algorithm::Gemm, p)) return {Algorithm::Reference, why};
    // As forward: a GEMM over few channels per group would be mostly edge tiles.
    // (backward_data with stride 1 runs the forward, and with phases its forwards, whose
    // selection sees the same shape: MobileNetV2's 3x3 stride-2 depthwise gradient was 3x
    // slower as axpys with stride 2.)
    if (unsupported_reason(Algorithm::Depthwise, p) == nullptr && p.direction == Direction::BackwardWeights &&
        (few_channels_per_group(p) || few_weight_columns(p)))
      return {Algorithm::Depthwise, "few channels per group or one with few taps: dot products per row over all taps and the bias"};
    if (p.direction == Direction::BackwardData && depthwise_rows_serve_backward_data(p) &&
        unsupported_reason(Algorithm::Depthwise, p) == nullptr)
      return {Algorithm::Depthwise, "depthwise, column stride 2: each input row once, from the dY rows its taps read, "
                                    "even and odd columns interleaved"};
    if (few_channels_per_group(p) && unsupported_reason(Algorithm::Depthwise, p) == nullptr &&
        !backward_data_is_forward(p) && !phases_serve_backward_data(p))
      return {Algorithm::Depthwise, "few channels per group: an axpy per row and tap onto the input"};
    if (p.direction == Direction::BackwardWeights && p.dtype == kFloat64)
      return {Algorithm::Gemm, "GEMM dY * im2col(x)^T on the float64 kernels, from a padded copy, summed over "
                               "images in a fixed order"};
    if (p.direction == Direction::BackwardWeights) {
      // (16-bit layers run the float32 plan of float32_params(p), whose choice this names.)
      const ConvParams q = computes_in_float32(p.dtype) ? float32_params(p) : p;
      if (channels_last_serves_weights(q))
        return {Algorithm::Gemm, "GEMM dY * x^T per tap, x copied channels-last once and read in place, summed over "
                                 "images in a fixed order"};
      if (in_place_weights_serve(q))
        return {Algorithm::Gemm, "GEMM x * dY^T with x's rows read in place (a pointwise layer's x itself, else per "
                                 "tap a padded, stride-phase-split copy), summed over images in a fixed order"};
      return {Algorithm::Gemm, "GEMM dY * im2col(x)^T, summed over images in a fixed order"};
    }
    if (folded_backward_data_serves(p))
      return {Algorithm::Gemm, "the valid layer's input gradient over the padded region (as a forward or its phases), "
                               "folded back onto the input by the padding mode"};
    if (backward_data_is_forward(p))
      return {Algorithm::Gemm, "stride 1, zeros padding: the forward convolution of dY with the channel-swapped, "
                               "flipped weight (float64 on its kernels, bfloat16 on the AMX tiles where there are)"};
    if (phases_serve_backward_data(p))
      return p.dtype == kFloat64
                 ? AlgorithmChoice{Algorithm::Gemm, "float64 with a stride: one stride-1 forward per phase of the input"}
                 : AlgorithmChoice{Algorithm::Gemm, "a kernel no larger than the stride or large phases: one stride-1 "
                                                    "forward per phase of the input"};
    return {Algorithm::Gemm, "GEMM W^T * dY, then col2im scatter-add onto the input"};
  }
  // (And float64 layers of at most 4 outputs per group, as the stride phases of an input
  // gradient onto 1-3 channels: a GEMM would pack every input once per 1-4 of its 8-row tiles.)
  if (p.dtype == kFloat64 && unsupported_reason(Algorithm::Depthwise, p) == nullptr &&
      (few_channels_per_group(p) || p.c_out_per_group() <= 4))
    return {Algorithm::Depthwise, "float64, few channels per group or at most 4 outputs: direct rows over padded "
                                  "input rows"};
  if (p.dtype == kFloat64 && unsupported_reason(Algorithm::Gemm, p) == nullptr)
    return {Algorithm::Gemm, "implicit GEMM in float64: im2col blocks packed from a padded copy of the input"};
  if (!engine_dtype(p.dtype))
    return {Algorithm::Reference, "float64 (or complex128's float64 layer) with padding far larger than the tensors"};
  // Dilated: each sub-grid (d x d in 2-d, d sub-sequences in 1-d) should fill 4-output tiles.
  bool wino_grids = true;
  for (int64_t i = 0; i < p.dim; ++i)
    wino_grids = wino_grids && (p.dilation[static_cast<std::size_t>(i)] == 1 ||
                                p.out_size[static_cast<std::size_t>(i)] / p.dilation[static_cast<std::size_t>(i)] >= 4);
  // Winograd's float32 error is 5-30x direct summation's: only when the caller allowed it, or
  // for 16-bit data, whose rounding hides it (test_reliability: within 2x of the direct path's
  // error on every bench layer). Not where bfloat16 has the AMX tiles, which are faster still.
  const bool hidden = computes_in_float32(p.dtype) && !bf16_pairs_serve(p);
  if ((winograd || hidden) && unsupported_reason(Algorithm::Winograd, p) == nullptr && wino_grids && p.C_in >= 32 &&
      p.C_out >= 32) {
    if (!winograd)
      return p.dim == 2 ? AlgorithmChoice{Algorithm::Winograd, "3x3, stride 1, >= 32 channels, 16-bit data (Winograd's float32 error is below its rounding): F(4x4, 3x3)"}
                        : AlgorithmChoice{Algorithm::Winograd, "3 taps, stride 1, >= 32 channels, 16-bit data (Winograd's float32 error is below its rounding): F(4, 3)"};
    return p.dim == 2 ? AlgorithmChoice{Algorithm::Winograd, "3x3, stride 1, >= 32 channels, fast Winograd allowed: F(4x4, 3x3), 4x fewer multiplications"}
                      : AlgorithmChoice{Algorithm::Winograd, "3 taps, stride 1, >= 32 channels, fast Winograd allowed: F(4, 3), 2x fewer multiplications"};
  }
  if (unsupported_reason(Algorithm::Depthwise, p) == nullptr && few_channels_per_group(p))
    return p.c_in_per_group() == 1
               ? AlgorithmChoice{Algorithm::Depthwise, "one input channel per group: direct rows over padded input rows"}
               : AlgorithmChoice{Algorithm::Depthwise, "few channels per group: direct rows, each input row shared by the group's outputs"};
  if (bf16_pairs_serve(p))
    return {Algorithm::Gemm, "implicit GEMM on the AMX tiles: bfloat16 pairs packed from a padded copy, float32 sums"};
  return {Algorithm::Gemm, "implicit GEMM: B rows read in place for multi-tap layers up to 128 output channels per group, im2col packed per block otherwise"};
}

bool backward_data_is_forward(const ConvParams& p) {
  if (p.padding_mode != PaddingMode::Zeros) return false;
  for (int64_t i = 0; i < p.dim; ++i) {
    const auto d = static_cast<std::size_t>(i);
    const int64_t reach = (p.kernel[d] - 1) * p.dilation[d];
    if (p.stride[d] != 1 || p.pad_lo[d] > reach || p.pad_hi[d] > reach) return false;
  }
  return true;
}

void log_choice(const ConvParams& p, const AlgorithmChoice& c) {
  static const bool verbose = [] {
    const char* v = std::getenv("CONVKIT_VERBOSE");
    return v != nullptr && std::strcmp(v, "0") != 0 && v[0] != '\0';
  }();
  if (!verbose) return;
  std::fprintf(stderr, "convkit: %s %s N=%lld C_in=%lld C_out=%lld groups=%lld -> %s (%s)\n",
               op_label(p).c_str(), dtype_name(p.dtype), static_cast<long long>(p.N),
               static_cast<long long>(p.C_in), static_cast<long long>(p.C_out),
               static_cast<long long>(p.groups), name_of(c.algorithm), c.reason);
}

}  // namespace internal
}  // namespace convkit
