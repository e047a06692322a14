// Reads the per-process trace files that `repro exec`'s injection library (repro_inject.cc)
// writes, one per process of a run (the program and every child it spawns), and merges them
// into kernel records attributed to NVTX range paths.
//
// Line format (tab-separated, one record per line, the free-text field last):
//   # repro-exec-trace 1          header
//   I pid ppid                    the process
//   C cupti_version api_records   CUPTI tracing started ("launch-apis" or "all-apis")
//   N 1                           the NVTX injection is active
//   U reason                      tracing unavailable (CUPTI held by another tool, ...)
//   P id path                     range path id -> "step/3/layer/5/attn"
//   X correlation external_id     a launch's CUPTI correlation id -> range path id
//   K correlation start end gx gy gz bx by bz registers static_smem dynamic_smem device stream name
//   S timestamp / T timestamp     cuProfilerStart / cuProfilerStop (CUPTI clock)
//   R path_id duration_ns         host duration of a range matched by --time-range
//   D dropped                     CUPTI dropped this many records
//   W status                      an activity buffer ended before its last record (not read)
//   E dropped_total               the process flushed at exit (absent: killed, or os._exit)
// A process killed mid-write leaves a truncated last line: it is counted, not an error.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/core/status.h"
#include "harness/exec/range_names.h"  // range paths are read through normalize_range_name
#include "harness/kernel_summary.h"

namespace wan {

struct ExecProcessTrace {
  std::string file;
  int pid = 0, ppid = 0;
  bool cupti = false;         // C line: kernels traced
  std::string api_records;    // C line: which API records carried the external ids
  bool nvtx = false;          // N line: ranges seen
  bool clean_exit = false;    // E line
  std::string unavailable;    // U line
  uint64_t dropped = 0;       // D lines (and E's total)
  int64_t kernels = 0;        // K lines (before any capture filter)
  int64_t malformed_lines = 0;  // including untimed kernel records (start 0)
  int64_t incomplete_buffers = 0;  // W lines
  std::vector<std::pair<uint64_t, uint64_t>> capture_windows;  // [S, T) pairs; open end = max
};

struct ExecTrace {
  std::vector<ExecProcessTrace> processes;  // sorted by pid
  std::vector<KernelRecord> kernels;        // every process, sorted by (start, name)
  // Host durations of the --time-range ranges, per range path, in the order they closed.
  std::map<std::string, std::vector<double>> timed_range_seconds;
  bool any_cupti() const;
  std::string unavailable_reason() const;  // "" when some process traced kernels
};

// Parses one trace file's text. Errors: DATA_LOSS when the header is missing (not a trace).
Result<ExecProcessTrace> parse_exec_trace(const std::string& text, const std::string& file,
                                          std::vector<KernelRecord>* kernels,
                                          std::map<std::string, std::vector<double>>* timed_range_seconds);

// Reads every proc-*.trace under `dir`. capture_profiler_api: keep only kernels that started
// inside a process's cuProfilerStart/Stop windows (all kernels of a process that never called
// cuProfilerStart are dropped). An empty or missing directory gives an empty trace.
Result<ExecTrace> read_exec_traces(const std::string& dir, bool capture_profiler_api);

}  // namespace wan
