// Measures the rounding error of convkit's float32 algorithms against a float64 reference on
// real 3x3 layers: max |y - y64| / max |y64| and the RMS relative error, for GEMM (direct
// summation) and Winograd F(4x4, 3x3). docs/winograd.md records its output.
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
  };
  const std::vector<Layer> layers = {{"resnet50_res2_3x3", 64, 64, 56},
                                     {"resnet50_res4_3x3", 256, 256, 14},
                                     {"vgg16_conv3 (64x64 crop)", 256, 256, 64},
                                     {"resnet50_res5_3x3", 512, 512, 7}};
  std::printf("%-26s %-9s %14s %14s\n", "layer", "algorithm", "max_err/max|y|", "rms_rel_err");
  convkit::manual_seed(0);
  for (const auto& l : layers) {
    const Tensor x = convkit::randn({1, l.c_in, l.hw, l.hw});
    convkit::nn::Conv2d m(convkit::nn::Conv2dOptions(l.c_in, l.c_out, 3).padding(1));
    const auto opts = [](convkit::Algorithm a) { return F::Conv2dFuncOptions().padding(1).algorithm(a); };
    // float64 runs the reference loops: the oracle.
    const Tensor y64 = F::conv2d(x.to(convkit::kFloat64), m.weight.to(convkit::kFloat64), m.bias.to(convkit::kFloat64),
                                 opts(convkit::Algorithm::Auto));
    const auto ref = y64.to_vector();
    double max_ref = 0;
    for (double v : ref) max_ref = std::max(max_ref, std::fabs(v));
    for (auto a : {convkit::Algorithm::Gemm, convkit::Algorithm::Winograd}) {
      const auto y = F::conv2d(x, m.weight, m.bias, opts(a)).to_vector();
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
