// oneDNN side of `convkit bench` (built only with -DCONVKIT_BENCH_ONEDNN=ON). The interface
// speaks convkit tensors only, so bench.cc never includes oneDNN headers and the library
// `convkit` never sees oneDNN.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "convkit/tensor.h"

namespace convkit::tool {

struct BenchShape;

/// One oneDNN convolution_forward primitive (forward_inference, float32) on the data of a
/// convkit benchmark shape. Create it after set_onednn_threads(): oneDNN sizes its work split
/// for the thread count current at creation, so each thread count gets its own primitive.
class OnednnConv {
 public:
  /// best == false ("onednn_nchw"): plain ncw/nchw/ncdhw source and destination and
  /// oihw/goihw weights wrapped in place (no copies), algorithm convolution_direct.
  /// best == true ("onednn_best"): format_tag::any and convolution_auto; the input and the
  /// weights are reordered ONCE here into the layouts the primitive prefers, so run() times
  /// only the primitive, as a framework that keeps its tensors blocked would see it.
  /// x, w, b must stay alive and unchanged while this object is used.
  OnednnConv(const BenchShape& s, const Tensor& x, const Tensor& w, const Tensor& b, bool best);
  ~OnednnConv();
  OnednnConv(const OnednnConv&) = delete;
  OnednnConv& operator=(const OnednnConv&) = delete;

  /// One forward on the shared stream; returns when it has finished.
  void run();
  /// The last run()'s output as a new (N, C_out, *S_out) float32 tensor (reordered back to
  /// plain layout when the primitive's is blocked; not part of any timing).
  Tensor output() const;
  /// Bytes beyond the plain user tensors: the scratchpad, plus for "best" the blocked
  /// copies of input, weights and output that differ from the plain layout.
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
