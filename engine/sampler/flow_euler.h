// FlowEuler: the first-order flow-matching step x += (sigma_{i+1} - sigma_i) * v, on the same
// schedules as FlowUniPC (N steps with shift, or explicit timesteps such as FastWan's
// [1000, 757, 522] with shift 8). Stateless between steps. Host reference on fp32 arrays; the
// GPU applies flow_euler_update_element with the same dt.
#pragma once

#include <cstdint>
#include <string_view>

#include "engine/core/status.h"
#include "engine/sampler/scheduler.h"
#include "kernels/common/host_device.h"

namespace wan {

// flow_euler_update_element: kernels/sampler/flow_step.h.

class FlowEulerScheduler final : public Scheduler {
 public:
  std::string_view name() const override { return "flow_euler"; }

  // Scheduler::step. Allocates nothing; count may change between steps.
  Status step(int step_index, const float* model_output, float* latents, int64_t count) override;

  // dt of step step_index: sigmas[i+1] - sigmas[i] in fp32 (negative). Errors: no schedule,
  // index out of range.
  Result<float> step_dt(int step_index) const;
};

}  // namespace wan
