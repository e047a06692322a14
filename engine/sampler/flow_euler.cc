// FlowEuler host step: dt = sigmas[i+1] - sigmas[i] in fp32, then x += dt * v per element
// through flow_euler_update_element (two fp32 roundings, never an FMA).
#include "engine/sampler/flow_euler.h"

#include <string>

namespace wan {

Result<float> FlowEulerScheduler::step_dt(int step_index) const {
  if (num_steps() == 0) {
    return failed_precondition("scheduler flow_euler: no schedule; call set_timesteps");
  }
  if (step_index < 0 || step_index >= num_steps()) {
    return invalid_argument("scheduler flow_euler: step index " + std::to_string(step_index) +
                            " is outside [0, " + std::to_string(num_steps()) + ")");
  }
  return schedule_.sigmas[step_index + 1] - schedule_.sigmas[step_index];
}

Status FlowEulerScheduler::step(int step_index, const float* model_output, float* latents,
                                int64_t count) {
  WAN_RETURN_IF_ERROR(check_step(step_index, model_output, latents, count));
  WAN_ASSIGN_OR_RETURN(const float dt, step_dt(step_index));
  for (int64_t j = 0; j < count; ++j) flow_euler_update_element(dt, model_output[j], &latents[j]);
  ++steps_taken_;
  return Status::ok_status();
}

}  // namespace wan
