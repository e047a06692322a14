// The file formats the harness reads, each validated once before any field is used: run
// reports (`repro run`, `repro bench`), trace files (`repro trace`) and golden files. Every
// check goes through the checked JSON reader, so a malformed file is DATA_LOSS naming the file,
// the field path and the fix. Pure functions over parsed JSON: no I/O, no engine, so the fuzz
// targets (tests/fuzz) link them alone.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "engine/core/json_reader.h"
#include "engine/core/status.h"

namespace wan {

inline constexpr int kRunReportSchemaVersion = 1;
inline constexpr int kTraceSchemaVersion = 1;
inline constexpr int kGoldenSchemaVersion = 1;
// latents_sha1 of a `repro exec` run that hashed no output file (no --hash): never compared.
inline constexpr const char* kUnhashedOutputs = "unhashed";

// Every field `repro compare` reads: schema "wan-repro.run", optional schema_version 1; runs: a
// non-empty array of {seed, latents_sha1, seconds > 0, optional pid, step_seconds, kernels:
// [{name, range, total_us >= 0, grid, block, registers, smem}], loop_gpu_timeline {kernel_ms,
// busy_ms <= both kernel_ms and span_ms, span_ms}}; numbers finite, durations at most 1e7 s,
// integers in range.
Status validate_run_report(const nlohmann::json& report, const JsonSource& source);

// Every field a trace reader uses: schema "wan-repro.trace", schema_version 1, records
// [{step >= 0, branch, block >= -1, op, shape (dims >= 0, element count within int64), sha1,
// chain}], optional dump_file (string), command (strings), final_latents_sha1 (string).
Status validate_trace(const nlohmann::json& trace, const JsonSource& source);

// A golden file: schema_version 1, case (object), goldens: {class id: {latents_sha1 (40 hex
// digits), fingerprint_class (object), optional recorded {engine_commit, date, fingerprint}}}.
Status validate_golden(const nlohmann::json& golden, const JsonSource& source);

// Human-readable differences between two fingerprint class_fields objects ("gpu_name: A -> B;
// cudnn_version: (absent) -> 91900"), in the first object's key order; empty when equal.
std::string describe_class_difference(const nlohmann::json& a, const nlohmann::json& b);

}  // namespace wan
