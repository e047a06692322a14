#include "harness/run_case.h"

#include "engine/vae/video_frames.h"

#include <cstdio>
#include <limits>
#include <sstream>

#include "engine/attention/attention_backend.h"
#include "engine/core/device.h"
#include "engine/core/json_reader.h"
#include "engine/model/wan_dit_cpu.h"
#include "engine/model/wan_dit_cuda.h"
#include "harness/hashing.h"
#include "kernels/vae/cudnn_conv.h"

namespace wan {

Status RunCase::resolve() {
  WAN_ASSIGN_OR_RETURN(WanConfig config, resolve_config(model));
  GenerationRequest& r = request;
  if (r.frames < 0) r.frames = config.default_frames;
  if (r.height < 0) r.height = config.default_height;
  if (r.width < 0) r.width = config.default_width;
  if (r.steps < 0) r.steps = config.default_steps;
  if (r.guidance < 0) r.guidance = config.default_guidance;
  if (r.shift < 0) r.shift = config.default_shift;
  if (device == "auto") device = discover_devices().has_gpu() ? "cuda:0" : "cpu";
  WAN_ASSIGN_OR_RETURN(Device d, parse_device(device));
  device = d.to_string();
  WAN_ASSIGN_OR_RETURN(Precision p, parse_precision(precision));
  if (d.is_cuda() && p != Precision::kBf16)
    return invalid_argument("--precision " + precision + " is CPU-only; the CUDA path computes in bf16");
  WAN_ASSIGN_OR_RETURN(AttentionConfig attention, parse_attention_config(backend));
  backend = attention.canonical();  // the recorded form: defaults omitted, keys sorted
  WAN_RETURN_IF_ERROR(latent_grid(config, r.frames, r.height, r.width).status());
  if (r.steps < 1 && r.explicit_timesteps.empty())
    return invalid_argument("--steps must be >= 1, got " + std::to_string(r.steps));
  {
    WAN_ASSIGN_OR_RETURN(const VaeTiling tiling, VaeTiling::parse(vae_tiling));
    vae_tiling = tiling.to_string();  // canonical ("off" -> "")
  }
  if (vae_conv != "cudnn" && vae_conv != "im2col")
    return invalid_argument("--vae-conv must be cudnn or im2col, got '" + vae_conv + "'");
  if (!vae.empty()) {
    WAN_ASSIGN_OR_RETURN(const WanVaeConfig vc, resolve_vae_config(vae_config));
    if (vc.z_dim != config.out_channels)
      return invalid_argument("VAE config '" + vae_config + "' decodes " + std::to_string(vc.z_dim) +
                              "-channel latents but model '" + model + "' makes " +
                              std::to_string(config.out_channels) + "; pick a matching --vae-config");
    if (vae.rfind("synthetic:", 0) == 0) {
      const std::string seed = vae.substr(10);
      if (seed.empty() || seed.size() > 19 || seed.find_first_not_of("0123456789") != std::string::npos)
        return invalid_argument("--vae synthetic:SEED needs a decimal seed, got '" + vae + "'");
    }
  }
  return Status();
}

nlohmann::json RunCase::to_json() const {
  const GenerationRequest& r = request;
  nlohmann::json j = {{"model", model},
          {"weights", weights},
          {"backend", backend},
          {"device", device},
          {"precision", precision},
          {"seed", r.seed},
          {"steps", r.steps},
          {"timesteps", r.explicit_timesteps},
          {"frames", r.frames},
          {"height", r.height},
          {"width", r.width},
          {"guidance", r.guidance},
          {"shift", r.shift},
          {"scheduler", r.scheduler},
          {"prompt_embeds", r.prompt_embeds_path},
          {"negative_embeds", r.negative_embeds_path},
          {"noise", r.noise_path}};
  // Only decoding cases carry VAE fields: the ids of latents-only cases stay what they were.
  if (!vae.empty()) {
    j["vae"] = vae;
    j["vae_config"] = vae_config;
    if (device.rfind("cuda", 0) == 0) j["vae_conv"] = vae_conv;
    if (!vae_tiling.empty()) j["vae_tiling"] = vae_tiling;
  }
  return j;
}

Result<RunCase> RunCase::from_json(const nlohmann::json& j) {
  const JsonSource source{"case description", "record the golden or report again with this build"};
  const JsonValue v(j, source);
  constexpr int64_t kIntMax = std::numeric_limits<int>::max();
  RunCase c;
  GenerationRequest& r = c.request;
  WAN_ASSIGN_OR_RETURN(c.model, v.string_field("model"));
  WAN_ASSIGN_OR_RETURN(c.weights, v.string_field("weights"));
  WAN_ASSIGN_OR_RETURN(c.backend, v.string_field("backend"));
  WAN_ASSIGN_OR_RETURN(c.device, v.string_field("device"));
  WAN_ASSIGN_OR_RETURN(c.precision, v.string_field("precision"));
  WAN_ASSIGN_OR_RETURN(r.seed, v.uint_field("seed"));
  WAN_ASSIGN_OR_RETURN(const int64_t steps, v.int_field("steps", 0, kIntMax));
  r.steps = static_cast<int>(steps);
  if (v.has("timesteps")) {
    WAN_ASSIGN_OR_RETURN(const JsonValue t, v.field("timesteps"));
    WAN_ASSIGN_OR_RETURN(r.explicit_timesteps, t.as_int_array(0));
  }
  WAN_ASSIGN_OR_RETURN(r.frames, v.int_field("frames", 0));
  WAN_ASSIGN_OR_RETURN(r.height, v.int_field("height", 0));
  WAN_ASSIGN_OR_RETURN(r.width, v.int_field("width", 0));
  WAN_ASSIGN_OR_RETURN(r.guidance, v.number_field("guidance"));
  WAN_ASSIGN_OR_RETURN(r.shift, v.number_field("shift"));
  WAN_ASSIGN_OR_RETURN(r.scheduler, v.string_field("scheduler"));
  WAN_ASSIGN_OR_RETURN(r.prompt_embeds_path, v.string_field_or("prompt_embeds", ""));
  WAN_ASSIGN_OR_RETURN(r.negative_embeds_path, v.string_field_or("negative_embeds", ""));
  WAN_ASSIGN_OR_RETURN(r.noise_path, v.string_field_or("noise", ""));
  WAN_ASSIGN_OR_RETURN(c.vae, v.string_field_or("vae", ""));
  WAN_ASSIGN_OR_RETURN(c.vae_config, v.string_field_or("vae_config", c.vae_config));
  WAN_ASSIGN_OR_RETURN(c.vae_conv, v.string_field_or("vae_conv", c.vae_conv));
  WAN_ASSIGN_OR_RETURN(c.vae_tiling, v.string_field_or("vae_tiling", c.vae_tiling));
  return c;
}

std::string RunCase::case_id() const {
  nlohmann::json j = to_json();
  const std::string canonical = j.dump();
  const std::string device_type = device.rfind("cuda", 0) == 0 ? "cuda" : "cpu";
  std::string stem = model;
  if (stem.size() > 5 && stem.substr(stem.size() - 5) == ".json") {
    stem = stem.substr(stem.find_last_of('/') + 1);
    stem = stem.substr(0, stem.size() - 5);
  }
  const Result<AttentionConfig> attention = parse_attention_config(backend);
  const std::string tag = attention.ok() ? attention.value().file_tag() : backend;
  return stem + "." + tag + "." + precision + "." + device_type + "." + (vae.empty() ? "" : "vae.") +
         sha1_hex(canonical.data(), canonical.size()).substr(0, 8);
}

std::vector<std::string> RunCase::to_args() const {
  const GenerationRequest& r = request;
  auto exact = [](double x) {
    char buf[40];
    std::snprintf(buf, sizeof(buf), "%.17g", x);
    return std::string(buf);
  };
  std::vector<std::string> a = {"--model", model, "--weights", weights, "--backend", backend, "--device", device,
                                "--precision", precision, "--seed", std::to_string(r.seed), "--steps",
                                std::to_string(r.steps), "--frames", std::to_string(r.frames), "--height",
                                std::to_string(r.height), "--width", std::to_string(r.width), "--guidance",
                                exact(r.guidance), "--shift", exact(r.shift), "--scheduler", r.scheduler};
  if (!r.explicit_timesteps.empty()) {
    std::string t;
    for (size_t i = 0; i < r.explicit_timesteps.size(); ++i) t += (i ? "," : "") + std::to_string(r.explicit_timesteps[i]);
    a.insert(a.end(), {"--timesteps", t});
  }
  if (!r.prompt_embeds_path.empty()) a.insert(a.end(), {"--prompt-embeds", r.prompt_embeds_path});
  if (!r.negative_embeds_path.empty()) a.insert(a.end(), {"--negative-embeds", r.negative_embeds_path});
  if (!r.noise_path.empty()) a.insert(a.end(), {"--noise", r.noise_path});
  if (!vae.empty()) a.insert(a.end(), {"--vae", vae, "--vae-config", vae_config, "--vae-conv", vae_conv});
  if (!vae.empty() && !vae_tiling.empty()) a.insert(a.end(), {"--vae-tiling", vae_tiling});
  return a;
}

std::string RunCase::to_flags() const {
  std::string out;
  for (const std::string& a : to_args()) out += (out.empty() ? "" : " ") + a;
  return out;
}

Result<std::unique_ptr<VaeDecoder>> build_vae_decoder(const RunCase& c, const Pipeline* denoise_stage) {
  if (c.vae.empty()) return std::unique_ptr<VaeDecoder>();
  WAN_ASSIGN_OR_RETURN(Device device, parse_device(c.device));
  WAN_ASSIGN_OR_RETURN(WanVaeConfig config, resolve_vae_config(c.vae_config));
  VaeWeights weights;
  if (c.vae.rfind("synthetic:", 0) == 0) {
    WAN_ASSIGN_OR_RETURN(weights, VaeWeights::synthetic(config, std::stoull(c.vae.substr(10))));
  } else {
    WAN_ASSIGN_OR_RETURN(const std::string file, locate_vae_checkpoint(c.vae));
    if (const auto beside = vae_config_beside(file)) {
      // The checkpoint's own architecture: a different --vae-config is an error, not a guess.
      WAN_ASSIGN_OR_RETURN(WanVaeConfig own, vae_config_from_json_file(*beside));
      own.name = config.name;
      if (vae_config_to_json(own) != vae_config_to_json(config))
        return invalid_argument("VAE checkpoint '" + file + "' comes with " + *beside +
                                ", which differs from --vae-config " + c.vae_config + "; pass --vae-config " + *beside);
    }
    WAN_ASSIGN_OR_RETURN(weights, VaeWeights::load(config, file));
  }
  void* stream = denoise_stage ? denoise_stage->model().cuda_stream() : nullptr;
  return make_vae_decoder(weights, device, c.precision,
                          c.vae_conv == "im2col" ? VaeConvEngine::kIm2col : VaeConvEngine::kCudnn, c.cudnn_path,
                          stream);
}

Fingerprint case_fingerprint(const RunCase& c) {
  const Result<Device> device = parse_device(c.device);
  Fingerprint f = make_fingerprint(device.ok() ? device.value() : Device::cpu());
  if (device.ok() && device.value().is_cuda() && !c.vae.empty() && c.vae_conv == "cudnn") {
    const auto library = CudnnLibrary::load(c.cudnn_path);
    if (library.ok()) add_class_field(f, "cudnn_version", static_cast<int64_t>(library.value()->version()));
  }
  return f;
}

Result<CaseHashes> generate_case_hashes(Pipeline& pipeline, VaeDecoder* decoder, const RunCase& c,
                                        const std::function<void(const StepProgress&)>& progress) {
  WAN_ASSIGN_OR_RETURN(const Tensor latents, pipeline.generate(c.request, nullptr, progress));
  CaseHashes h;
  WAN_ASSIGN_OR_RETURN(h.latents_sha1, sha1_tensor(latents));
  if (decoder) {
    WAN_ASSIGN_OR_RETURN(const VaeTiling tiling, VaeTiling::parse(c.vae_tiling));
    WAN_ASSIGN_OR_RETURN(const Tensor video, decoder->decode(latents, nullptr, nullptr, tiling));
    WAN_ASSIGN_OR_RETURN(const VideoFrames frames, video_to_frames(video));
    h.frames_sha1 = sha1_frames(frames);
  }
  return h;
}

Result<std::unique_ptr<Pipeline>> build_pipeline(const RunCase& c) {
  WAN_ASSIGN_OR_RETURN(WanConfig config, resolve_config(c.model));
  WAN_ASSIGN_OR_RETURN(Device device, parse_device(c.device));
  WAN_ASSIGN_OR_RETURN(Precision precision, parse_precision(c.precision));
  WAN_ASSIGN_OR_RETURN(AttentionConfig attention, parse_attention_config(c.backend));
  WanWeights weights;
  if (c.weights.rfind("synthetic:", 0) == 0) {
    const std::string seed_text = c.weights.substr(10);
    if (seed_text.empty() || seed_text.find_first_not_of("0123456789") != std::string::npos)
      return invalid_argument("--weights synthetic:SEED needs a decimal seed, got '" + c.weights + "'");
    WAN_ASSIGN_OR_RETURN(weights, WanWeights::synthetic(config, std::stoull(seed_text), device));
  } else {
    WAN_ASSIGN_OR_RETURN(weights, WanWeights::load(config, c.weights));
  }
  if (device.is_cuda()) {
    WAN_ASSIGN_OR_RETURN(std::unique_ptr<WanDitCuda> model, WanDitCuda::create(weights, device, attention));
    return std::make_unique<Pipeline>(std::move(model));
  }
  WAN_ASSIGN_OR_RETURN(std::unique_ptr<AttentionBackend> backend, make_attention_backend(attention, device));
  WAN_ASSIGN_OR_RETURN(std::unique_ptr<WanDitCpu> model,
                       WanDitCpu::create(weights, precision, std::move(backend)));
  return std::make_unique<Pipeline>(std::move(model));
}

}  // namespace wan
