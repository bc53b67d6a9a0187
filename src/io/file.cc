#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "convkit/io.h"

namespace convkit::io {

using internal::str_cat;

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  CONVKIT_CHECK_FILE(f.good(), "cannot open '", path, "' for reading: ", std::strerror(errno));
  std::ostringstream ss;
  ss << f.rdbuf();
  CONVKIT_CHECK_FILE(!f.bad(), "error reading '", path, "': ", std::strerror(errno));
  return ss.str();
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  CONVKIT_CHECK_FILE(!path.empty(), "cannot write a file with an empty path: expected an output file name");
  std::string tmpl = path + ".tmp-XXXXXX";
  const int fd = ::mkstemp(tmpl.data());
  CONVKIT_CHECK_FILE(fd >= 0, "cannot write '", path, "': ", std::strerror(errno));
  const char* p = bytes.data();
  std::size_t left = bytes.size();
  bool ok = true;
  int err = 0;
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      ok = false;
      err = errno;
      break;
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (ok && ::fsync(fd) != 0) ok = false, err = errno;
  if (::close(fd) != 0 && ok) ok = false, err = errno;
  // mkstemp makes the file 0600; give it the usual permissions before it becomes visible.
  if (ok) ::chmod(tmpl.c_str(), 0644);
  if (ok && std::rename(tmpl.c_str(), path.c_str()) != 0) ok = false, err = errno;
  if (!ok) {
    std::remove(tmpl.c_str());
    throw FileError(str_cat("cannot write '", path, "': ", std::strerror(err)));
  }
}

}  // namespace convkit::io
