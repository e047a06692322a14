// Files that are never half-written: content goes to a temporary file in the same directory,
// is flushed to disk, then renamed over the target. Existing targets are kept unless the
// caller allows overwriting.
#pragma once

#include <string>

#include "engine/core/status.h"

namespace wan {

enum class Overwrite { kRefuse, kAllow };

// Errors: FAILED_PRECONDITION if the file exists and overwrite is kRefuse (names the flag to
// pass: `overwrite_hint`); NOT_FOUND / UNAVAILABLE with errno text for I/O failures.
Status write_file_atomically(const std::string& path, const std::string& content,
                             Overwrite overwrite, const std::string& overwrite_hint = "--force");

Result<std::string> read_file(const std::string& path);

}  // namespace wan
