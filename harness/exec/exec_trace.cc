#include "harness/exec/exec_trace.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <limits>
#include <sstream>
#include <unordered_map>

#include "engine/core/file_reader.h"
#include "harness/exec/range_names.h"

namespace wan {
namespace {

std::vector<std::string> split_tabs(const std::string& line, size_t max_fields) {
  std::vector<std::string> out;
  size_t i = 0;
  while (out.size() + 1 < max_fields) {
    const size_t j = line.find('\t', i);
    if (j == std::string::npos) break;
    out.push_back(line.substr(i, j - i));
    i = j + 1;
  }
  out.push_back(line.substr(i));
  return out;
}

bool to_u64(const std::string& s, uint64_t* v) {
  if (s.empty() || s.size() > 20 || s.find_first_not_of("0123456789") != std::string::npos) return false;
  errno = 0;
  char* end = nullptr;
  const unsigned long long x = std::strtoull(s.c_str(), &end, 10);
  if (errno != 0 || *end) return false;
  *v = x;
  return true;
}

bool to_int(const std::string& s, int* v) {
  uint64_t x = 0;
  if (!to_u64(s, &x) || x > static_cast<uint64_t>(std::numeric_limits<int>::max())) return false;
  *v = static_cast<int>(x);
  return true;
}

}  // namespace

bool ExecTrace::any_cupti() const {
  for (const auto& p : processes)
    if (p.cupti) return true;
  return false;
}

std::string ExecTrace::unavailable_reason() const {
  if (any_cupti()) return "";
  for (const auto& p : processes)
    if (!p.unavailable.empty()) return p.unavailable;
  if (processes.empty())
    return "no process of the program loaded the injection library (no CUDA? or a profiler replaced "
           "CUDA_INJECTION64_PATH)";
  return "no process of the program initialised CUDA under the injection library";
}

Result<ExecProcessTrace> parse_exec_trace(const std::string& text, const std::string& file,
                                          std::vector<KernelRecord>* kernels,
                                          std::map<std::string, std::vector<double>>* timed) {
  ExecProcessTrace p;
  p.file = file;
  if (text.compare(0, 20, "# repro-exec-trace 1") != 0)
    return data_loss("'" + file + "' is not a repro exec trace (no '# repro-exec-trace 1' header)");
  std::unordered_map<uint64_t, std::string> path_of{{0, ""}};
  std::unordered_map<uint64_t, uint64_t> external_of;  // correlation -> path id
  struct Raw {
    KernelRecord record;
    uint64_t correlation;
  };
  std::vector<Raw> raw;
  std::vector<std::pair<uint64_t, uint64_t>> timed_raw;  // path id, ns
  uint64_t open_start = 0;
  bool window_open = false;
  std::istringstream in(text);
  std::string line;
  bool first = true;
  while (std::getline(in, line)) {
    const bool last_line_unterminated = in.eof();
    if (first) {
      first = false;
      continue;
    }
    if (line.empty()) continue;
    if (last_line_unterminated) {  // the process died mid-write
      ++p.malformed_lines;
      break;
    }
    const char tag = line[0];
    if (line.size() < 2 || line[1] != '\t') {
      ++p.malformed_lines;
      continue;
    }
    const std::string body = line.substr(2);
    bool ok = true;
    switch (tag) {
      case 'I': {
        const auto f = split_tabs(body, 2);
        ok = f.size() == 2 && to_int(f[0], &p.pid) && to_int(f[1], &p.ppid);
        break;
      }
      case 'C': {
        p.cupti = true;
        const auto f = split_tabs(body, 2);
        if (f.size() == 2) p.api_records = f[1];
        break;
      }
      case 'N': p.nvtx = true; break;
      case 'U': p.unavailable = body; break;
      case 'P': {
        const auto f = split_tabs(body, 2);
        uint64_t id = 0;
        ok = f.size() == 2 && to_u64(f[0], &id);
        if (ok) path_of[id] = normalize_range_name(f[1]);  // every component: it is a path
        break;
      }
      case 'X': {
        const auto f = split_tabs(body, 2);
        uint64_t c = 0, e = 0;
        ok = f.size() == 2 && to_u64(f[0], &c) && to_u64(f[1], &e);
        if (ok) external_of[c] = e;
        break;
      }
      case 'K': {
        const auto f = split_tabs(body, 15);
        Raw r;
        uint64_t dev = 0, stream = 0;
        ok = f.size() == 15 && to_u64(f[0], &r.correlation) && to_u64(f[1], &r.record.start_ns) &&
             to_u64(f[2], &r.record.end_ns) && r.record.start_ns > 0 && r.record.end_ns >= r.record.start_ns;  // 0: untimed
        for (int i = 0; ok && i < 3; ++i) ok = to_int(f[3 + i], &r.record.grid[i]) && to_int(f[6 + i], &r.record.block[i]);
        ok = ok && to_int(f[9], &r.record.registers) && to_int(f[10], &r.record.static_smem) &&
             to_int(f[11], &r.record.dynamic_smem) && to_u64(f[12], &dev) && to_u64(f[13], &stream) && !f[14].empty();
        if (ok) {
          r.record.name = f[14];
          raw.push_back(std::move(r));
          ++p.kernels;
        }
        break;
      }
      case 'S': {
        uint64_t ts = 0;
        ok = to_u64(body, &ts);
        if (ok && !window_open) {
          open_start = ts;
          window_open = true;
        }
        break;
      }
      case 'T': {
        uint64_t ts = 0;
        ok = to_u64(body, &ts) && (!window_open || ts >= open_start);  // a stop before its start: malformed
        if (ok && window_open) {
          p.capture_windows.emplace_back(open_start, ts);
          window_open = false;
        }
        break;
      }
      case 'R': {
        const auto f = split_tabs(body, 2);
        uint64_t id = 0, ns = 0;
        ok = f.size() == 2 && to_u64(f[0], &id) && to_u64(f[1], &ns);
        if (ok) timed_raw.emplace_back(id, ns);
        break;
      }
      case 'D': {
        uint64_t d = 0;
        ok = to_u64(body, &d);
        if (ok) p.dropped += d;
        break;
      }
      case 'W': ++p.incomplete_buffers; break;
      case 'E': {
        uint64_t d = 0;
        ok = to_u64(body, &d);
        if (ok) {
          p.clean_exit = true;
          p.dropped = std::max(p.dropped, d);
        }
        break;
      }
      default: ok = false;
    }
    if (!ok) ++p.malformed_lines;
  }
  if (window_open) p.capture_windows.emplace_back(open_start, std::numeric_limits<uint64_t>::max());
  for (Raw& r : raw) {
    const auto e = external_of.find(r.correlation);
    const auto path = e == external_of.end() ? path_of.end() : path_of.find(e->second);
    r.record.range = path == path_of.end() ? "" : path->second;
    if (kernels) kernels->push_back(std::move(r.record));
  }
  if (timed)
    for (const auto& [id, ns] : timed_raw) {
      const auto path = path_of.find(id);
      (*timed)[path == path_of.end() ? "?" : path->second].push_back(ns / 1e9);
    }
  return p;
}

Result<ExecTrace> read_exec_traces(const std::string& dir, bool capture_profiler_api) {
  ExecTrace out;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return out;
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("proc-", 0) == 0 && name.size() > 11 && name.substr(name.size() - 6) == ".trace")
      files.push_back(entry.path().string());
  }
  if (ec) return unavailable("cannot list the trace directory '" + dir + "': " + ec.message());
  std::sort(files.begin(), files.end());
  for (const std::string& file : files) {
    WAN_ASSIGN_OR_RETURN(const std::string text, read_file(file));
    std::vector<KernelRecord> kernels;
    WAN_ASSIGN_OR_RETURN(ExecProcessTrace p, parse_exec_trace(text, file, &kernels, &out.timed_range_seconds));
    for (KernelRecord& k : kernels) {
      bool keep = !capture_profiler_api;
      for (const auto& [lo, hi] : p.capture_windows) keep = keep || (k.start_ns >= lo && k.start_ns < hi);
      if (keep) out.kernels.push_back(std::move(k));
    }
    out.processes.push_back(std::move(p));
  }
  std::sort(out.processes.begin(), out.processes.end(),
            [](const ExecProcessTrace& a, const ExecProcessTrace& b) { return a.pid < b.pid; });
  std::stable_sort(out.kernels.begin(), out.kernels.end(), [](const KernelRecord& a, const KernelRecord& b) {
    return a.start_ns != b.start_ns ? a.start_ns < b.start_ns : a.name < b.name;
  });
  return out;
}

}  // namespace wan
