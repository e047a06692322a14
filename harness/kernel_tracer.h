// Per-kernel GPU timings through the CUPTI Activity API (CONCURRENT_KERNEL records: name,
// grid, block, registers, shared memory, start/end), each attributed to the enclosing NVTX
// range by the harness's own bookkeeping: every range push also pushes a CUPTI external
// correlation id, so kernels (cuBLASLt's included) map to "step/3/.../block/12/self_attn/dense"
// without NVTX injection. When CUPTI is taken (Nsight Compute/Systems) or absent, start()
// says so and the caller falls back to CUDA-event timing.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/core/nvtx.h"
#include "engine/core/status.h"
#include "harness/kernel_summary.h"

namespace wan {

class KernelTracer final : public RangeListener {
 public:
  // Enables activity collection and installs itself as the NVTX range listener.
  // UNAVAILABLE with the reason when another profiler holds CUPTI or CUPTI cannot start.
  static Result<std::unique_ptr<KernelTracer>> start();
  ~KernelTracer() override;
  // One tracer per process (CUPTI's buffers are global); copying would double-register.
  KernelTracer(const KernelTracer&) = delete;
  KernelTracer& operator=(const KernelTracer&) = delete;

  void on_push(const char* name) override;
  void on_pop() override;

  // Flushes and returns the kernels since the last collect(). Errors: records were dropped
  // (buffers too small), or no kernel record arrived although kernels ran (a profiler holds
  // CUPTI: caller should fall back).
  Result<std::vector<KernelRecord>> collect(bool expect_kernels);
  uint64_t dropped_records() const;

 private:
  KernelTracer() = default;
};

}  // namespace wan
