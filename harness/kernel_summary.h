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

}  // namespace wan
