// The data cache sizes this CPU reports, read once at run time: blocking and path choices
// that depend on what stays in cache follow the machine they run on.
#pragma once

#include <cstdint>

namespace convkit::internal {

struct CacheSizes {
  int64_t l1d, l2, l3;  // bytes per core (l3: the whole cache); the defaults where unreported
};

/// sysconf's cache sizes, else /sys/devices/system/cpu/cpu0/cache, else 32 KiB / 1 MiB / 8 MiB.
const CacheSizes& cache_sizes();

}  // namespace convkit::internal
