// Kernel records as a tracer delivers them (the in-process CUPTI tracer, or `repro exec`'s
// injection), the range grouping across steps, and the per-run kernel table of a run report.
// No CUDA dependency: the exec trace reader and the CPU tests link it alone.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace wan {

struct KernelRecord {
  std::string name;
  std::string range;  // NVTX path at launch ("" outside any range)
  uint64_t start_ns = 0, end_ns = 0;
  int grid[3] = {0, 0, 0}, block[3] = {0, 0, 0};
  int registers = 0, static_smem = 0, dynamic_smem = 0;
};

// The range path without its "step/N/" (and the VAE's "frame/N/") parts, for grouping one
// kernel's launches across steps and latent frames.
std::string range_group(const std::string& path);

// The run report's "kernels" table: one row per (kernel name, range group) with launches,
// total microseconds and the first launch's shape, largest total first. Sets the total kernel
// time and the first-start to last-end span, in milliseconds.
nlohmann::json summarize_kernels(const std::vector<KernelRecord>& records, double* total_ms, double* span_ms);

// Whether a range group (range_group's output) is inside the denoising loop: "denoising" itself
// (the scheduler's step kernels, launched in denoising/step/N) or below it. The one rule for the
// judge's loop kernels and the loop's GPU timeline.
bool is_loop_range(const std::string& group);

// When the GPU worked, over the kernels the judge calls the loop's: those in a loop range
// (is_loop_range of their range group; every kernel when none is, as in `repro exec` runs). kernel_ms sums their
// durations; busy_ms is the union of their intervals (kernel_ms - busy_ms is time two of them
// ran at once); span_ms runs from the first start to the last end. So a loop's time splits as
// kernel_ms - (kernel_ms - busy_ms) + (span_ms - busy_ms: the GPU idle between loop kernels,
// waiting for launches or the host) + (loop time - span_ms: host time outside the GPU's span,
// e.g. before the first launch reaches the GPU and after the last kernel, synchronising).
struct GpuTimeline {
  double kernel_ms = 0, busy_ms = 0, span_ms = 0;
};
GpuTimeline loop_gpu_timeline(const std::vector<KernelRecord>& records);
nlohmann::json timeline_json(const GpuTimeline& t);

}  // namespace wan
