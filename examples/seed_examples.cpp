// The examples of the documents convkit was started from (MegEngine, PyTorch, OneFlow, the
// PyTorch Conv1d tutorial), written against convkit's C++ API. `make demo` runs this.
#include <iostream>

#include "convkit/convkit.h"

using convkit::Tensor;
namespace nn = convkit::nn;

static void show_shape(const char* what, const Tensor& t) {
  std::cout << what << " shape: " << convkit::shape_str(t.sizes()) << "\n";
}

int main() {
  try {
    std::cout << "== MegEngine: Conv1d(in_channels=3, out_channels=1, kernel_size=3) on arange(24) as (2, 3, 4)\n";
    nn::Conv1d me1(nn::Conv1dOptions(3, 1, 3));
    const Tensor x1 = Tensor::arange(24).reshape({2, 3, 4});
    const Tensor y1 = me1(x1);
    show_shape("output", y1);
    std::cout << y1 << "\n\n";

    std::cout << "== MegEngine: Conv2d(in_channels=3, out_channels=1, kernel_size=3) on arange(96) as (2, 3, 4, 4)\n";
    nn::Conv2d me2(nn::Conv2dOptions(3, 1, 3));
    const Tensor y2 = me2(Tensor::arange(96).reshape({2, 3, 4, 4}));
    show_shape("output", y2);
    std::cout << y2 << "\n\n";

    std::cout << "== PyTorch: nn.Conv1d(16, 33, 3, stride=2) on a (20, 16, 50) input\n";
    nn::Conv1d m(nn::Conv1dOptions(16, 33, 3).stride(2));
    const Tensor y3 = m(convkit::randn({20, 16, 50}));
    show_shape("output", y3);

    std::cout << "\n== OneFlow: oneflow.nn.Conv1d(16, 33, 3, stride=2) on a (20, 16, 50) input\n";
    nn::Conv1d of(nn::Conv1dOptions(16, 33, 3).stride(2));
    show_shape("output", of(convkit::randn({20, 16, 50})));

    std::cout << "\n== PyTorch tutorial: torch.manual_seed(666); x = torch.randn(2, 2, 5); nn.Conv1d(2, 2, 3, bias=False)\n";
    convkit::manual_seed(666);
    const Tensor x = convkit::randn({2, 2, 5});
    nn::Conv1d t(nn::Conv1dOptions(2, 2, 3).bias(false));
    std::cout << "input:\n" << x << "\nweight:\n" << t->weight << "\noutput:\n" << t(x) << "\n";
  } catch (const convkit::Error& e) {
    std::cerr << "convkit error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
