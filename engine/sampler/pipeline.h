// The text-to-video denoising pipeline (without the text encoder and, for now, the VAE):
// input validation -> prompt embeddings -> timesteps -> seeded latents -> N steps of
// classifier-free guidance (two batch-1 DiT forwards per step) and a scheduler step ->
// final latents f32 [16, T', H/8, W/8]. Progress goes to a callback (the CLI prints it).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "engine/attention/attention_backend.h"
#include "engine/core/status.h"
#include "engine/core/tensor.h"
#include "engine/model/config.h"
#include "engine/model/forward_observer.h"
#include "engine/model/dit_model.h"
#include "engine/model/weights.h"
#include "engine/sampler/scheduler.h"

namespace wan {

struct GenerationRequest {
  uint64_t seed = 1024;
  int steps = 50;
  int64_t frames = 81, height = 480, width = 832;
  double guidance = 3.0;  // <= 1 disables CFG (one forward per step)
  double shift = 3.0;
  std::string scheduler = "flow_unipc";
  std::vector<int64_t> explicit_timesteps;  // non-empty: used instead of `steps`
  // Safetensors files holding one [1, text_len, text_dim] or [text_len, text_dim] f32/bf16
  // tensor; empty: the documented deterministic default (default_prompt_embeddings).
  std::string prompt_embeds_path, negative_embeds_path;
  // Safetensors file with the initial noise [1, 16, T', H/8, W/8] or [16, T', H/8, W/8];
  // empty: Philox normals (seed, stream 0) in contiguous order.
  std::string noise_path;
};

// Observes a generation: forwards (step, branch) and each op inside them.
class GenerationObserver : public ForwardObserver {
 public:
  // branch: "cond" (prompt) or "uncond" (negative prompt).
  virtual void on_forward_begin(int step, int64_t timestep, std::string_view branch) {}
  virtual void on_step_end(int step, const Tensor& latents) {}
  void on_op(int, std::string_view, Tensor&) override {}
};

struct StepProgress {
  int step, steps;
  int64_t timestep;
  double seconds;  // this step's wall time
};

// The deterministic default prompt embeddings when no file is given: rows [0, real_rows) are
// 0.1 x Philox normals (seed 0x5EED0000 + which, stream 0), the rest zero, mimicking an
// encoder output of `real_rows` real tokens padded with zero rows. real_rows = min(8, text_len)
// for the prompt (which = 0) and min(4, text_len) for the negative prompt (which = 1).
Result<Tensor> default_prompt_embeddings(const WanConfig& config, bool negative);

// Loads [text_len, text_dim] f32 from a safetensors file (one tensor, or one named
// "prompt_embeds"/"negative_prompt_embeds"); errors name the file and the expected shape.
Result<Tensor> load_prompt_embeddings(const WanConfig& config, const std::string& path);

class Pipeline {
 public:
  explicit Pipeline(std::unique_ptr<DitModel> model) : model_(std::move(model)) {}

  // Runs one generation; returns the final latents f32 [16, T', H/8, W/8].
  Result<Tensor> generate(const GenerationRequest& request, GenerationObserver* observer = nullptr,
                          const std::function<void(const StepProgress&)>& progress = nullptr);

  DitModel& model() { return *model_; }
  const DitModel& model() const { return *model_; }

 private:
  std::unique_ptr<DitModel> model_;
  Tensor default_embeddings_[2];  // prompt, negative (host), made on first use
};

// Initial latents for a request: from noise_path (on the host), else Philox normals generated
// on `device` (the same values everywhere).
Result<Tensor> initial_latents(const WanConfig& config, const GenerationRequest& request,
                               Device device = Device::cpu());

}  // namespace wan
