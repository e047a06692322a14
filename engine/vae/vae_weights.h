// Wan VAE decoder parameters as named f32 tensors in the diffusers AutoencoderKLWan layout
// (the canonical names: decoder.conv_in.weight, decoder.up_blocks.0.upsamplers.0.time_conv.
// weight, ...), from a safetensors checkpoint in that layout or in the original Wan2.1 VAE
// layout (decoder.conv1, decoder.middle.N, decoder.upsamples.N, decoder.head.N, conv2), or
// generated from a seed. Only the decoder and post_quant_conv are read; encoder keys are
// ignored. Every expected tensor's presence and shape is checked on load.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/core/status.h"
#include "engine/core/tensor.h"
#include "engine/vae/vae_config.h"

namespace wan {

struct VaeWeightSpec {
  std::string name;  // diffusers layout
  Shape shape;
  // Synthetic init: mean + std * N(0, 1).
  double mean = 0.0, std = 0.0;
};

// Every decoder parameter for `config`, in a fixed order.
std::vector<VaeWeightSpec> vae_weight_specs(const WanVaeConfig& config);

// Maps an original-Wan-VAE key to the diffusers name for `config`; the key itself if it already
// is a diffusers decoder name; "" for keys the decoder does not use (encoder, conv1).
std::string canonical_vae_weight_name(const WanVaeConfig& config, const std::string& key);

// Where the VAE of a checkpoint path lives: a .safetensors file as given; a directory holding
// diffusion_pytorch_model.safetensors (diffusers' vae/ folder) or a vae/ subfolder (a diffusers
// pipeline folder). Pickle checkpoints (.pth, .pt, .ckpt, .bin, or a file that starts like a
// zip/pickle) are refused with the command that converts them. Errors: NOT_FOUND,
// INVALID_ARGUMENT (pickle, a folder without a VAE).
Result<std::string> locate_vae_checkpoint(const std::string& path);
// The config.json beside a located checkpoint, when there is one.
std::optional<std::string> vae_config_beside(const std::string& checkpoint_file);

// A convolution weight's geometry: [out, in, kt, kh, kw] (5-D) or [out, in, kh, kw] (4-D,
// kt = 1), kt 1 or 3, odd kh and kw, a bias of `out` values.
struct VaeConvKernel {
  int64_t out = 0, in = 0, kt = 1, kh = 1, kw = 1;
  int64_t taps() const { return kt * kh * kw; }
};

class VaeWeights;
// INVALID_ARGUMENT naming the weight when it is not such a convolution; NOT_FOUND when absent.
Result<VaeConvKernel> vae_conv_kernel(const VaeWeights& weights, const std::string& weight);

class VaeWeights {
 public:
  // Seeded synthetic weights, f32; each tensor depends only on (seed, name). Scaled so a
  // decode of unit-variance latents stays inside the output clamp for most pixels.
  static Result<VaeWeights> synthetic(const WanVaeConfig& config, uint64_t seed);
  // From a checkpoint path (locate_vae_checkpoint). Tensors become f32. Errors name the file
  // and the tensor: NOT_FOUND (missing tensor), INVALID_ARGUMENT (shape or dtype), DATA_LOSS
  // (both layouts' names for one tensor; a corrupt file).
  static Result<VaeWeights> load(const WanVaeConfig& config, const std::string& path);

  // Writes a diffusers-layout safetensors file (atomically), loadable by diffusers'
  // AutoencoderKLWan (decoder half; strict=False) and by load(). Metadata "config" holds
  // vae_config_to_json.
  Status save(const std::string& path) const;

  const WanVaeConfig& config() const { return config_; }
  // f32 CPU tensor; NOT_FOUND naming the tensor.
  Result<Tensor> get(const std::string& name) const;
  const float* data(const std::string& name) const;  // nullptr when absent
  const std::map<std::string, Tensor>& tensors() const { return tensors_; }
  std::string source() const { return source_; }  // "synthetic:seed=7" or the checkpoint file

 private:
  WanVaeConfig config_;
  std::map<std::string, Tensor> tensors_;
  std::string source_;
};

}  // namespace wan
