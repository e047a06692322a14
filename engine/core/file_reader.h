// Reading a whole file that a user named: only regular files (a FIFO or device is refused
// without blocking on it), bounded in size, errors that say what to pass instead.
#pragma once

#include <cstddef>
#include <string>

#include "engine/core/status.h"

namespace wan {

// Largest file read_file accepts: far above any report, golden, trace or config.
inline constexpr size_t kMaxReadFileBytes = size_t{1} << 30;

// The whole content of a regular file. Errors: NOT_FOUND (missing), INVALID_ARGUMENT (a
// directory, FIFO or device: opened without blocking, never read), DATA_LOSS (larger than
// kMaxReadFileBytes), UNAVAILABLE (other I/O failures).
Result<std::string> read_file(const std::string& path);

}  // namespace wan
