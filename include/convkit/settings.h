// Process-wide switches that change which algorithm `auto` picks (never a result's shape).
#pragma once

#include "convkit/export.h"

namespace convkit {

/// Whether `auto` may pick Winograd F(4x4, 3x3) (2-d 3x3) and F(4, 3) (1-d 3 taps) for
/// float32: up to ~2x faster on 3x3 layers with >= 32 channels, but their float32 error is
/// ~5-30x that of direct summation (docs/winograd.md), so PyTorch's results are not matched to
/// the usual tolerance. Off by default; CONVKIT_WINOGRAD=1 in the environment turns it on at
/// start. Plans made afterwards follow the new value (a module rebuilds its plan on its next
/// forward). `.algorithm("winograd")` on a layer's options forces Winograd either way.
CONVKIT_API void set_allow_fast_winograd(bool allow);
/// The current value of set_allow_fast_winograd().
CONVKIT_API bool allow_fast_winograd();

}  // namespace convkit
