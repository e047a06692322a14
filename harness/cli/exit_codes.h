// `repro` exit codes (documented in README.md and `repro help`).
#pragma once

#include "engine/core/status.h"

namespace wan::cli {

enum ExitCode : int {
  kExitOk = 0,               // done; outputs deterministic; golden matched, missing or not comparable
  kExitNondeterministic = 1, // repeated runs of one case gave different hashes
  kExitUsage = 2,            // bad command line: unknown flag, model, backend, bad value
  kExitBadInput = 3,         // unreadable or corrupt file (checkpoint, embeddings, golden, trace)
  kExitGoldenMismatch = 4,   // hash differs from the golden of the same environment class
  kExitTraceDiverged = 5,    // `trace --diff`: the traces differ
  kExitUnavailable = 6,      // no GPU, out of memory, CUPTI taken, I/O failure
  kExitRefused = 7,          // would overwrite a golden or report without --force
  kExitRegression = 8,       // `compare`/`ab`: significantly slower end to end
  kExitOutputMismatch = 9,   // `compare`/`ab`: outputs not bit-exact
  kExitInconclusive = 10,    // `compare`/`ab`: more runs needed for a verdict
  kExitProgramFailed = 11,   // `exec`: a run of the program failed, timed out or wrote no --hash file
  kExitNotComparable = 12,   // `compare`/`ab`: no common seed, or outputs differ across environments
  kExitInternal = 70,        // a bug
};

// The exit code for a failed Status.
inline int exit_code_for(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk: return kExitOk;
    case StatusCode::kInvalidArgument:
    case StatusCode::kNotFound:
    case StatusCode::kUnimplemented: return kExitUsage;
    case StatusCode::kDataLoss: return kExitBadInput;
    case StatusCode::kResourceExhausted:
    case StatusCode::kUnavailable: return kExitUnavailable;
    case StatusCode::kFailedPrecondition: return kExitRefused;
    case StatusCode::kInternal: return kExitInternal;
  }
  return kExitInternal;
}

}  // namespace wan::cli
