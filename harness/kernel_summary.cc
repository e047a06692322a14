#include "harness/kernel_summary.h"

#include <algorithm>
#include <map>
#include <utility>

namespace wan {

std::string range_group(const std::string& path) {
  std::string out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    const std::string part = path.substr(i, j - i);
    if (part == "step" || part == "frame") {  // skip "step/N" and the VAE's "frame/N"
      const size_t k = path.find('/', j + 1);
      i = k == std::string::npos ? path.size() : k + 1;
      continue;
    }
    out += (out.empty() ? "" : "/") + part;
    i = j + 1;
  }
  return out;
}

nlohmann::json summarize_kernels(const std::vector<KernelRecord>& records, double* total_ms, double* span_ms) {
  struct Group {
    int64_t count = 0;
    uint64_t ns = 0;
    const KernelRecord* first = nullptr;
  };
  std::map<std::pair<std::string, std::string>, Group> groups;
  uint64_t total = 0, lo = UINT64_MAX, hi = 0;
  for (const KernelRecord& r : records) {
    Group& g = groups[{r.name, range_group(r.range)}];
    ++g.count;
    g.ns += r.end_ns - r.start_ns;
    if (!g.first) g.first = &r;
    total += r.end_ns - r.start_ns;
    lo = std::min(lo, r.start_ns);
    hi = std::max(hi, r.end_ns);
  }
  *total_ms = total / 1e6;
  *span_ms = records.empty() ? 0.0 : (hi - lo) / 1e6;
  std::vector<nlohmann::json> out;
  for (const auto& [key, g] : groups) {
    const KernelRecord& f = *g.first;
    out.push_back({{"name", key.first}, {"range", key.second}, {"count", g.count}, {"total_us", g.ns / 1e3},
                   {"grid", {f.grid[0], f.grid[1], f.grid[2]}}, {"block", {f.block[0], f.block[1], f.block[2]}},
                   {"registers", f.registers}, {"smem", f.static_smem + f.dynamic_smem}});
  }
  std::stable_sort(out.begin(), out.end(), [](const nlohmann::json& a, const nlohmann::json& b) {
    return a["total_us"].get<double>() > b["total_us"].get<double>();
  });
  return out;
}

bool is_loop_range(const std::string& group) {
  return group == "denoising" || group.rfind("denoising/", 0) == 0;
}

GpuTimeline loop_gpu_timeline(const std::vector<KernelRecord>& records) {
  std::vector<std::pair<uint64_t, uint64_t>> intervals;
  for (const KernelRecord& r : records)
    if (is_loop_range(range_group(r.range))) intervals.emplace_back(r.start_ns, std::max(r.start_ns, r.end_ns));
  if (intervals.empty())
    for (const KernelRecord& r : records) intervals.emplace_back(r.start_ns, std::max(r.start_ns, r.end_ns));
  GpuTimeline t;
  if (intervals.empty()) return t;
  std::sort(intervals.begin(), intervals.end());
  uint64_t total = 0, busy = 0, open_start = intervals[0].first, open_end = intervals[0].first, last_end = 0;
  for (const auto& [start, end] : intervals) {
    total += end - start;
    last_end = std::max(last_end, end);
    if (start > open_end) {  // a gap: close the merged interval
      busy += open_end - open_start;
      open_start = start;
      open_end = end;
    } else {
      open_end = std::max(open_end, end);
    }
  }
  busy += open_end - open_start;
  t.kernel_ms = total / 1e6;
  t.busy_ms = busy / 1e6;
  t.span_ms = (last_end - intervals[0].first) / 1e6;
  return t;
}

nlohmann::json timeline_json(const GpuTimeline& t) {
  return {{"kernel_ms", t.kernel_ms}, {"busy_ms", t.busy_ms}, {"span_ms", t.span_ms}};
}

}  // namespace wan
