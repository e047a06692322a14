#include "engine/sampler/pipeline.h"

#include <chrono>
#include <cmath>

#include "engine/core/nvtx.h"
#include <cuda_runtime_api.h>

#include "engine/core/rng.h"
#include "engine/sampler/flow_euler.h"
#include "engine/sampler/flow_unipc.h"
#include "kernels/common/cuda_check.h"
#include "kernels/dit/dit_elementwise.h"
#include "kernels/common/philox.h"
#include "engine/model/safetensors.h"

namespace wan {
namespace {

// Converts a CPU f32/bf16/f16 tensor to a contiguous f32 tensor.
Result<Tensor> to_f32(const Tensor& t) {
  WAN_ASSIGN_OR_RETURN(Tensor c, t.clone());
  if (c.dtype() == DType::kF32) return c;
  WAN_ASSIGN_OR_RETURN(Tensor out, Tensor::empty(c.shape(), DType::kF32));
  for (int64_t i = 0; i < c.numel(); ++i) {
    switch (c.dtype()) {
      case DType::kBF16: out.data<float>()[i] = c.data<BFloat16>()[i].to_float(); break;
      case DType::kF16: out.data<float>()[i] = c.data<Float16>()[i].to_float(); break;
      default: return invalid_argument("expected a float tensor, got " + c.describe());
    }
  }
  return out;
}

// The single tensor of a file, or the one named `preferred`.
Result<Tensor> read_single_tensor(const std::string& path, const std::string& preferred,
                                  const std::string& what) {
  WAN_ASSIGN_OR_RETURN(Checkpoint file, Checkpoint::open(path));
  const auto names = file.names();
  std::string name;
  if (file.has(preferred)) {
    name = preferred;
  } else if (names.size() == 1) {
    name = names.front();
  } else {
    return invalid_argument(what + " file '" + path + "' holds " + std::to_string(names.size()) +
                            " tensors; it must hold exactly one, or one named '" + preferred + "'");
  }
  WAN_ASSIGN_OR_RETURN(Tensor t, file.tensor(name));
  return to_f32(t);
}

}  // namespace

Result<Tensor> default_prompt_embeddings(const WanConfig& config, bool negative) {
  WAN_ASSIGN_OR_RETURN(Tensor t, Tensor::zeros({config.text_len, config.text_dim}, DType::kF32));
  const int64_t real_rows = std::min<int64_t>(negative ? 4 : 8, config.text_len);
  const uint64_t seed = 0x5EED0000ull + (negative ? 1 : 0);
  float* d = t.data<float>();
  for (int64_t i = 0; i < real_rows * config.text_dim; ++i) d[i] = 0.1f * philox_normal(seed, 0, i);
  return t;
}

Result<Tensor> load_prompt_embeddings(const WanConfig& config, const std::string& path) {
  WAN_ASSIGN_OR_RETURN(Tensor t, read_single_tensor(path, "prompt_embeds", "prompt embeddings"));
  Shape s = t.shape();
  if (s.size() == 3 && s[0] == 1) s.erase(s.begin());
  if (s != Shape{config.text_len, config.text_dim}) {
    return invalid_argument("prompt embeddings '" + path + "' have shape " +
                            shape_to_string(t.shape()) + "; model config '" + config.name +
                            "' needs [1, " + std::to_string(config.text_len) + ", " +
                            std::to_string(config.text_dim) + "] (text encoder output, padded)");
  }
  return t.reshape(s);
}

Result<Tensor> initial_latents(const WanConfig& config, const GenerationRequest& r, Device device) {
  WAN_ASSIGN_OR_RETURN(LatentGrid g, latent_grid(config, r.frames, r.height, r.width));
  const Shape shape = {config.in_channels, g.latent_frames, g.latent_height, g.latent_width};
  if (!r.noise_path.empty()) {
    WAN_ASSIGN_OR_RETURN(Tensor t, read_single_tensor(r.noise_path, "latents", "noise"));
    Shape s = t.shape();
    if (s.size() == 5 && s[0] == 1) s.erase(s.begin());
    if (s != shape) {
      return invalid_argument("noise file '" + r.noise_path + "' has shape " +
                              shape_to_string(t.shape()) + "; this generation needs [1, " +
                              std::to_string(shape[0]) + ", " + std::to_string(shape[1]) + ", " +
                              std::to_string(shape[2]) + ", " + std::to_string(shape[3]) + "]");
    }
    return t.reshape(s);
  }
  // Philox normals are bit-identical on every device: generate them where they are used.
  WAN_ASSIGN_OR_RETURN(Tensor t, Tensor::empty(shape, DType::kF32, device));
  WAN_RETURN_IF_ERROR(fill_normal(t, r.seed, 0));
  return t;
}

Result<Tensor> Pipeline::generate(const GenerationRequest& r, GenerationObserver* observer,
                                  const std::function<void(const StepProgress&)>& progress) {
  const WanConfig& config = model_->config();
  if (!r.explicit_timesteps.empty() ? false : r.steps < 1)
    return invalid_argument("--steps must be >= 1, got " + std::to_string(r.steps));
  if (!std::isfinite(r.guidance)) return invalid_argument("--guidance must be finite");
  WAN_ASSIGN_OR_RETURN(std::unique_ptr<Scheduler> scheduler, make_scheduler(r.scheduler));
  if (r.explicit_timesteps.empty()) {
    WAN_RETURN_IF_ERROR(scheduler->set_timesteps(r.steps, r.shift));
  } else {
    WAN_RETURN_IF_ERROR(scheduler->set_timesteps(r.explicit_timesteps, r.shift));
  }
  Tensor prompt, negative;
  {
    ScopedRange range("text_encoding");
    // The default embeddings are a pure function of the config: made once per pipeline.
    if (!default_embeddings_[0].defined()) {
      WAN_ASSIGN_OR_RETURN(default_embeddings_[0], default_prompt_embeddings(config, false));
      WAN_ASSIGN_OR_RETURN(default_embeddings_[1], default_prompt_embeddings(config, true));
    }
    if (r.prompt_embeds_path.empty()) {
      prompt = default_embeddings_[0];
    } else {
      WAN_ASSIGN_OR_RETURN(prompt, load_prompt_embeddings(config, r.prompt_embeds_path));
    }
    if (r.negative_embeds_path.empty()) {
      negative = default_embeddings_[1];
    } else {
      WAN_ASSIGN_OR_RETURN(negative, load_prompt_embeddings(config, r.negative_embeds_path));
    }
  }
  Tensor latents;
  {
    ScopedRange range("latent_preparation");
    WAN_ASSIGN_OR_RETURN(latents, initial_latents(config, r, model_->device()));
  }
  const bool cfg = r.guidance > 1.0;
  const float g = static_cast<float>(r.guidance);
  const int64_t count = latents.numel();
  const Device device = model_->device();
  const bool on_gpu = device.is_cuda();
  // GPU: latents, embeddings, the conditional prediction and the UniPC history stay on the
  // device for the whole loop (allocated here, once); the step runs as one fused kernel.
  Tensor cond_buffer, last, m1, m2;
  auto* unipc = dynamic_cast<FlowUniPCScheduler*>(scheduler.get());
  auto* euler = dynamic_cast<FlowEulerScheduler*>(scheduler.get());
  if (on_gpu) {
    if (latents.device() != device) {
      WAN_ASSIGN_OR_RETURN(latents, latents.to(device));
    }
    WAN_ASSIGN_OR_RETURN(prompt, prompt.to(device));
    WAN_ASSIGN_OR_RETURN(negative, negative.to(device));
    WAN_ASSIGN_OR_RETURN(cond_buffer, Tensor::empty(latents.shape(), DType::kF32, device));
    if (unipc) {
      WAN_ASSIGN_OR_RETURN(last, Tensor::zeros(latents.shape(), DType::kF32, device));
      WAN_ASSIGN_OR_RETURN(m1, Tensor::zeros(latents.shape(), DType::kF32, device));
      WAN_ASSIGN_OR_RETURN(m2, Tensor::zeros(latents.shape(), DType::kF32, device));
    } else if (!euler) {
      return unimplemented("scheduler '" + r.scheduler + "' has no GPU step; use --device cpu");
    }
  }
  ScopedRange denoise_range("denoising");
  for (int step = 0; step < scheduler->num_steps(); ++step) {
    const auto start = std::chrono::steady_clock::now();
    const int64_t t = scheduler->timesteps()[step];
    const std::string step_name = "step/" + std::to_string(step);
    ScopedRange step_range(step_name.c_str());
    if (observer) observer->on_forward_begin(step, t, "cond");
    WAN_ASSIGN_OR_RETURN(Tensor cond, model_->forward(latents, t, prompt, observer, {step, CfgBranch::kCond}));
    if (on_gpu) {
      WAN_RETURN_IF_ERROR(cond_buffer.copy_from(cond));  // the next forward reuses its output
      Tensor uncond;
      if (cfg) {
        if (observer) observer->on_forward_begin(step, t, "uncond");
        WAN_ASSIGN_OR_RETURN(uncond, model_->forward(latents, t, negative, observer, {step, CfgBranch::kUncond}));
      }
      const float* u = cfg ? uncond.data<float>() : nullptr;
      if (unipc) {
        WAN_ASSIGN_OR_RETURN(FlowUniPCCoefficients k, unipc->coefficients(step));
        launch_cfg_unipc_step(cond_buffer.data<float>(), u, g, k, latents.data<float>(), last.data<float>(),
                              m1.data<float>(), m2.data<float>(), count, nullptr);
      } else {
        WAN_ASSIGN_OR_RETURN(float dt, euler->step_dt(step));
        launch_cfg_euler_step(cond_buffer.data<float>(), u, g, dt, latents.data<float>(), count, nullptr);
      }
      WAN_CUDA_CHECK(cudaStreamSynchronize(nullptr));
    } else {
      Tensor pred = cond;
      if (cfg) {
        if (observer) observer->on_forward_begin(step, t, "uncond");
        WAN_ASSIGN_OR_RETURN(Tensor uncond,
                             model_->forward(latents, t, negative, observer, {step, CfgBranch::kUncond}));
        // pred = uncond + g * (cond - uncond), f32, each operation rounded (no FMA).
        float* p = pred.data<float>();
        const float* u = uncond.data<float>();
        for (int64_t i = 0; i < count; ++i) p[i] = fp32::add(u[i], fp32::mul(g, fp32::sub(p[i], u[i])));
      }
      WAN_RETURN_IF_ERROR(scheduler->step(step, pred.data<float>(), latents.data<float>(), count));
    }
    if (observer) observer->on_step_end(step, latents);
    if (progress) {
      progress({step, scheduler->num_steps(), t,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()});
    }
  }
  if (on_gpu) return latents.to(Device::cpu());
  return latents;
}

}  // namespace wan
