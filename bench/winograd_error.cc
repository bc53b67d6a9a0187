// Measures the rounding error of convkit's float32 algorithms against a float64 reference on
// real 3x3 and 3-tap layers: max |y - y64| / max |y64| and the RMS relative error, for GEMM
// (direct summation) and Winograd F(4x4, 3x3) / F(4, 3). docs/winograd.md records its output.
//   winograd_error
#include <cmath>
#include <cstdio>
#include <vector>

#include "convkit/convkit.h"

using convkit::Tensor;
namespace F = convkit::nn::functional;

int main() {
  struct Layer {
    const char* name;
    int64_t c_in, c_out, hw;
    int64_t dim = 2, dilation = 1;
  };
  const std::vector<Layer> layers = {{"resnet50_res2_3x3", 64, 64, 56},
                                     {"resnet50_res4_3x3", 256, 256, 14},
                                     {"vgg16_conv3 (64x64 crop)", 256, 256, 64},
                                     {"resnet50_res5_3x3", 512, 512, 7},
                                     {"wavenet_dilated (1-d)", 64, 64, 16384, 1, 8},
                                     {"1-d 3 taps, 512 ch", 512, 512, 3199, 1, 1}};
  std::printf("%-26s %-9s %14s %14s\n", "layer", "algorithm", "max_err/max|y|", "rms_rel_err");
  convkit::manual_seed(0);
  for (const auto& l : layers) {
    const Tensor x = l.dim == 2 ? convkit::randn({1, l.c_in, l.hw, l.hw}) : convkit::randn({1, l.c_in, l.hw});
    Tensor w, b;
    if (l.dim == 2) {
      convkit::nn::Conv2d m(convkit::nn::Conv2dOptions(l.c_in, l.c_out, 3).padding(1));
      w = m.weight, b = m.bias;
    } else {
      convkit::nn::Conv1d m(convkit::nn::Conv1dOptions(l.c_in, l.c_out, 3).padding(l.dilation).dilation(l.dilation));
      w = m.weight, b = m.bias;
    }
    const auto conv = [&](const Tensor& xx, const Tensor& ww, const Tensor& bb, convkit::Algorithm a) {
      return l.dim == 2 ? F::conv2d(xx, ww, bb, F::Conv2dFuncOptions().padding(1).algorithm(a))
                        : F::conv1d(xx, ww, bb, F::Conv1dFuncOptions().padding(l.dilation).dilation(l.dilation).algorithm(a));
    };
    // float64 runs the reference loops: the oracle.
    const Tensor y64 = conv(x.to(convkit::kFloat64), w.to(convkit::kFloat64), b.to(convkit::kFloat64), convkit::Algorithm::Auto);
    const auto ref = y64.to_vector();
    double max_ref = 0;
    for (double v : ref) max_ref = std::max(max_ref, std::fabs(v));
    for (auto a : {convkit::Algorithm::Gemm, convkit::Algorithm::Winograd}) {
      const auto y = conv(x, w, b, a).to_vector();
      double max_err = 0, sq = 0, sq_ref = 0;
      for (std::size_t i = 0; i < y.size(); ++i) {
        const double e = y[i] - ref[i];
        max_err = std::max(max_err, std::fabs(e));
        sq += e * e;
        sq_ref += ref[i] * ref[i];
      }
      std::printf("%-26s %-9s %14.3e %14.3e\n", l.name, convkit::name_of(a), max_err / max_ref, std::sqrt(sq / sq_ref));
    }
  }
  return 0;
}
