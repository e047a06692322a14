// Trace documents as files: the record type, reading and validating a trace, and the first
// divergence of two traces by hash. No engine dependency (recording a trace is trace.h), so
// `repro trace --diff` input handling is fuzzed alone (tests/fuzz).
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/core/shape.h"
#include "engine/core/status.h"
#include "harness/file_schemas.h"

namespace wan {

// "step:branch:block:op", the key of one op's output in traces and dump files.
std::string op_key(int step, std::string_view branch, int block, std::string_view op);

struct TraceRecord {
  int step = 0;
  std::string branch;  // cond | uncond
  int block = -1;      // -1: outside the blocks
  std::string op;
  Shape shape;
  std::string sha1;    // of this op's output (canonical form)
  std::string chain;   // sha1(previous chain + sha1)
};

struct TraceDiff {
  bool identical = false;
  bool structural = false;  // the op sequences differ (different code paths), not just values
  size_t index = 0;         // first divergent record
  TraceRecord a, b;
  std::string message;
};

// Reads, parses (depth-limited) and validates a trace file.
Result<nlohmann::json> read_trace_file(const std::string& path);

// First divergence of two trace documents (JSON), by hash. DATA_LOSS when either fails
// validate_trace (file_schemas.h), naming "trace A" or "trace B".
Result<TraceDiff> diff_traces(const nlohmann::json& a, const nlohmann::json& b);

}  // namespace wan
