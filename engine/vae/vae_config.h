// Wan VAE (decoder) configurations: the Wan2.1 VAE by name, a narrow one of the same
// architecture for tests and CPU goldens, and diffusers' vae/config.json read from a file.
// Architecture only (channel widths, blocks, which stages upsample in time, the latent
// normalisation constants); how a decode runs lives in the decoders.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/core/status.h"

namespace wan {

struct WanVaeConfig {
  std::string name = "wan2.1-vae";
  int64_t base_dim = 96;         // diffusers base_dim
  int64_t z_dim = 16;            // latent channels
  std::vector<int64_t> dim_mult = {1, 2, 4, 4};
  int64_t num_res_blocks = 2;    // each up block has num_res_blocks + 1 residual blocks
  // Encoder order, as diffusers' temperal_downsample; the decoder uses it reversed.
  std::vector<bool> temporal_downsample = {false, true, true};
  // z_dim values each: latents -> latents * std + mean before decoding.
  std::vector<float> latents_mean, latents_std;

  // Decoder widths, [dim_mult[-1]] + reversed(dim_mult), times base_dim: [384,384,384,192,96].
  std::vector<int64_t> decoder_dims() const;
  int64_t up_blocks() const { return static_cast<int64_t>(dim_mult.size()); }
  // Up block i: "upsample3d", "upsample2d" or "" (the last block does not upsample).
  std::string upsample_mode(int64_t block) const;
  int64_t spatial_scale() const;   // 8
  int64_t temporal_scale() const;  // 4: latent frame t > 0 gives this many video frames
  // Video frames from latent frames: 1 + temporal_scale * (T - 1).
  int64_t video_frames(int64_t latent_frames) const;
  Status validate() const;
};

// Names: "wan2.1-vae" (Wan2.1's VAE, diffusers AutoencoderKLWan defaults) and "vae-tiny"
// (base_dim 8, the same blocks and constants: 144x fewer operations, for tests).
Result<WanVaeConfig> vae_config_by_name(const std::string& name);
std::vector<std::string> vae_config_names();
// diffusers' AutoencoderKLWan config.json (base_dim, z_dim, dim_mult, num_res_blocks,
// temperal_downsample, latents_mean, latents_std; others ignored); unspecified fields take
// the Wan2.1 values. Wan2.2 options (is_residual, patch_size other than null/1) are refused.
Result<WanVaeConfig> vae_config_from_json_file(const std::string& path);
// Name, or a path ending in .json.
Result<WanVaeConfig> resolve_vae_config(const std::string& name_or_path);
std::string vae_config_to_json(const WanVaeConfig& config);

}  // namespace wan
