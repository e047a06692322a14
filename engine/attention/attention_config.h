// The structured attention configuration of a run: which backend serves self-attention and
// its options, parsed from `--backend NAME[:key=value,...]` ("video_sparse:sparsity=0.9",
// "dense:kernel=sm90_plain"). It is part of the recorded case: its canonical string (options
// that differ from their defaults, keys sorted) goes into the case JSON, the case id and the
// golden id; every report carries the full option set. Nothing under kernels/ reads the
// environment: every choice that can change bits travels in this config.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "engine/core/status.h"

namespace wan {

enum class AttentionBackendKind {
  kDense,
  kVideoSparse,
  kSlidingTile,
  kBlockSparse,
  kSparseLinear,
  kVideoMoba,
  kSage,
};

// One option a backend accepts: a choice among names, or a number in a range.
struct AttentionOptionSpec {
  std::string key;
  std::string default_value;          // canonical text of the default
  std::vector<std::string> choices;   // non-empty: one of these
  double min = 0, max = 0;            // choices empty: a number in [min, max) (max_inclusive: ])
  bool max_inclusive = false;
  std::string help;
  // Non-null: a free-form value ("3x3x5", a file path) checked by this function, which returns
  // its canonical text, or for a file option (is_file) the SHA-1 of the file's canonical content.
  Result<std::string> (*parse_text)(const std::string& value) = nullptr;
  // The value is a path: the case records the content digest (canonical() and the golden id
  // stay the same wherever the file lives; a changed file is a different case).
  bool is_file = false;
  std::string describe() const;       // "sparsity: number in [0, 1), default 0.9"
};

struct AttentionConfig {
  AttentionBackendKind kind = AttentionBackendKind::kDense;
  std::map<std::string, std::string> options;  // every option of the backend, resolved
  std::map<std::string, std::string> file_digests;  // file options given: key -> content SHA-1

  std::string_view backend_name() const;
  const std::string& option(const std::string& key) const;  // resolved value (exists)
  double number(const std::string& key) const;              // numeric option
  // "video_sparse:sparsity=0.9" (non-default options only; "dense" when all are defaults; a
  // file option appears as its digest's first 12 hex digits: "sliding_tile:strategy=3f2a...").
  std::string canonical() const;
  // A file-name-safe form of canonical(): "video_sparse-sparsity0.9".
  std::string file_tag() const;
  nlohmann::json to_json() const;  // {"backend": name, "options": {all resolved}}
};

// Parses "NAME[:key=value,...]"; errors list every backend of the table, or every option of
// the backend with its valid values (StatusCode kInvalidArgument, exit code 2 in the CLI).
Result<AttentionConfig> parse_attention_config(std::string_view text);

}  // namespace wan
