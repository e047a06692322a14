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

// A program run under `repro exec`: its own process group (so a timeout ends its workers
// too), extra environment variables, standard output and error to files.
struct SpawnOptions {
  std::vector<std::string> extra_env;  // "KEY=VALUE", replacing inherited values of KEY
  std::string stdout_path, stderr_path;
  double timeout_seconds = 0;          // 0: none; else SIGTERM the group, SIGKILL 5 s later
};
struct SpawnResult {
  int pid = 0;
  int exit_code = -1;   // when it exited
  int signal = 0;       // when a signal ended it
  bool timed_out = false;
  int interrupted = 0;  // SIGINT/SIGTERM/SIGHUP that repro received meanwhile (forwarded to the group)
  double seconds = 0;   // spawn to exit
};
// UNAVAILABLE if the program could not start (the message says why). Its standard input is
// /dev/null. SIGINT, SIGTERM and SIGHUP sent to repro while it waits are forwarded to the
// program's process group. After the program exits, what is left of its group (stray
// workers) gets SIGTERM, and SIGKILL 2 s later.
Result<SpawnResult> spawn_and_wait(const std::vector<std::string>& argv, const SpawnOptions& options);

// PROGRAM as execvp would find it: a path with '/' as given, else the first executable on
// PATH. NOT_FOUND with the PATH searched, or naming the file that is not executable.
Result<std::string> resolve_program(const std::string& program);

}  // namespace wan::cli
