// libFuzzer target: `convkit conv` arguments (NUL-separated) through CLI11, the option
// parsing, ConvParams validation and, when the output is tiny, the reference convolution.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "conv/conv.h"
#include "tools/convkit/conv_command.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> args;  // CLI11 takes them last-first
  std::size_t start = 0;
  while (true) {
    const auto p = bytes.find('\0', start);
    args.insert(args.begin(), bytes.substr(start, p == std::string::npos ? std::string::npos : p - start));
    if (p == std::string::npos) break;
    start = p + 1;
  }
  // One App for the whole run (building it dominates otherwise); clear() and a fresh
  // ConvCommand reset it between inputs exactly as a new process would start.
  static convkit::tool::ConvCommand c;
  static CLI::App& app = *[] {
    auto* a = new CLI::App;
    convkit::tool::add_conv_options(*a, c);
    return a;
  }();
  c = convkit::tool::ConvCommand();
  app.clear();
  try {
    app.parse(args);
  } catch (const CLI::Error&) {
    return 0;
  }
  for (int64_t dim = 1; dim <= 3; ++dim) {
    try {
      const convkit::internal::ConvArgs a = convkit::tool::conv_args_from(c, dim);
      // Small tensors of the right rank: N=1, C_in=4, spatial 6, C_out=4, kernel 3.
      convkit::Shape xs{1, 4}, ws{4, a.groups > 0 && 4 % a.groups == 0 ? 4 / a.groups : 1};
      for (int64_t i = 0; i < dim; ++i) {
        xs.push_back(6);
        ws.push_back(3);
      }
      const convkit::Tensor x = convkit::Tensor::zeros(xs), w = convkit::Tensor::zeros(ws);
      const convkit::internal::ConvParams p = convkit::internal::make_conv_params(x, w, {}, a);
      int64_t out = 1;
      for (int64_t s : p.output_shape()) out *= s;
      if (out <= 64) (void)convkit::internal::conv_forward(x, w, {}, a);
    } catch (const convkit::Error&) {
    }
  }
  return 0;
}
