// golden/: one readable JSON file per case (golden/<case_id>.json) holding the expected
// latents SHA-1 per environment fingerprint class. Verdicts: match, mismatch (same class:
// a real change), not_comparable (no golden for this class: environment changed), missing.
// Updates show old vs new and never overwrite a different hash without force.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "engine/core/status.h"
#include "harness/file_schemas.h"
#include "harness/fingerprint.h"
#include "harness/run_case.h"

namespace wan {

enum class GoldenVerdict { kMatch, kMismatch, kNotComparable, kMissing };
std::string_view golden_verdict_name(GoldenVerdict v);  // "match", "mismatch", ...

struct GoldenCheck {
  GoldenVerdict verdict = GoldenVerdict::kMissing;
  std::string file;
  std::string expected_sha1;       // for match / mismatch
  std::string expected_frames_sha1;  // decoded-video cases: the frames hash recorded beside
  std::string recorded_commit;     // when the golden was recorded
  std::string message;             // one line for humans
};

std::string golden_path(const std::string& golden_dir, const RunCase& run_case);

// Errors only for unreadable or invalid golden files (DATA_LOSS naming the file and fix).
// frames_sha1: the decoded video's hash for cases with a VAE ("" otherwise); a match needs
// both hashes to agree, and a mismatch says which one differs.
Result<GoldenCheck> check_golden(const std::string& golden_dir, const RunCase& run_case,
                                 const Fingerprint& fingerprint, const std::string& latents_sha1,
                                 const std::string& frames_sha1 = "");

struct GoldenUpdate {
  bool changed = false;   // file written
  std::string old_sha1;   // "" if none for this class
  std::string new_sha1;
  std::string old_frames_sha1, new_frames_sha1;
  std::string file;
};

// Records latents_sha1 (and frames_sha1 when not empty) for the fingerprint's class. A different existing hash for the same
// class is replaced only with force (FAILED_PRECONDITION otherwise, showing old and new).
Result<GoldenUpdate> update_golden(const std::string& golden_dir, const RunCase& run_case,
                                   const Fingerprint& fingerprint, const std::string& latents_sha1,
                                   bool force, const std::string& frames_sha1 = "");

// Parses and validates a golden file (schema, fields), for check/update and for tests.
Result<nlohmann::json> read_golden_file(const std::string& path);

}  // namespace wan
