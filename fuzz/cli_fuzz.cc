// libFuzzer target: `convkit conv` arguments (NUL-separated) through CLI11, the option
// parsing, ConvParams validation and, when the output is tiny, the convolution itself
// (tool::exercise_conv_arguments, which the unit tests also replay on the corpus).
#include <cstddef>
#include <cstdint>
#include <string>

#include "tools/convkit/conv_command.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static convkit::tool::ConvCommand c;
  static CLI::App& app = *[] {
    auto* a = new CLI::App;  // lives for the whole run
    convkit::tool::add_conv_options(*a, c);
    return a;
  }();
  convkit::tool::exercise_conv_arguments(std::string(reinterpret_cast<const char*>(data), size), app, c);
  return 0;
}
