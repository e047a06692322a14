#include "harness/trace_file.h"

#include <algorithm>

#include "engine/core/json_reader.h"
#include "harness/atomic_file.h"

namespace wan {

std::string op_key(int step, std::string_view branch, int block, std::string_view op) {
  return std::to_string(step) + ":" + std::string(branch) + ":" + std::to_string(block) + ":" +
         std::string(op);
}


namespace {

constexpr const char* kTraceFix = "record it again with `repro trace --out FILE`";

// Only after validate_trace.
TraceRecord to_record(const nlohmann::json& j) {
  TraceRecord r;
  r.step = static_cast<int>(j["step"].get<int64_t>());
  r.branch = j["branch"].get<std::string>();
  r.block = static_cast<int>(j["block"].get<int64_t>());
  r.op = j["op"].get<std::string>();
  r.shape = j["shape"].get<Shape>();
  r.sha1 = j["sha1"].get<std::string>();
  r.chain = j["chain"].get<std::string>();
  return r;
}

}  // namespace

Result<nlohmann::json> read_trace_file(const std::string& path) {
  WAN_ASSIGN_OR_RETURN(const std::string text, read_file(path));
  const JsonSource source{"trace '" + path + "'", kTraceFix};
  WAN_ASSIGN_OR_RETURN(nlohmann::json trace, parse_json(text, source));
  WAN_RETURN_IF_ERROR(validate_trace(trace, source));
  return trace;
}

Result<TraceDiff> diff_traces(const nlohmann::json& a, const nlohmann::json& b) {
  WAN_RETURN_IF_ERROR(validate_trace(a, {"trace A", kTraceFix}));
  WAN_RETURN_IF_ERROR(validate_trace(b, {"trace B", kTraceFix}));
  const auto& ra = a["records"];
  const auto& rb = b["records"];
  TraceDiff d;
  {
    const size_t n = std::min(ra.size(), rb.size());
    for (size_t i = 0; i < n; ++i) {
      const TraceRecord x = to_record(ra[i]), y = to_record(rb[i]);
      if (x.step != y.step || x.branch != y.branch || x.block != y.block || x.op != y.op ||
          x.shape != y.shape) {
        d.structural = true;
        d.index = i;
        d.a = x;
        d.b = y;
        d.message = "the op sequences differ at record " + std::to_string(i) + ": " +
                    op_key(x.step, x.branch, x.block, x.op) + " " + shape_to_string(x.shape) + " vs " +
                    op_key(y.step, y.branch, y.block, y.op) + " " + shape_to_string(y.shape) +
                    " (different case or code path)";
        return d;
      }
      if (x.sha1 != y.sha1) {
        d.index = i;
        d.a = x;
        d.b = y;
        const std::string where =
            x.branch == "vae"
                ? "in the VAE decoder (after denoising; the latents are identical), latent frame " +
                      std::to_string(x.block)
                : "at step " + std::to_string(x.step) + ", " + x.branch + " forward, " +
                      (x.block < 0 ? std::string("outside the blocks") : "block " + std::to_string(x.block));
        d.message = "first divergence " + where + ", op " + x.op + " (record " + std::to_string(i) + " of " +
                    std::to_string(ra.size()) + ")";
        return d;
      }
    }
    if (ra.size() != rb.size()) {
      d.structural = true;
      d.index = n;
      d.message = "one trace ends early: " + std::to_string(ra.size()) + " vs " +
                  std::to_string(rb.size()) + " records, identical up to record " + std::to_string(n);
      return d;
    }
  }
  d.identical = true;
  d.message = "identical: all " + std::to_string(ra.size()) + " op hashes match";
  return d;
}

}  // namespace wan
