#include "harness/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace wan {

Status write_file_atomically(const std::string& path, const std::string& content,
                             Overwrite overwrite, const std::string& overwrite_hint) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (overwrite == Overwrite::kRefuse && fs::exists(path, ec)) {
    return failed_precondition("'" + path + "' exists and was not overwritten; pass " +
                               overwrite_hint + " to replace it");
  }
  const fs::path target(path);
  if (target.has_parent_path()) fs::create_directories(target.parent_path(), ec);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    return unavailable("cannot create '" + tmp + "': " + std::strerror(errno) +
                       "; check that the directory exists and is writable");
  }
  size_t written = 0;
  while (written < content.size()) {
    const ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string err = std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return unavailable("writing '" + tmp + "' failed: " + err);
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const std::string err = std::strerror(errno);
    ::unlink(tmp.c_str());
    return unavailable("flushing '" + tmp + "' failed: " + err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string err = std::strerror(errno);
    ::unlink(tmp.c_str());
    return unavailable("renaming '" + tmp + "' to '" + path + "' failed: " + err);
  }
  return Status();
}

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found("cannot read '" + path + "': " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace wan
