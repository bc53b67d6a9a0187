// Thread count for convkit's parallel paths. Results never depend on it: work is split over
// output tiles only, so every output element is computed by the same operations in the same
// order whatever the number of threads.
#pragma once

#include "convkit/export.h"

namespace convkit {

/// Threads used by convolutions (>= 1). Default: OMP_NUM_THREADS or the number of cores.
CONVKIT_API void set_num_threads(int n);
/// The thread count convolutions use now.
CONVKIT_API int get_num_threads();

}  // namespace convkit
