// Files that are never half-written and never clobbered by accident. Content goes to a new
// temporary file beside the target (created O_EXCL|O_NOFOLLOW|O_CLOEXEC, so a planted file or
// symlink is never written through), is fsynced, then renamed onto the target and the
// directory is fsynced. When overwriting is refused the rename itself refuses
// (renameat2 RENAME_NOREPLACE, else link + unlink): a file created by someone else in between
// is kept, never replaced. Also: an exclusive lock on a directory for read-modify-write
// updates (goldens). read_file (engine/core/file_reader.h) is re-exported for the readers.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "engine/core/file_reader.h"
#include "engine/core/status.h"

namespace wan {

enum class Overwrite { kRefuse, kAllow };

// Errors: FAILED_PRECONDITION if the target exists and overwrite is kRefuse (names the flag to
// pass: `overwrite_hint`); RESOURCE_EXHAUSTED when the disk is full; UNAVAILABLE with errno
// text for other I/O failures. On any error the target is untouched and no temporary is left.
Status write_file_atomically(const std::string& path, const std::string& content,
                             Overwrite overwrite, const std::string& overwrite_hint = "--force");

// The same rules for a writer that makes the file itself (write_safetensors): `produce` writes
// a complete file at the path it is given, inside a private (mode 0700) temporary directory
// beside `path`; that file is then fsynced and published as above. `produce`'s error is
// returned as is.
Status write_file_atomically_with(const std::string& path,
                                  const std::function<Status(const std::string& temp_path)>& produce,
                                  Overwrite overwrite, const std::string& overwrite_hint = "--force");

// The same rules for a folder of files (a video's PNG frames): `produce` fills the private
// temporary directory it is given; every file in it and the directory are fsynced, then the
// directory is renamed onto `path`. With kAllow an existing target (file or folder) is moved
// aside first and removed after the new one is in place.
Status write_directory_atomically(const std::string& path,
                                  const std::function<Status(const std::string& temp_dir)>& produce,
                                  Overwrite overwrite, const std::string& overwrite_hint = "--force");

// Checks, before any work, that none of `paths` (empty entries skipped) exists as a file, folder
// or link when overwriting is refused, so that a command fails before it runs rather than after.
// The writes themselves refuse again (a file may appear in between). Errors: FAILED_PRECONDITION
// naming the first occupied path and `overwrite_hint`.
Status refuse_existing_outputs(const std::vector<std::string>& paths, Overwrite overwrite,
                               const std::string& overwrite_hint = "--force");

// An exclusive advisory lock (flock) on a directory, held until destruction: serialises
// read-modify-write updates of files in it across processes (two `repro golden update` of one
// case at once would otherwise lose one). The directory is created if missing.
class DirectoryLock {
 public:
  static Result<DirectoryLock> acquire(const std::string& directory);
  DirectoryLock(DirectoryLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  DirectoryLock& operator=(DirectoryLock&&) = delete;
  // A copy would unlock twice.
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;
  ~DirectoryLock();

 private:
  explicit DirectoryLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace wan
