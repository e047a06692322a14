// Denoising schedulers for flow-matching models: the timestep/sigma schedule and the per-step
// latent update, on fp32 host arrays. Each scheduler also exposes its per-step scalars and a
// WAN_HD per-element update so a GPU kernel can apply the same fp32 operations bit for bit.
// Not here: the denoising loop, CFG, noise generation, the GPU kernels themselves.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "engine/core/status.h"
#include "kernels/common/host_device.h"
#include "kernels/sampler/flow_step.h"

namespace wan {

inline constexpr int kNumTrainTimesteps = 1000;

// The schedule of one generation.
struct FlowSchedule {
  std::vector<int64_t> timesteps;  // [num_steps]: the DiT's integer timestep input per step
  std::vector<float> sigmas;       // [num_steps + 1]: fp32 noise level per step, then 0
};

// FastVideo's FlowUniPCMultistepScheduler schedule (shift applied twice, ENGINE.md):
//   sigma_max = shift_f32(float(1 - 1/1000)), the train schedule's first sigma, in fp32;
//   s_k = k * (-sigma_max / num_steps) + sigma_max in double (numpy linspace), k < num_steps;
//   s_k = shift * s_k / (1 + (shift - 1) * s_k) in double; timesteps[k] = int64(s_k * 1000)
//   (truncation); sigmas[k] = float(s_k); sigmas[num_steps] = 0.
// For 50 steps, shift 3: timesteps 999, 993, 986, 979, ..., 111, 57.
// Errors: num_steps < 1, shift not finite and > 0.
Result<FlowSchedule> make_flow_schedule(int num_steps, double shift);

// An explicit list of timesteps (few-step distilled models; FastWan DMD: [1000, 757, 522],
// shift 8). Each timestep t maps to a sigma as FastVideo's DMD stage does: on the
// FlowMatchEulerDiscreteScheduler(shift) training grid (sigma_j = shift_f32(float(j / 1000)),
// j = 1000..1, grid timestep float(sigma_j * 1000)), the sigma whose grid timestep is nearest
// t (first on ties). So t is already on the shifted scale: 757 -> sigma 0.7567568.
// timesteps[] are kept as given; sigmas gets a terminal 0.
// Errors: empty list, a timestep outside [1, 1000], not strictly decreasing, bad shift.
Result<FlowSchedule> make_explicit_flow_schedule(const std::vector<int64_t>& timesteps,
                                                 double shift);

// A scheduler holds a schedule and steps latents through it, one step per DiT evaluation.
// Lifecycle: set_timesteps (once per settings) -> step(0), step(1), ... step(num_steps-1)
// -> reset() for another generation with the same schedule. Not thread-safe.
class Scheduler {
 public:
  virtual ~Scheduler() = default;
  virtual std::string_view name() const = 0;  // "flow_unipc"

  // Sets the schedule (make_flow_schedule / make_explicit_flow_schedule) and calls reset().
  // On error the scheduler is unchanged.
  Status set_timesteps(int num_steps, double shift);
  Status set_timesteps(const std::vector<int64_t>& timesteps, double shift);

  int num_steps() const { return static_cast<int>(schedule_.timesteps.size()); }
  const std::vector<int64_t>& timesteps() const { return schedule_.timesteps; }
  const std::vector<float>& sigmas() const { return schedule_.sigmas; }
  int steps_taken() const { return steps_taken_; }  // the step_index the next step() expects

  // One denoising step in place: latents[count] (fp32, in/out) from the model's velocity
  // prediction model_output[count] (fp32) at timesteps()[step_index]. step_index must be
  // steps_taken() (steps run in order from 0, after set_timesteps or reset). model_output
  // must not overlap latents. On error nothing is written and no state changes.
  // Errors: no schedule (FAILED_PRECONDITION), step out of order (FAILED_PRECONDITION),
  // step_index out of range, null pointer, count < 1 (INVALID_ARGUMENT).
  virtual Status step(int step_index, const float* model_output, float* latents,
                      int64_t count) = 0;

  // Forgets the per-element history and expects step 0 next; keeps the schedule and any
  // allocated memory.
  virtual void reset() { steps_taken_ = 0; }

 protected:
  // The checks step() promises, shared by the implementations.
  Status check_step(int step_index, const float* model_output, const float* latents,
                    int64_t count) const;

  FlowSchedule schedule_;
  int steps_taken_ = 0;
};

enum class SchedulerKind { kFlowUniPC, kFlowEuler };

inline constexpr std::string_view kSchedulerNames = "flow_unipc, flow_euler";

// "flow_unipc" -> kFlowUniPC. Errors: NOT_FOUND naming the valid names.
Result<SchedulerKind> parse_scheduler_kind(std::string_view name);
std::string_view scheduler_kind_name(SchedulerKind kind);
// A new scheduler of that kind with no schedule set.
std::unique_ptr<Scheduler> make_scheduler(SchedulerKind kind);
// parse_scheduler_kind, then make_scheduler.
Result<std::unique_ptr<Scheduler>> make_scheduler(std::string_view name);


}  // namespace wan
