// Wan2.1 DiT model configurations: the published ones by name (wan2.1-t2v-1.3b, -14b), small
// ones of the same architecture for tests and CPU runs, and configs read from JSON files.
// Only architecture: generation settings (steps, size, guidance) live in the pipeline.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/core/status.h"

namespace wan {

struct WanConfig {
  std::string name;
  int64_t dim = 1536;
  int64_t heads = 12;
  int64_t head_dim = 128;  // dim / heads
  int64_t ffn_dim = 8960;
  int64_t layers = 30;
  int64_t text_dim = 4096;
  int64_t text_len = 512;
  int64_t freq_dim = 256;
  int64_t patch_t = 1, patch_h = 2, patch_w = 2;
  int64_t in_channels = 16, out_channels = 16;
  float eps = 1e-6f;
  // Default generation size for this config (pixels, frames) and sampler defaults.
  int64_t default_height = 480, default_width = 832, default_frames = 81;
  double default_shift = 3.0, default_guidance = 3.0;
  int default_steps = 50;

  int64_t patch_values() const { return in_channels * patch_t * patch_h * patch_w; }   // 64
  int64_t out_patch_values() const { return out_channels * patch_t * patch_h * patch_w; }
  Status validate() const;
};

// Names: wan2.1-t2v-1.3b, wan2.1-t2v-14b, wan-tiny (256 tokens), wan-small (1,950 tokens).
Result<WanConfig> config_by_name(const std::string& name);
std::vector<std::string> config_names();
// A JSON object with any of the WanConfig fields (diffusers' config.json names accepted too:
// num_attention_heads, attention_head_dim, num_layers, in_channels, out_channels, ffn_dim,
// text_dim, freq_dim, eps, patch_size); unspecified fields take the 1.3B values.
Result<WanConfig> config_from_json_file(const std::string& path);
// Name or path: a path ends in .json.
Result<WanConfig> resolve_config(const std::string& name_or_path);
std::string config_to_json(const WanConfig& config);

// Latent and token grid of a generation: latent T' = (frames-1)/4 + 1, H/8, W/8; tokens per
// patch grid.
struct LatentGrid {
  int64_t latent_frames, latent_height, latent_width;  // [16, T', H/8, W/8]
  int64_t frames, height, width;                       // token grid (T', H/16, W/16)
  int64_t tokens() const { return frames * height * width; }
};
Result<LatentGrid> latent_grid(const WanConfig& config, int64_t frames, int64_t height,
                               int64_t width);

}  // namespace wan
