// FlowUniPC: FastVideo's FlowUniPCMultistepScheduler (solver_order 2, bh2, predict_x0,
// lower_order_final, final sigma 0, flow_prediction), the Wan2.1 default. UniP predictor on
// every step, UniC corrector on every step after the first; order 1, 2, ..., 2, 1.
// Host reference on fp32 arrays; the GPU applies flow_unipc_update_element with the same
// FlowUniPCCoefficients. Not here: FastVideo options Wan leaves off (thresholding, bh1,
// solver_p, disable_corrector, solver orders other than 2).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "engine/core/status.h"
#include "engine/sampler/scheduler.h"
#include "kernels/common/host_device.h"

namespace wan {

// FlowUniPCCoefficients and flow_unipc_update_element: kernels/sampler/flow_step.h.
class FlowUniPCScheduler final : public Scheduler {
 public:
  std::string_view name() const override { return "flow_unipc"; }

  // Scheduler::step. The first step after set_timesteps/reset sizes the history to count:
  // three fp32 arrays (previous corrected sample, previous two x0 predictions), 12 bytes per
  // element (25 MB for 480x832x81's 2,096,640 latent values), kept across reset().
  // Later steps must pass the same count (INVALID_ARGUMENT otherwise).
  Status step(int step_index, const float* model_output, float* latents, int64_t count) override;
  void reset() override;

  // The scalars of step step_index of the current schedule: a pure function of the schedule
  // and the index (the order pattern is fixed: predictor min(2, i+1, num_steps-i), corrector
  // = previous step's predictor order). Errors: no schedule, index out of range.
  Result<FlowUniPCCoefficients> coefficients(int step_index) const;

 private:
  int64_t count_ = 0;  // elements in the history; 0 before the first step
  std::vector<float> last_sample_;
  std::vector<float> m_prev_;   // x0 prediction of the previous step
  std::vector<float> m_prev2_;  // x0 prediction of the step before that
};

}  // namespace wan
