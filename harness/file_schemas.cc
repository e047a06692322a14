#include "harness/file_schemas.h"

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "engine/core/shape.h"

namespace wan {
namespace {

// Longest duration a report may hold (about 116 days): anything longer is not a measurement,
// and squares of such times (variances, sums of squares) stay far from overflowing a double.
constexpr double kMaxSeconds = 1e7;
constexpr double kMaxMicroseconds = kMaxSeconds * 1e6;

// Kernel launch dimensions (grid and block): three non-negative integers that fit CUDA's.
Status check_dim3(const JsonValue& kernel, std::string_view key) {
  WAN_ASSIGN_OR_RETURN(const JsonValue v, kernel.array_field(key));
  WAN_ASSIGN_OR_RETURN(const std::vector<int64_t> dims, v.as_int_array(0, std::numeric_limits<uint32_t>::max()));
  if (dims.size() != 3) return v.error("must hold 3 integers (x, y, z), got " + std::to_string(dims.size()));
  return Status();
}

Status check_kernel(const JsonValue& k) {
  WAN_RETURN_IF_ERROR(k.expect_object());
  WAN_RETURN_IF_ERROR(k.string_field_or("name", "").status());
  WAN_RETURN_IF_ERROR(k.string_field_or("range", "").status());
  WAN_RETURN_IF_ERROR(k.number_field("total_us", 0.0, kMaxMicroseconds).status());
  WAN_RETURN_IF_ERROR(k.int_field_or("count", 0, 0).status());
  WAN_RETURN_IF_ERROR(check_dim3(k, "grid"));
  WAN_RETURN_IF_ERROR(check_dim3(k, "block"));
  WAN_RETURN_IF_ERROR(k.int_field("registers", 0, std::numeric_limits<int32_t>::max()).status());
  WAN_RETURN_IF_ERROR(k.int_field("smem", 0, std::numeric_limits<int64_t>::max()).status());
  return Status();
}

Status check_run(const JsonValue& run) {
  WAN_RETURN_IF_ERROR(run.expect_object());
  WAN_RETURN_IF_ERROR(run.uint_field("seed").status());
  WAN_RETURN_IF_ERROR(run.string_field("latents_sha1").status());
  if (run.has("frames_sha1")) WAN_RETURN_IF_ERROR(run.sha1_field("frames_sha1").status());
  if (run.has("decode_seconds")) WAN_RETURN_IF_ERROR(run.number_field("decode_seconds", 0.0, kMaxSeconds).status());
  // A time of zero makes every ratio 0/0; no generation takes no time.
  WAN_ASSIGN_OR_RETURN(const double seconds, run.number_field("seconds", 0.0, kMaxSeconds));
  if (!(seconds > 0)) return run.error("has seconds 0; a measured run takes time");
  WAN_RETURN_IF_ERROR(run.int_field_or("pid", 0, 0, std::numeric_limits<int32_t>::max()).status());
  if (run.has("step_seconds")) {
    WAN_ASSIGN_OR_RETURN(const JsonValue steps, run.array_field("step_seconds"));
    WAN_ASSIGN_OR_RETURN(const auto items, steps.elements());
    for (const JsonValue& s : items) WAN_RETURN_IF_ERROR(s.as_number(0.0, kMaxSeconds).status());
  }
  if (run.has("loop_gpu_timeline")) {
    WAN_ASSIGN_OR_RETURN(const JsonValue t, run.object_field("loop_gpu_timeline"));
    WAN_ASSIGN_OR_RETURN(const double kernel_ms, t.number_field("kernel_ms", 0.0, kMaxSeconds * 1e3));
    WAN_ASSIGN_OR_RETURN(const double busy_ms, t.number_field("busy_ms", 0.0, kMaxSeconds * 1e3));
    WAN_ASSIGN_OR_RETURN(const double span_ms, t.number_field("span_ms", 0.0, kMaxSeconds * 1e3));
    if (busy_ms > kernel_ms * (1 + 1e-9) + 1e-6 || busy_ms > span_ms * (1 + 1e-9) + 1e-6)
      return t.error("has busy_ms above kernel_ms or span_ms; the GPU cannot be busy longer than its kernels ran");
  }
  if (run.has("kernels")) {
    WAN_ASSIGN_OR_RETURN(const JsonValue kernels, run.array_field("kernels"));
    WAN_ASSIGN_OR_RETURN(const auto items, kernels.elements());
    for (const JsonValue& k : items) WAN_RETURN_IF_ERROR(check_kernel(k));
  }
  return Status();
}

Status check_record(const JsonValue& r) {
  WAN_RETURN_IF_ERROR(r.expect_object());
  // Step -1: the VAE decoder's ops (branch "vae"), after the denoising steps.
  WAN_ASSIGN_OR_RETURN(const int64_t step, r.int_field("step", -1, std::numeric_limits<int>::max()));
  WAN_ASSIGN_OR_RETURN(const std::string branch, r.string_field("branch"));
  if ((step == -1) != (branch == "vae")) return r.error("has step -1 only with branch vae (the decoder's ops)");
  WAN_RETURN_IF_ERROR(r.int_field("block", -1, std::numeric_limits<int>::max()).status());
  WAN_RETURN_IF_ERROR(r.string_field("op").status());
  WAN_ASSIGN_OR_RETURN(const JsonValue shape, r.array_field("shape"));
  WAN_ASSIGN_OR_RETURN(const Shape dims, shape.as_int_array(0));
  if (!checked_shape_numel(dims).ok()) return shape.error("has more elements than an int64 counts");
  WAN_RETURN_IF_ERROR(r.sha1_field("sha1").status());
  WAN_RETURN_IF_ERROR(r.sha1_field("chain").status());
  return Status();
}

}  // namespace

Status validate_run_report(const nlohmann::json& report, const JsonSource& source) {
  const JsonValue root(report, source);
  WAN_ASSIGN_OR_RETURN(const std::string schema, root.string_field("schema"));
  if (schema != "wan-repro.run") return root.field("schema").value().error("is \"" + schema + "\", not \"wan-repro.run\"");
  WAN_RETURN_IF_ERROR(root.int_field_or("schema_version", kRunReportSchemaVersion, kRunReportSchemaVersion,
                                         kRunReportSchemaVersion).status());
  WAN_RETURN_IF_ERROR(root.string_field_or("kind", "").status());
  WAN_RETURN_IF_ERROR(root.string_field_or("case_id", "").status());
  for (const char* object : {"tool", "fingerprint", "case"}) {
    if (root.has(object)) WAN_RETURN_IF_ERROR(root.object_field(object).status());
  }
  if (root.has("tool")) WAN_RETURN_IF_ERROR(root.object_field("tool").value().string_field_or("engine_commit", "").status());
  if (root.has("fingerprint")) {
    const JsonValue fp = root.object_field("fingerprint").value();
    WAN_RETURN_IF_ERROR(fp.string_field_or("gpu_name", "").status());
    WAN_RETURN_IF_ERROR(fp.string_field_or("cpu_model", "").status());
  }
  WAN_ASSIGN_OR_RETURN(const JsonValue runs, root.array_field("runs"));
  WAN_ASSIGN_OR_RETURN(const auto items, runs.elements());
  if (items.empty()) return runs.error("is empty; a report needs at least one run");
  for (const JsonValue& run : items) WAN_RETURN_IF_ERROR(check_run(run));
  return Status();
}

Status validate_trace(const nlohmann::json& trace, const JsonSource& source) {
  const JsonValue root(trace, source);
  WAN_ASSIGN_OR_RETURN(const std::string schema, root.string_field("schema"));
  if (schema != "wan-repro.trace") return root.field("schema").value().error("is \"" + schema + "\", not \"wan-repro.trace\"");
  WAN_ASSIGN_OR_RETURN(const int64_t version, root.int_field("schema_version"));
  if (version != kTraceSchemaVersion)
    return root.error("has schema_version " + std::to_string(version) + ", this build reads " +
                      std::to_string(kTraceSchemaVersion));
  WAN_RETURN_IF_ERROR(root.string_field_or("dump_file", "").status());
  WAN_RETURN_IF_ERROR(root.string_field_or("final_latents_sha1", "").status());
  WAN_RETURN_IF_ERROR(root.string_field_or("final_frames_sha1", "").status());
  if (root.has("command")) WAN_RETURN_IF_ERROR(root.field("command").value().as_string_array().status());
  WAN_ASSIGN_OR_RETURN(const JsonValue records, root.array_field("records"));
  WAN_ASSIGN_OR_RETURN(const auto items, records.elements());
  for (const JsonValue& r : items) WAN_RETURN_IF_ERROR(check_record(r));
  return Status();
}

Status validate_golden(const nlohmann::json& j, const JsonSource& source) {
  const JsonValue root(j, source);
  WAN_ASSIGN_OR_RETURN(const int64_t version, root.int_field("schema_version"));
  if (version != kGoldenSchemaVersion)
    return root.error("has schema_version " + std::to_string(version) + ", this build reads " +
                      std::to_string(kGoldenSchemaVersion));
  WAN_RETURN_IF_ERROR(root.object_field("case").status());
  WAN_ASSIGN_OR_RETURN(const JsonValue goldens, root.object_field("goldens"));
  WAN_ASSIGN_OR_RETURN(const auto classes, goldens.members());
  for (const auto& [class_id, g] : classes) {
    WAN_RETURN_IF_ERROR(g.expect_object());
    WAN_RETURN_IF_ERROR(g.sha1_field("latents_sha1").status());
    if (g.has("frames_sha1")) WAN_RETURN_IF_ERROR(g.sha1_field("frames_sha1").status());
    WAN_RETURN_IF_ERROR(g.object_field("fingerprint_class").status());
    if (g.has("recorded")) {
      WAN_ASSIGN_OR_RETURN(const JsonValue recorded, g.object_field("recorded"));
      WAN_RETURN_IF_ERROR(recorded.string_field_or("engine_commit", "").status());
      WAN_RETURN_IF_ERROR(recorded.string_field_or("date", "").status());
      if (recorded.has("fingerprint")) WAN_RETURN_IF_ERROR(recorded.object_field("fingerprint").status());
    }
  }
  return Status();
}

std::string describe_class_difference(const nlohmann::json& a, const nlohmann::json& b) {
  std::string out;
  for (auto it = a.begin(); it != a.end(); ++it) {
    const auto other = b.find(it.key());
    if (other == b.end()) {
      out += (out.empty() ? "" : "; ") + it.key() + ": " + it.value().dump() + " -> (absent)";
    } else if (*other != it.value()) {
      out += (out.empty() ? "" : "; ") + it.key() + ": " + it.value().dump() + " -> " + other->dump();
    }
  }
  for (auto it = b.begin(); it != b.end(); ++it) {
    if (!a.contains(it.key())) out += (out.empty() ? "" : "; ") + it.key() + ": (absent) -> " + it.value().dump();
  }
  return out;
}

}  // namespace wan
