// libFuzzer target: the safetensors reader must accept or reject any bytes with convkit::Error.
#include <cstddef>
#include <cstdint>

#include "convkit/io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto st = convkit::io::parse_safetensors(data, size, "fuzz.safetensors");
    for (const auto& [name, t] : st.tensors) (void)t.to_string();
  } catch (const convkit::Error&) {
  }
  return 0;
}
