// convkit's exceptions: two kinds that callers handle differently, one base that catches both.
//
//   std::exception
//   ├── std::logic_error ── std::invalid_argument ── convkit::ArgumentError ──┐
//   └── std::runtime_error ───────────────────────── convkit::FileError ──────┤
//                                                    convkit::Error ◄─────────┘ (base of both)
//
// convkit::Error is an interface that does not itself derive from std::exception: each kind
// then has exactly one std::exception base, so all of these work and none is ambiguous:
//   catch (const convkit::Error&)          every convkit error
//   catch (const convkit::ArgumentError&)  a bad argument, shape, dtype or option
//   catch (const convkit::FileError&)      a malformed or unreadable file, a failed write
//   catch (const std::invalid_argument&)   argument errors (as before the split)
//   catch (const std::runtime_error&)      file errors
//   catch (const std::exception&)          everything
// Every message names the argument (or the file and field), the value received and what was
// expected, in PyTorch's words where PyTorch has a message for the case.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

#include "convkit/export.h"

namespace convkit {

/// The base of every exception convkit throws; what() is the message. Not constructible on
/// its own: a throw site picks ArgumentError or FileError.
class CONVKIT_API Error {
 public:
  virtual ~Error() = default;
  /// The message.
  virtual const char* what() const noexcept = 0;

 protected:
  /// @cond PROTECTED
  Error() = default;
  Error(const Error&) = default;
  Error& operator=(const Error&) = default;
  /// @endcond
};

/// A bad argument, shape, dtype or option value (also a std::invalid_argument).
class CONVKIT_API ArgumentError : public std::invalid_argument, public Error {
 public:
  /// An error with this message.
  explicit ArgumentError(const std::string& what) : std::invalid_argument(what) {}
  /// The message.
  const char* what() const noexcept override { return std::invalid_argument::what(); }
};

/// A file that cannot be read or written, or whose contents are malformed (also a
/// std::runtime_error). The message names the file.
class CONVKIT_API FileError : public std::runtime_error, public Error {
 public:
  /// An error with this message.
  explicit FileError(const std::string& what) : std::runtime_error(what) {}
  /// The message.
  const char* what() const noexcept override { return std::runtime_error::what(); }
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

/// CONVKIT_CHECK(cond, parts...) throws convkit::ArgumentError(parts...) when cond is false.
#define CONVKIT_CHECK(cond, ...)                                                                 \
  do {                                                                                           \
    if (!(cond)) throw ::convkit::ArgumentError(::convkit::internal::str_cat(__VA_ARGS__));      \
  } while (0)

/// CONVKIT_CHECK_FILE(cond, parts...) throws convkit::FileError(parts...) when cond is false;
/// the parts name the file.
#define CONVKIT_CHECK_FILE(cond, ...)                                                            \
  do {                                                                                           \
    if (!(cond)) throw ::convkit::FileError(::convkit::internal::str_cat(__VA_ARGS__));          \
  } while (0)
