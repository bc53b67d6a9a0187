#include "convkit/version.h"

namespace convkit {

#define CONVKIT_STR2(x) #x
#define CONVKIT_STR(x) CONVKIT_STR2(x)

const char* version() {
  return CONVKIT_STR(CONVKIT_VERSION_MAJOR) "." CONVKIT_STR(CONVKIT_VERSION_MINOR) "." CONVKIT_STR(CONVKIT_VERSION_PATCH);
}

}  // namespace convkit
