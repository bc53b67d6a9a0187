#include "cpu/cache.h"

#include <unistd.h>

#include <fstream>
#include <string>

namespace convkit::internal {

namespace {

// The size of the data or unified cache of `level` from sysfs ("48K", "2048K"), or 0.
int64_t sysfs_cache(int level) {
  for (int index = 0; index < 8; ++index) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) + "/";
    std::ifstream lf(dir + "level"), tf(dir + "type"), sf(dir + "size");
    int l = 0;
    std::string type, size;
    if (!(lf >> l) || !(tf >> type) || !(sf >> size)) continue;
    if (l != level || type == "Instruction") continue;
    int64_t v = 0;
    std::size_t i = 0;
    for (; i < size.size() && size[i] >= '0' && size[i] <= '9'; ++i) v = v * 10 + (size[i] - '0');
    if (i < size.size() && (size[i] == 'K' || size[i] == 'k')) v <<= 10;
    if (i < size.size() && (size[i] == 'M' || size[i] == 'm')) v <<= 20;
    return v;
  }
  return 0;
}

#ifdef _SC_LEVEL1_DCACHE_SIZE
constexpr int kL1 = _SC_LEVEL1_DCACHE_SIZE, kL2 = _SC_LEVEL2_CACHE_SIZE, kL3 = _SC_LEVEL3_CACHE_SIZE;
#else
constexpr int kL1 = -1, kL2 = -1, kL3 = -1;  // no sysconf names for caches: sysfs alone
#endif

int64_t reported(int sysconf_name, int level, int64_t fallback) {
  int64_t v = sysconf_name >= 0 ? sysconf(sysconf_name) : 0;
  if (v <= 0) v = sysfs_cache(level);
  return v > 0 ? v : fallback;
}

}  // namespace

const CacheSizes& cache_sizes() {
  static const CacheSizes sizes{reported(kL1, 1, int64_t{32} << 10), reported(kL2, 2, int64_t{1} << 20),
                                reported(kL3, 3, int64_t{8} << 20)};
  return sizes;
}

}  // namespace convkit::internal
