// Wan DiT parameters as named tensors in the diffusers layout (the canonical names), from a
// checkpoint (diffusers or original Wan key layout, one file, a folder or a sharded index) or
// generated from a seed. Validates every expected tensor's presence and shape on load.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/core/status.h"
#include "engine/core/tensor.h"
#include "engine/model/config.h"

namespace wan {

struct WeightSpec {
  std::string name;  // diffusers layout, e.g. "blocks.0.attn1.to_q.weight"
  Shape shape;
  // Synthetic init: std of the normal draw (0 with `constant` set: filled with `constant`).
  double init_std = 0.0;
  float constant = 0.0f;
};

// Every parameter of the DiT for `config`, in a fixed order.
std::vector<WeightSpec> wan_weight_specs(const WanConfig& config);

// Maps an original-Wan-layout key (blocks.0.self_attn.q.weight, head.head.weight, ...) to the
// diffusers name; returns the key unchanged if it already is one, "" if it is neither.
std::string canonical_weight_name(const std::string& key);

class WanWeights {
 public:
  // Seeded synthetic weights, bf16, scaled (1/sqrt(fan_in) init) so that 50-step generations
  // stay finite. Each tensor's values depend only on (seed, name): order-independent.
  // device: where the tensors live; CUDA generation gives the same bits as the CPU's (the
  // 1.3B model's 1.4 billion values take seconds there instead of minutes).
  static Result<WanWeights> synthetic(const WanConfig& config, uint64_t seed,
                                      Device device = Device::cpu());
  // From a checkpoint path (see Checkpoint::open). Errors name the file and tensor.
  static Result<WanWeights> load(const WanConfig& config, const std::string& path);

  // Writes a diffusers-layout safetensors file (atomically), loadable by diffusers'
  // WanTransformer3DModel and by load().
  Status save(const std::string& path) const;

  const WanConfig& config() const { return config_; }
  // The named tensor (bf16, f16 or f32 as stored; CPU, or the device of synthetic()).
  Result<Tensor> get(const std::string& name) const;
  // The tensor converted to f32 values (bf16/f16 are exact in f32).
  Result<std::vector<float>> get_f32(const std::string& name) const;
  const std::map<std::string, Tensor>& tensors() const { return tensors_; }
  // Blocks i (ascending) that hold the optional per-layer weight blocks.{i}.<name>.weight
  // (an attention backend's layer weight, e.g. "to_gate_compress").
  std::vector<int64_t> blocks_with(const std::string& name) const;
  std::string source() const { return source_; }  // "synthetic:seed=42" or the path

 private:
  WanConfig config_;
  std::map<std::string, Tensor> tensors_;
  std::string source_;
};

}  // namespace wan
