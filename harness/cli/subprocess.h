// Runs another program (no shell) and waits for it: the one place `repro` starts processes
// (fresh-process runs, trace re-runs, A/B builds, benchmark binaries).
#pragma once

#include <string>
#include <vector>

#include "engine/core/status.h"

namespace wan::cli {

// argv[0] is the executable path. Returns its exit code; UNAVAILABLE if it could not start,
// INTERNAL if a signal ended it. discard_stdout sends its standard output to /dev/null.
Result<int> run_subprocess(const std::vector<std::string>& argv, bool discard_stdout = false);

}  // namespace wan::cli
