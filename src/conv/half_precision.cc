// float16 and bfloat16 on the engine: the float32 plan of the same layer, with the data
// converted to float32 on the way in and rounded once on the way out (MegEngine's
// compute_mode=float32, convkit's default for 16-bit data on the CPU). Weights and bias are
// converted once, when the plan is made.
#include "conv/half_precision.h"

#include <algorithm>

#include "kernels/convert/convert.h"

namespace convkit::internal {

bool computes_in_float32(DType t) { return t == kFloat16 || t == kBFloat16; }

namespace {

// Conversions run in pieces over the threads: they stream memory, a few us per piece.
constexpr int64_t kPiece = int64_t{1} << 14;

int threads_for_copy(int64_t n) { return threads_for(ceil_div(n, kPiece), static_cast<double>(n) * 16); }

// dst[numel] (float32, contiguous) = src (float16 / bfloat16, any strides), exactly.
void widen(const Tensor& src, float* dst) {
  const int64_t n = src.numel();
  if (!src.is_contiguous()) {  // the element loop of copy_: the same exact values
    Tensor d = Tensor::from_blob(dst, src.sizes(), kFloat32);
    d.copy_(src);
    return;
  }
  const auto& k = kernels::convert_kernel(max_isa());
  const auto fn = src.dtype() == kFloat16 ? k.f16_to_f32 : k.bf16_to_f32;
  const auto* s = static_cast<const uint16_t*>(src.const_data_ptr());
  const int threads = threads_for_copy(n);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
  for (int64_t i = 0; i < n; i += kPiece) fn(s + i, std::min(kPiece, n - i), dst + i);
}

// dst (float16 / bfloat16, contiguous) = src[numel] rounded once to nearest, ties to even.
void narrow(const float* src, Tensor& dst) {
  const int64_t n = dst.numel();
  const auto& k = kernels::convert_kernel(max_isa());
  const auto fn = dst.dtype() == kFloat16 ? k.f32_to_f16 : k.f32_to_bf16;
  auto* d = static_cast<uint16_t*>(mutable_data_ptr(dst));
  const int threads = threads_for_copy(n);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
  for (int64_t i = 0; i < n; i += kPiece) fn(src + i, std::min(kPiece, n - i), d + i);
}

using Buffers = ScratchParts<float>;

Tensor float32_view(float* data, const Tensor& like) { return Tensor::from_blob(data, like.sizes(), kFloat32); }

class HalfPlan : public ConvPlan {
 public:
  explicit HalfPlan(std::unique_ptr<ConvPlan> inner) : inner_(std::move(inner)) {}
  void run(const Tensor& x, Tensor& y) const override {
    // x [N, C_in, *S_in] -> float32, the float32 plan into [N, C_out, *S_out], rounded into y.
    const Buffers buf(scratch_, {x.numel(), y.numel()});
    widen(x, buf[0]);
    Tensor y32 = float32_view(buf[1], y);
    inner_->run(float32_view(buf[0], x), y32);
    narrow(buf[1], y);
  }
  int64_t memory_bytes() const override { return inner_->memory_bytes() + scratch_.bytes(); }

 private:
  std::unique_ptr<ConvPlan> inner_;
  Workspace scratch_;
};

class HalfBackwardDataPlan : public BackwardDataPlan {
 public:
  explicit HalfBackwardDataPlan(std::unique_ptr<BackwardDataPlan> inner) : inner_(std::move(inner)) {}
  void run(const Tensor& gy, Tensor& gx) const override {
    const Buffers buf(scratch_, {gy.numel(), gx.numel()});
    widen(gy, buf[0]);
    Tensor gx32 = float32_view(buf[1], gx);
    inner_->run(float32_view(buf[0], gy), gx32);
    narrow(buf[1], gx);
  }
  int64_t memory_bytes() const override { return inner_->memory_bytes() + scratch_.bytes(); }

 private:
  std::unique_ptr<BackwardDataPlan> inner_;
  Workspace scratch_;
};

class HalfBackwardWeightsPlan : public BackwardWeightsPlan {
 public:
  explicit HalfBackwardWeightsPlan(std::unique_ptr<BackwardWeightsPlan> inner) : inner_(std::move(inner)) {}
  void run(const Tensor& x, const Tensor& gy, Tensor& gw) const override { run_with_bias(x, gy, gw, nullptr); }
  void run_with_bias(const Tensor& x, const Tensor& gy, Tensor& gw, Tensor* gb) const override {
    // The sums over images and positions stay in float32 until the end: one rounding each.
    const Buffers buf(scratch_, {x.numel(), gy.numel(), gw.numel(), gb ? gb->numel() : 0});
    widen(x, buf[0]);
    widen(gy, buf[1]);
    Tensor gw32 = float32_view(buf[2], gw), gb32;
    if (gb) gb32 = float32_view(buf[3], *gb);
    inner_->run_with_bias(float32_view(buf[0], x), float32_view(buf[1], gy), gw32, gb ? &gb32 : nullptr);
    narrow(buf[2], gw);
    if (gb) narrow(buf[3], *gb);
  }
  int64_t memory_bytes() const override { return inner_->memory_bytes() + scratch_.bytes(); }

 private:
  std::unique_ptr<BackwardWeightsPlan> inner_;
  Workspace scratch_;
};

}  // namespace

ConvParams float32_params(const ConvParams& p) {
  ConvParams q = p;
  q.dtype = kFloat32;
  return q;
}

Tensor to_float32(const Tensor& t) { return t.defined() ? t.to(kFloat32) : t; }

std::unique_ptr<ConvPlan> wrap_half(std::unique_ptr<ConvPlan> inner) {
  return std::make_unique<HalfPlan>(std::move(inner));
}
std::unique_ptr<BackwardDataPlan> wrap_half(std::unique_ptr<BackwardDataPlan> inner) {
  return std::make_unique<HalfBackwardDataPlan>(std::move(inner));
}
std::unique_ptr<BackwardWeightsPlan> wrap_half(std::unique_ptr<BackwardWeightsPlan> inner) {
  return std::make_unique<HalfBackwardWeightsPlan>(std::move(inner));
}

}  // namespace convkit::internal
