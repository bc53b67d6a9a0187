// convkit's version. convkit follows semantic versioning (https://semver.org): while the major
// version is 0, a minor release may change the API and ABI and a patch release does not.
#pragma once

#include "convkit/export.h"

#define CONVKIT_VERSION_MAJOR 0
#define CONVKIT_VERSION_MINOR 2
#define CONVKIT_VERSION_PATCH 0

/// The version as one number, major * 10000 + minor * 100 + patch, for #if comparisons.
#define CONVKIT_VERSION (CONVKIT_VERSION_MAJOR * 10000 + CONVKIT_VERSION_MINOR * 100 + CONVKIT_VERSION_PATCH)

namespace convkit {

/// The version of the library the program runs with, "major.minor.patch" (the headers' is
/// CONVKIT_VERSION_*; they differ when a program runs with another shared library).
CONVKIT_API const char* version();

}  // namespace convkit
