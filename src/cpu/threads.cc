#include "convkit/threads.h"

#include <atomic>
#include <cstdlib>
#include <thread>

#include "convkit/error.h"

namespace convkit {

namespace {
std::atomic<int>& num_threads() {
  static std::atomic<int> n = [] {
    if (const char* env = std::getenv("OMP_NUM_THREADS")) {
      const int v = std::atoi(env);
      if (v >= 1) return v;
    }
    const unsigned hw = std::thread::hardware_concurrency();
    return hw > 0 ? static_cast<int>(hw) : 1;
  }();
  return n;
}
}  // namespace

void set_num_threads(int n) {
  CONVKIT_CHECK(n >= 1, "set_num_threads(", n, "): the number of threads must be at least 1");
  num_threads() = n;
}

int get_num_threads() { return num_threads(); }

}  // namespace convkit
