// Runs one layer through an installed convkit: PyTorch's Conv1d(16, 33, 3, stride=2) on
// randn(20, 16, 50), its input gradient, the same layer prepared once from a rank-free
// ConvSpec, and a caught argument error. Prints what it got and
// exits non-zero if anything is off.
#include <convkit/convkit.h>

#include <cstdio>
#include <cstring>

int main() {
  namespace nn = convkit::nn;
  if (std::strcmp(convkit::version(), "0.2.0") != 0 || CONVKIT_VERSION_MINOR != 2) {
    std::printf("unexpected version %s\n", convkit::version());
    return 1;
  }
  convkit::manual_seed(0);
  nn::Conv1d m(nn::Conv1dOptions(16, 33, 3).stride(2));
  const convkit::Tensor x = convkit::randn({20, 16, 50});
  const convkit::Tensor y = m(x);
  const convkit::Tensor gx = m->backward(x, convkit::Tensor::full(y.sizes(), 1.0));
  std::printf("convkit %s: y %s, grad_input %s\n", convkit::version(), convkit::shape_str(y.sizes()).c_str(),
              convkit::shape_str(gx.sizes()).c_str());
  if (y.sizes() != convkit::Shape{20, 33, 24} || gx.sizes() != x.sizes()) return 1;
  const convkit::ConvPlan plan = convkit::prepare(convkit::ConvSpec::from(m->options), m->weight, m->bias, x.sizes());
  if (plan.run(x).to_vector() != y.to_vector()) {
    std::printf("the prepared plan differs from the module\n");
    return 1;
  }
  try {
    m(convkit::randn({20, 15, 50}));
    return 1;
  } catch (const convkit::ArgumentError& e) {
    std::printf("caught: %.60s...\n", e.what());
  }
  return 0;
}
