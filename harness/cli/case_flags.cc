#include <unistd.h>

#include <cstdio>
#include <sstream>

#include "harness/cli/commands.h"
#include "harness/cli/exit_codes.h"

namespace wan::cli {

const std::set<std::string>& case_value_flags() {
  static const std::set<std::string> kFlags = {
      "model", "weights", "backend", "device", "precision", "seed", "steps", "timesteps",
      "frames", "height", "width", "guidance", "shift", "scheduler", "prompt-embeds",
      "negative-embeds", "noise", "vae", "vae-config", "vae-conv", "vae-tiling", "cudnn"};
  return kFlags;
}

Result<RunCase> case_from_flags(const Flags& f) {
  RunCase c;
  c.model = f.get("model", c.model);
  c.weights = f.get("weights", c.weights);
  c.backend = f.get("backend", c.backend);
  c.device = f.get("device", c.device);
  c.precision = f.get("precision", c.precision);
  GenerationRequest& r = c.request;
  WAN_ASSIGN_OR_RETURN(int64_t seed, f.get_int("seed", 1024));
  if (seed < 0) return invalid_argument("--seed must be >= 0");
  r.seed = static_cast<uint64_t>(seed);
  WAN_ASSIGN_OR_RETURN(int64_t steps, f.get_int("steps", -1));
  if (f.has("steps") && (steps < 1 || steps > 100000))
    return invalid_argument("--steps must be in [1, 100000], got " + f.get("steps"));
  r.steps = static_cast<int>(steps);
  WAN_ASSIGN_OR_RETURN(r.frames, f.get_int("frames", -1));
  WAN_ASSIGN_OR_RETURN(r.height, f.get_int("height", -1));
  WAN_ASSIGN_OR_RETURN(r.width, f.get_int("width", -1));
  WAN_ASSIGN_OR_RETURN(r.guidance, f.get_double("guidance", -1));
  WAN_ASSIGN_OR_RETURN(r.shift, f.get_double("shift", -1));
  if (f.has("shift") && !(r.shift > 0)) return invalid_argument("--shift must be > 0");
  if (f.has("guidance") && r.guidance < 0) return invalid_argument("--guidance must be >= 0");
  r.scheduler = f.get("scheduler", r.scheduler);
  if (f.has("timesteps")) {
    std::stringstream ss(f.get("timesteps"));
    std::string item;
    while (std::getline(ss, item, ',')) {
      char* end = nullptr;
      const long long t = std::strtoll(item.c_str(), &end, 10);
      if (item.empty() || *end) return invalid_argument("--timesteps must be integers like 1000,757,522");
      r.explicit_timesteps.push_back(t);
    }
    r.steps = static_cast<int>(r.explicit_timesteps.size());
  }
  r.prompt_embeds_path = f.get("prompt-embeds");
  r.negative_embeds_path = f.get("negative-embeds");
  r.noise_path = f.get("noise");
  c.vae = f.get("vae");
  c.vae_config = f.get("vae-config", c.vae_config);
  c.vae_conv = f.get("vae-conv", c.vae_conv);
  c.vae_tiling = f.get("vae-tiling");
  c.cudnn_path = f.get("cudnn");
  if (f.has("vae-config") && c.vae.empty())
    return invalid_argument("--vae-config needs --vae (synthetic:SEED or a VAE checkpoint) to decode with");
  WAN_RETURN_IF_ERROR(c.resolve());
  return c;
}

int fail(const std::string& command, const Status& status) {
  std::fprintf(stderr, "repro %s: %s\n", command.c_str(), status.to_string().c_str());
  return exit_code_for(status);
}

void print_step_progress(int step, int steps, int64_t timestep, double seconds) {
  std::fprintf(stderr, "  step %d/%d t=%lld %.3f s\n", step + 1, steps,
               static_cast<long long>(timestep), seconds);
}

std::string self_executable() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "repro";
  buf[n] = '\0';
  return buf;
}

}  // namespace wan::cli
