#include "engine/core/file_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "engine/core/scoped_fd.h"

namespace wan {

Result<std::string> read_file(const std::string& path) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; the type check below refuses it.
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (fd.get() < 0) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR) return not_found("cannot read '" + path + "': " + std::strerror(err));
    return unavailable("cannot read '" + path + "': " + std::strerror(err));
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return unavailable("cannot stat '" + path + "': " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) return invalid_argument("'" + path + "' is a directory; pass a file");
  if (!S_ISREG(st.st_mode))
    return invalid_argument("'" + path + "' is not a regular file (a FIFO, socket or device); pass a file");
  if (static_cast<uint64_t>(st.st_size) > kMaxReadFileBytes)
    return data_loss("'" + path + "' is " + std::to_string(st.st_size) + " bytes, more than the " +
                     std::to_string(kMaxReadFileBytes) + " any repro file has; pass the right file");
  const int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags >= 0) ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK);
  std::string content;
  content.reserve(static_cast<size_t>(st.st_size));
  char buffer[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return unavailable("reading '" + path + "' failed: " + std::strerror(errno));
    }
    if (n == 0) break;
    if (content.size() + static_cast<size_t>(n) > kMaxReadFileBytes)
      return data_loss("'" + path + "' grew past " + std::to_string(kMaxReadFileBytes) + " bytes while being read");
    content.append(buffer, static_cast<size_t>(n));
  }
  return content;
}

}  // namespace wan
