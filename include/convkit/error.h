// convkit::Error — the one exception type every invalid argument, shape or file raises.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace convkit {

/// Raised for every invalid argument, shape, dtype or file. The message names the values
/// received and what was expected (PyTorch's wording where PyTorch has one).
class Error : public std::invalid_argument {
 public:
  explicit Error(const std::string& what) : std::invalid_argument(what) {}
};

namespace internal {

template <typename... Args>
std::string str_cat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}

}  // namespace internal
}  // namespace convkit

/// CONVKIT_CHECK(cond, parts...) throws convkit::Error(parts...) when cond is false.
#define CONVKIT_CHECK(cond, ...)                                        \
  do {                                                                  \
    if (!(cond)) throw ::convkit::Error(::convkit::internal::str_cat(__VA_ARGS__)); \
  } while (0)
