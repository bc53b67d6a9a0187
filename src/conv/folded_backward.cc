// backward_data of a layer whose padding mode is reflect, replicate or circular, for the dtypes
// without a col2im path (float64): the input gradient of the valid convolution over the padded
// region the outputs read (zeros padding, so the forward and phase paths serve it), folded back
// onto the input — every padded position adds its gradient to the input element it copies
// (the padding mode's source index), as the reference's gradient of padding does.
//
//   dXp[N, C_in, *Sp] = backward_data of the valid layer (Sp: (O - 1) * stride + (K - 1) * dilation + 1)
//   dX[n, c, i] = sum over the padded positions j whose source is i of dXp[n, c, j], j in order
#include <algorithm>

#include "conv/plan.h"
#include "core/storage.h"
#include "convkit/threads.h"

namespace convkit::internal {

ConvParams valid_over_padding(const ConvParams& p) {
  ConvParams q = p;
  for (std::size_t d = 0; d < static_cast<std::size_t>(p.dim); ++d) {
    q.in_size[d] = (p.out_size[d] - 1) * p.stride[d] + (p.kernel[d] - 1) * p.dilation[d] + 1;
    q.pad_lo[d] = q.pad_hi[d] = 0;
  }
  q.padding_mode = PaddingMode::Zeros;
  return q;
}

namespace {

class FoldedBackwardDataPlan : public BackwardDataPlan {
 public:
  FoldedBackwardDataPlan(const ConvParams& p, const Tensor& w, bool winograd)
      : inner_(make_gemm_backward_data_plan(valid_over_padding(p), w, Tensor(), winograd)) {
    params = p;
  }

  void run(const Tensor& gy, Tensor& gx) const override {
    const ConvParams& q = inner_->params;
    Shape shape{q.N, q.C_in};
    shape.insert(shape.end(), q.in_size.begin(), q.in_size.end());
    Tensor dxp = Tensor::empty(shape, q.dtype);
    inner_->run(gy, dxp);
    if (q.dtype == kFloat64) fold<double>(dxp, gx);
    else fold<float>(dxp, gx);
  }
  int64_t memory_bytes() const override { return inner_->memory_bytes(); }

 private:
  // gx = dxp folded back (both contiguous), a plane per task.
  template <typename T>
  void fold(const Tensor& dxp, Tensor& gx) const {
    const ConvParams& p = params;
    const Lifted g = lift3(p), v = lift3(inner_->params);
    const int64_t planes = p.N * p.C_in, plane = g.S[0] * g.S[1] * g.S[2], vplane = v.S[0] * v.S[1] * v.S[2];
    // Per dim and padded index: the input index it copies, or -1 (never, for these modes).
    std::vector<int64_t> src[3];
    for (int d = 0; d < 3; ++d)
      for (int64_t j = 0; j < v.S[d]; ++j) src[d].push_back(source_index(j - g.lo[d], g.S[d], p.padding_mode));
    const T* from = dxp.const_data<T>();
    T* to = mutable_data<T>(gx);
    const int threads = threads_for(planes, static_cast<double>(planes * vplane) * 2);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t nc = 0; nc < planes; ++nc) {
      T* out = to + nc * plane;
      const T* in = from + nc * vplane;
      std::fill(out, out + plane, T{});
      for (int64_t a = 0; a < v.S[0]; ++a)
        for (int64_t b = 0; b < v.S[1]; ++b) {
          const int64_t sa = src[0][static_cast<std::size_t>(a)], sb = src[1][static_cast<std::size_t>(b)];
          const T* row = in + (a * v.S[1] + b) * v.S[2];
          if (sa < 0 || sb < 0) continue;
          T* line = out + (sa * g.S[1] + sb) * g.S[2];
          for (int64_t c = 0; c < v.S[2]; ++c) {
            const int64_t sc = src[2][static_cast<std::size_t>(c)];
            if (sc >= 0) line[sc] += row[c];
          }
        }
    }
  }

  std::unique_ptr<BackwardDataPlan> inner_;
};

}  // namespace

bool folded_backward_data_serves(const ConvParams& p) {
  if (p.padding_mode == PaddingMode::Zeros || p.dtype != kFloat64) return false;
  const ConvParams q = valid_over_padding(p);
  return padded_copy_fits(p) && (backward_data_is_forward(q) || phases_serve_backward_data(q));
}

std::unique_ptr<BackwardDataPlan> make_folded_backward_data_plan(const ConvParams& p, const Tensor& w, bool winograd) {
  return std::make_unique<FoldedBackwardDataPlan>(p, w, winograd);
}

}  // namespace convkit::internal
