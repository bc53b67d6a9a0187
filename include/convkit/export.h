// CONVKIT_API marks the public API: the shared library is built with hidden visibility and
// exports exactly these declarations (classes, functions and the module templates'
// instantiations); everything in convkit::internal and the kernels stays inside it.
#pragma once

#if defined(_WIN32)
#define CONVKIT_API
#else
#define CONVKIT_API __attribute__((visibility("default")))
#endif
