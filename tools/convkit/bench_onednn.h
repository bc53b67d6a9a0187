// oneDNN side of `convkit bench` (built only with -DCONVKIT_BENCH_ONEDNN=ON). The interface
// speaks convkit tensors only, so bench.cc never includes oneDNN headers and the library
// `convkit` never sees oneDNN.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "convkit/tensor.h"

namespace convkit::tool {

struct BenchShape;
struct BenchData;
enum class BenchDirection;

/// One oneDNN float32 primitive for one benchmark row: for a convolution layer
/// convolution_forward (forward_inference, with bias), convolution_backward_data or
/// convolution_backward_weights (with diff_bias); for a transposed layer the matching
/// deconvolution_* primitive. The backward ones are made with a forward_training primitive
/// descriptor as their hint. Create it after set_onednn_threads(): oneDNN sizes its work split
/// for the thread count current at creation, so each thread count gets its own primitive.
class OnednnConv {
 public:
  /// best == false ("onednn_nchw"): plain ncw/nchw/ncdhw data and oihw/goihw (convolution) or
  /// iohw/giohw (deconvolution, PyTorch's ConvTranspose layout) weights, the inputs wrapped in
  /// place (no copies), algorithm convolution_direct / deconvolution_direct.
  /// best == true ("onednn_best"): format_tag::any (and convolution_auto for convolutions);
  /// the inputs are reordered ONCE here into the layouts the primitive prefers, so run() times
  /// only the primitive, as a framework that keeps its tensors blocked would see it.
  /// nhwc (2-d): the data tensors are channels-last (BenchData::channels_last), and the plain
  /// layout is nhwc ("onednn_nhwc", with format_tag::any weights: oneDNN's direct kernels take
  /// nhwc data only with their blocked weights, reordered once here); outputs() still gives
  /// them in convkit's planar order.
  /// The tensors of `data` the direction reads must stay alive and unchanged while this
  /// object is used.
  OnednnConv(const BenchShape& s, BenchDirection dir, const BenchData& data, bool best, bool nhwc = false);
  ~OnednnConv();
  OnednnConv(const OnednnConv&) = delete;
  OnednnConv& operator=(const OnednnConv&) = delete;

  /// One execution on the shared stream; returns when it has finished.
  void run();
  /// The last run()'s results as new plain float32 tensors in convkit's order and shapes:
  /// {y} (fwd), {grad_input} (bwd_data), {grad_weight, grad_bias} (bwd_weights). Reordered
  /// back from blocked layouts when needed; not part of any timing.
  std::vector<Tensor> outputs() const;
  /// Bytes beyond the plain user tensors: the scratchpad, plus for "best" the blocked
  /// copies of inputs and outputs that differ from the plain layout.
  int64_t extra_bytes() const;
  /// oneDNN's implementation name (e.g. "jit:avx512_core", "gemm:jit").
  std::string impl_name() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Thread count for oneDNN's OpenMP runtime (omp_set_num_threads; a no-op without OpenMP).
void set_onednn_threads(int n);
/// "oneDNN 2.6.3 (cpu runtime OMP)".
std::string onednn_version();

}  // namespace convkit::tool
