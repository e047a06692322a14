#include "harness/atomic_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>

#include "engine/core/scoped_fd.h"

namespace wan {
namespace {

namespace fs = std::filesystem;

// Attempts at a fresh temporary name before giving up (each name is 48 random bits).
constexpr int kTempNameAttempts = 16;

Status io_error(const std::string& what, int err) {
  const std::string text = what + ": " + std::strerror(err);
  if (err == ENOSPC || err == EDQUOT) return resource_exhausted(text + "; free some disk space and retry");
  return unavailable(text + "; check that the directory exists and is writable");
}

Status refused(const std::string& path, const std::string& hint) {
  return failed_precondition("'" + path + "' exists and was not overwritten; pass " + hint + " to replace it");
}

std::string temp_name(const std::string& path) {
  static std::random_device device;
  static std::mt19937_64 gen(device());
  static const char kHex[] = "0123456789abcdef";
  std::string suffix;
  uint64_t bits = gen();
  for (int i = 0; i < 12; ++i, bits >>= 4) suffix += kHex[bits & 15];
  return path + ".tmp." + std::to_string(::getpid()) + "." + suffix;
}

std::string directory_of(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? "." : parent.string();
}

// True when something (a file, a directory, a dangling symlink) is at `path`.
bool occupied(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

Status prepare(const std::string& path, Overwrite overwrite, const std::string& hint) {
  // Failing early saves the caller's work; the rename below is what makes refusal reliable.
  if (overwrite == Overwrite::kRefuse && occupied(path)) return refused(path, hint);
  std::error_code ec;
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) fs::create_directories(parent, ec);  // a failure shows at open()
  return Status();
}

Status fsync_directory(const std::string& dir) {
  ScopedFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return io_error("opening directory '" + dir + "' to flush it", errno);
  // Some file systems cannot fsync a directory (EINVAL); their renames are as durable as
  // they get.
  if (::fsync(fd.get()) != 0 && errno != EINVAL) return io_error("flushing directory '" + dir + "'", errno);
  if (fd.close_now() != 0) return io_error("closing directory '" + dir + "'", errno);
  return Status();
}

// Renames `temp` onto `path`; with kRefuse, never replaces what is there. The caller removes
// `temp` when this fails. *renamed says whether `path` now holds the new content (true also
// when only the final directory flush failed: the content is complete but may not survive a
// crash).
Status publish(const std::string& temp, const std::string& path, Overwrite overwrite, const std::string& hint,
               bool* renamed = nullptr) {
  if (renamed) *renamed = false;
  if (overwrite == Overwrite::kAllow) {
    if (::rename(temp.c_str(), path.c_str()) != 0)
      return io_error("renaming '" + temp + "' to '" + path + "'", errno);
  } else if (::renameat2(AT_FDCWD, temp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) != 0) {
    if (errno == EEXIST) return refused(path, hint);
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
      return io_error("renaming '" + temp + "' to '" + path + "'", errno);
    // No RENAME_NOREPLACE on this file system: link() refuses an existing target atomically.
    if (::link(temp.c_str(), path.c_str()) != 0) {
      if (errno == EEXIST) return refused(path, hint);
      return io_error("linking '" + temp + "' to '" + path + "'", errno);
    }
    ::unlink(temp.c_str());
  }
  if (renamed) *renamed = true;
  const Status flushed = fsync_directory(directory_of(path));
  if (!flushed.ok())
    return Status(flushed.code(), "'" + path + "' was written in full, but " + flushed.message() +
                                      " (the rename may not survive a crash)");
  return flushed;
}

// A new mode-0700 directory beside `path` under a random temporary name.
Result<std::string> make_private_directory(const std::string& path) {
  std::string dir;
  for (int attempt = 0; attempt < kTempNameAttempts; ++attempt) {
    dir = temp_name(path);
    if (::mkdir(dir.c_str(), 0700) == 0) return dir;
    if (errno != EEXIST) break;
  }
  return io_error("cannot create directory '" + dir + "'", errno);
}

}  // namespace

Status write_file_atomically(const std::string& path, const std::string& content, Overwrite overwrite,
                             const std::string& overwrite_hint) {
  WAN_RETURN_IF_ERROR(prepare(path, overwrite, overwrite_hint));
  std::string temp;
  int raw_fd = -1;
  for (int attempt = 0; attempt < kTempNameAttempts && raw_fd < 0; ++attempt) {
    temp = temp_name(path);
    // O_EXCL: never an existing file; O_NOFOLLOW: never through a planted symlink.
    raw_fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (raw_fd < 0 && errno != EEXIST) break;
  }
  if (raw_fd < 0) return io_error("cannot create '" + temp + "'", errno);
  ScopedFd fd(raw_fd);
  auto fail = [&](const std::string& what, int err) {
    ::unlink(temp.c_str());
    return io_error(what, err);
  };
  size_t written = 0;
  while (written < content.size()) {
    const ssize_t n = ::write(fd.get(), content.data() + written, content.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("writing '" + temp + "'", errno);
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return fail("flushing '" + temp + "'", errno);
  if (fd.close_now() != 0) return fail("closing '" + temp + "'", errno);
  const Status published = publish(temp, path, overwrite, overwrite_hint);
  if (!published.ok()) ::unlink(temp.c_str());
  return published;
}

Status write_file_atomically_with(const std::string& path,
                                  const std::function<Status(const std::string& temp_path)>& produce,
                                  Overwrite overwrite, const std::string& overwrite_hint) {
  WAN_RETURN_IF_ERROR(prepare(path, overwrite, overwrite_hint));
  // A private directory: nobody else can plant a file or symlink where `produce` writes.
  WAN_ASSIGN_OR_RETURN(const std::string dir, make_private_directory(path));
  const std::string temp = (fs::path(dir) / fs::path(path).filename()).string();
  auto cleanup = [&] {
    std::error_code ec;
    fs::remove_all(dir, ec);
  };
  const Status produced = produce(temp);
  if (!produced.ok()) {
    cleanup();
    return produced;
  }
  Status s;
  {
    ScopedFd fd(::open(temp.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    struct stat st;
    if (fd.get() < 0) {
      s = io_error("reopening '" + temp + "' to flush it", errno);
    } else if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
      s = internal_error("the writer of '" + path + "' left no regular file at '" + temp + "'");
    } else if (::fsync(fd.get()) != 0) {
      s = io_error("flushing '" + temp + "'", errno);
    }
  }
  if (s.ok()) s = publish(temp, path, overwrite, overwrite_hint);
  cleanup();
  return s;
}

Status write_directory_atomically(const std::string& path,
                                  const std::function<Status(const std::string& temp_dir)>& produce,
                                  Overwrite overwrite, const std::string& overwrite_hint) {
  WAN_RETURN_IF_ERROR(prepare(path, overwrite, overwrite_hint));
  WAN_ASSIGN_OR_RETURN(const std::string dir, make_private_directory(path));
  auto remove = [](const std::string& p) {
    std::error_code ec;
    fs::remove_all(p, ec);
  };
  Status s = produce(dir);
  if (s.ok()) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      ScopedFd fd(::open(entry.path().c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (fd.get() < 0 || ::fsync(fd.get()) != 0) {
        s = io_error("flushing '" + entry.path().string() + "'", errno);
        break;
      }
    }
    if (s.ok() && ec) s = io_error("listing '" + dir + "'", ec.value());
  }
  if (s.ok()) s = fsync_directory(dir);
  if (s.ok() && ::chmod(dir.c_str(), 0755) != 0) s = io_error("making '" + dir + "' readable", errno);
  if (!s.ok()) {
    remove(dir);
    return s;
  }
  std::string aside;
  if (overwrite == Overwrite::kAllow && occupied(path)) {
    aside = temp_name(path) + ".old";
    if (::rename(path.c_str(), aside.c_str()) != 0) {
      const int err = errno;
      remove(dir);
      return io_error("moving the existing '" + path + "' aside", err);
    }
  }
  bool renamed = false;
  s = publish(dir, path, Overwrite::kRefuse, overwrite_hint, &renamed);
  if (!s.ok() && renamed) {
    // The new folder is in place but its directory entry may not be durable: keep the old
    // one where it was moved and say where.
    if (!aside.empty()) return Status(s.code(), s.message() + "; the previous '" + path + "' is kept at '" + aside + "'");
    return s;
  }
  if (!s.ok()) {
    remove(dir);
    if (!aside.empty()) ::rename(aside.c_str(), path.c_str());  // put the old one back
    return s;
  }
  if (!aside.empty()) remove(aside);
  return Status();
}

Result<DirectoryLock> DirectoryLock::acquire(const std::string& directory) {
  std::error_code ec;
  fs::create_directories(directory, ec);
  const int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return io_error("cannot open directory '" + directory + "' to lock it", errno);
  DirectoryLock lock(fd);
  while (::flock(fd, LOCK_EX) != 0) {
    if (errno != EINTR) return io_error("cannot lock directory '" + directory + "'", errno);
  }
  return Result<DirectoryLock>(std::move(lock));
}

DirectoryLock::~DirectoryLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

Status refuse_existing_outputs(const std::vector<std::string>& paths, Overwrite overwrite,
                               const std::string& overwrite_hint) {
  if (overwrite == Overwrite::kAllow) return Status();
  for (const std::string& path : paths) {
    if (path.empty()) continue;
    struct stat st;
    if (::lstat(path.c_str(), &st) == 0) return refused(path, overwrite_hint);
    if (errno != ENOENT) return io_error("cannot tell whether '" + path + "' exists", errno);
  }
  return Status();
}

}  // namespace wan
