// Throughput of convkit's PyTorch-identical random fills: median ns per element over
// repeated runs. bench/rng_vs_torch.py runs this and PyTorch side by side and prints ratios.
//   rng_bench [n]   -> one line per case: name ns_per_element
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <vector>

#include "convkit/convkit.h"

namespace {

double median_ns_per_element(const std::function<void()>& f, int64_t n) {
  f();  // warm-up: page faults, caches
  std::vector<double> t;
  const auto start = std::chrono::steady_clock::now();
  while (t.size() < 7 || (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(500) && t.size() < 200)) {
    const auto a = std::chrono::steady_clock::now();
    f();
    const auto b = std::chrono::steady_clock::now();
    t.push_back(std::chrono::duration<double, std::nano>(b - a).count() / static_cast<double>(n));
  }
  std::nth_element(t.begin(), t.begin() + static_cast<long>(t.size() / 2), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t n = argc > 1 ? std::atoll(argv[1]) : (int64_t{1} << 20);
  convkit::manual_seed(0);
  convkit::Tensor f32 = convkit::Tensor::empty({n}, convkit::kFloat32);
  convkit::Tensor f64 = convkit::Tensor::empty({n}, convkit::kFloat64);
  std::printf("randn_float32 %.4f\n", median_ns_per_element([&] { f32.normal_(0, 1); }, n));
  std::printf("randn_float64 %.4f\n", median_ns_per_element([&] { f64.normal_(0, 1); }, n));
  std::printf("rand_float32 %.4f\n", median_ns_per_element([&] { f32.uniform_(0, 1); }, n));
  std::printf("rand_float64 %.4f\n", median_ns_per_element([&] { f64.uniform_(0, 1); }, n));
  std::printf("uniform_float32 %.4f\n", median_ns_per_element([&] { f32.uniform_(-0.3, 0.3); }, n));
  return 0;
}
