// libFuzzer target: the .npy reader must accept or reject any bytes with convkit::Error.
#include <cstddef>
#include <cstdint>

#include "convkit/io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const convkit::Tensor t = convkit::io::parse_npy(data, size, "fuzz.npy");
    // A tensor that parsed must survive a write and a re-read unchanged in size.
    const std::string again = convkit::io::npy_bytes(t);
    const convkit::Tensor u = convkit::io::parse_npy(reinterpret_cast<const uint8_t*>(again.data()), again.size(), "again");
    if (u.sizes() != t.sizes() || u.dtype() != t.dtype()) __builtin_trap();
  } catch (const convkit::Error&) {
  }
  return 0;
}
