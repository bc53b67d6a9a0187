// libFuzzer target: a differential check of every algorithm against a float64 direct
// convolution (fuzz/conv_diff.h: what the bytes choose and the tolerance model). A
// difference aborts with the case printed, which libFuzzer keeps as a crash input.
#include <cstdio>
#include <cstdlib>

#include "fuzz/conv_diff.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string diff = convkit::fuzz::conv_differential(data, size);
  if (!diff.empty()) {
    std::fprintf(stderr, "conv differential: %s\n", diff.c_str());
    std::abort();
  }
  return 0;
}
