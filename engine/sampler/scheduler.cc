// Schedules (FastVideo's N-step flow schedule, explicit DMD timesteps), the step checks shared
// by every scheduler, and the name -> scheduler registry.
#include "engine/sampler/scheduler.h"

#include <cmath>
#include <string>

#include "engine/sampler/flow_euler.h"
#include "engine/sampler/flow_unipc.h"

namespace wan {
namespace {

Status check_shift(double shift) {
  if (!std::isfinite(shift) || shift <= 0) {
    return invalid_argument("flow shift must be a finite number > 0 (got " + std::to_string(shift) +
                            "); Wan2.1 uses 3.0 (1.3B) or 5.0 (14B)");
  }
  return Status::ok_status();
}

// torch's `shift * sigmas / (1 + (shift - 1) * sigmas)` on a float32 tensor: the Python floats
// shift and shift - 1 become fp32 scalars, every operation rounds to fp32.
float shift_fp32(float sigma, double shift) {
  const float shift_f = static_cast<float>(shift);
  const float shift_minus_one_f = static_cast<float>(shift - 1.0);
  return (shift_f * sigma) / (1.0f + shift_minus_one_f * sigma);
}

}  // namespace

Result<FlowSchedule> make_flow_schedule(int num_steps, double shift) {
  if (num_steps < 1) {
    return invalid_argument("the number of denoising steps must be >= 1 (got " +
                            std::to_string(num_steps) + ")");
  }
  WAN_RETURN_IF_ERROR(check_shift(shift));
  // FlowUniPCMultistepScheduler.__init__: sigma_max is the first shifted fp32 train sigma,
  // 1 - alphas[0] with alphas[0] = 1/1000 (linspace's exact endpoint); sigma_min is 0.
  const double sigma_max =
      shift_fp32(static_cast<float>(1.0 - 1.0 / kNumTrainTimesteps), shift);
  // set_timesteps: np.linspace(sigma_max, 0, N + 1)[:-1] (k * step + start), shifted again
  // in double, truncated to int64 timesteps, stored as fp32 sigmas with a terminal 0.
  const double step = (0.0 - sigma_max) / num_steps;
  FlowSchedule schedule;
  schedule.timesteps.reserve(num_steps);
  schedule.sigmas.reserve(num_steps + 1);
  for (int k = 0; k < num_steps; ++k) {
    const double s = static_cast<double>(k) * step + sigma_max;
    const double shifted = shift * s / (1.0 + (shift - 1.0) * s);
    schedule.timesteps.push_back(static_cast<int64_t>(shifted * kNumTrainTimesteps));
    schedule.sigmas.push_back(static_cast<float>(shifted));
  }
  schedule.sigmas.push_back(0.0f);
  return schedule;
}

Result<FlowSchedule> make_explicit_flow_schedule(const std::vector<int64_t>& timesteps,
                                                 double shift) {
  if (timesteps.empty()) return invalid_argument("the explicit timestep list is empty");
  WAN_RETURN_IF_ERROR(check_shift(shift));
  for (size_t i = 0; i < timesteps.size(); ++i) {
    if (timesteps[i] < 1 || timesteps[i] > kNumTrainTimesteps) {
      return invalid_argument("explicit timestep " + std::to_string(timesteps[i]) +
                              " is outside [1, " + std::to_string(kNumTrainTimesteps) + "]");
    }
    if (i > 0 && timesteps[i] >= timesteps[i - 1]) {
      return invalid_argument("explicit timesteps must strictly decrease (got " +
                              std::to_string(timesteps[i - 1]) + " then " +
                              std::to_string(timesteps[i]) + ")");
    }
  }
  // FlowMatchEulerDiscreteScheduler.__init__(shift): train timesteps 1000..1 as fp32, sigma =
  // shift(t / 1000) in fp32, grid timestep = sigma * 1000 in fp32. pred_noise_to_pred_video
  // takes the sigma at argmin |grid - t| (in double; the first index on ties).
  std::vector<float> grid_sigma(kNumTrainTimesteps);
  std::vector<float> grid_timestep(kNumTrainTimesteps);
  for (int j = 0; j < kNumTrainTimesteps; ++j) {
    const float t = static_cast<float>(kNumTrainTimesteps - j);
    grid_sigma[j] = shift_fp32(t / static_cast<float>(kNumTrainTimesteps), shift);
    grid_timestep[j] = grid_sigma[j] * static_cast<float>(kNumTrainTimesteps);
  }
  FlowSchedule schedule;
  schedule.timesteps = timesteps;
  for (int64_t t : timesteps) {
    int best = 0;
    for (int j = 1; j < kNumTrainTimesteps; ++j) {
      if (std::fabs(static_cast<double>(grid_timestep[j]) - static_cast<double>(t)) <
          std::fabs(static_cast<double>(grid_timestep[best]) - static_cast<double>(t))) {
        best = j;
      }
    }
    schedule.sigmas.push_back(grid_sigma[best]);
  }
  schedule.sigmas.push_back(0.0f);
  return schedule;
}

Status Scheduler::set_timesteps(int num_steps, double shift) {
  WAN_ASSIGN_OR_RETURN(schedule_, make_flow_schedule(num_steps, shift));
  reset();
  return Status::ok_status();
}

Status Scheduler::set_timesteps(const std::vector<int64_t>& timesteps, double shift) {
  WAN_ASSIGN_OR_RETURN(schedule_, make_explicit_flow_schedule(timesteps, shift));
  reset();
  return Status::ok_status();
}

Status Scheduler::check_step(int step_index, const float* model_output, const float* latents,
                             int64_t count) const {
  const std::string who = "scheduler " + std::string(name()) + ": ";
  if (schedule_.timesteps.empty()) {
    return failed_precondition(who + "no schedule; call set_timesteps before step");
  }
  if (step_index < 0 || step_index >= num_steps()) {
    return invalid_argument(who + "step index " + std::to_string(step_index) +
                            " is outside [0, " + std::to_string(num_steps()) + ")");
  }
  if (step_index != steps_taken_) {
    return failed_precondition(who + "step " + std::to_string(step_index) +
                               " out of order: expected step " + std::to_string(steps_taken_) +
                               " (steps run in order from 0; reset() starts again)");
  }
  if (model_output == nullptr || latents == nullptr) {
    return invalid_argument(who + "model_output and latents must not be null");
  }
  if (count < 1) {
    return invalid_argument(who + "element count must be >= 1 (got " + std::to_string(count) +
                            ")");
  }
  return Status::ok_status();
}

Result<SchedulerKind> parse_scheduler_kind(std::string_view name) {
  if (name == "flow_unipc") return SchedulerKind::kFlowUniPC;
  if (name == "flow_euler") return SchedulerKind::kFlowEuler;
  return not_found("unknown scheduler '" + std::string(name) + "'; valid names: " +
                   std::string(kSchedulerNames));
}

std::string_view scheduler_kind_name(SchedulerKind kind) {
  switch (kind) {
    case SchedulerKind::kFlowUniPC: return "flow_unipc";
    case SchedulerKind::kFlowEuler: return "flow_euler";
  }
  return "unknown";
}

std::unique_ptr<Scheduler> make_scheduler(SchedulerKind kind) {
  switch (kind) {
    case SchedulerKind::kFlowUniPC: return std::make_unique<FlowUniPCScheduler>();
    case SchedulerKind::kFlowEuler: return std::make_unique<FlowEulerScheduler>();
  }
  return nullptr;
}

Result<std::unique_ptr<Scheduler>> make_scheduler(std::string_view name) {
  WAN_ASSIGN_OR_RETURN(const SchedulerKind kind, parse_scheduler_kind(name));
  return make_scheduler(kind);
}

}  // namespace wan
