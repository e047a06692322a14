#include "engine/model/weights.h"

#include "engine/attention/attention_backend.h"

#include <cmath>
#include <utility>

#include "engine/core/rng.h"
#include "engine/model/safetensors.h"
#include "kernels/common/float16.h"
#include "kernels/common/philox.h"
#include "kernels/rng/philox_normal.h"
#include "kernels/common/cuda_check.h"

namespace wan {
namespace {

void add_linear(std::vector<WeightSpec>& specs, const std::string& prefix, int64_t out,
                int64_t in, double gain = 1.0) {
  specs.push_back({prefix + ".weight", {out, in}, gain / std::sqrt(static_cast<double>(in)), 0});
  specs.push_back({prefix + ".bias", {out}, 0.02, 0});
}

void add_norm(std::vector<WeightSpec>& specs, const std::string& name, int64_t dim) {
  specs.push_back({name, {dim}, 0.0, 1.0f});
}

std::string replace_prefix(const std::string& key, const std::string& from, const std::string& to) {
  return key.compare(0, from.size(), from) == 0 ? to + key.substr(from.size()) : "";
}

}  // namespace

std::vector<WeightSpec> wan_weight_specs(const WanConfig& c) {
  std::vector<WeightSpec> s;
  s.push_back({"patch_embedding.weight", {c.dim, c.in_channels, c.patch_t, c.patch_h, c.patch_w},
               1.0 / std::sqrt(static_cast<double>(c.patch_values())), 0});
  s.push_back({"patch_embedding.bias", {c.dim}, 0.02, 0});
  add_linear(s, "condition_embedder.time_embedder.linear_1", c.dim, c.freq_dim);
  add_linear(s, "condition_embedder.time_embedder.linear_2", c.dim, c.dim);
  add_linear(s, "condition_embedder.time_proj", 6 * c.dim, c.dim, 0.5);
  add_linear(s, "condition_embedder.text_embedder.linear_1", c.dim, c.text_dim);
  add_linear(s, "condition_embedder.text_embedder.linear_2", c.dim, c.dim);
  for (int64_t i = 0; i < c.layers; ++i) {
    const std::string b = "blocks." + std::to_string(i) + ".";
    for (const char* attn : {"attn1", "attn2"}) {
      const std::string a = b + attn;
      add_linear(s, a + ".to_q", c.dim, c.dim);
      add_linear(s, a + ".to_k", c.dim, c.dim);
      add_linear(s, a + ".to_v", c.dim, c.dim);
      add_linear(s, a + ".to_out.0", c.dim, c.dim, 0.5);
      add_norm(s, a + ".norm_q.weight", c.dim);
      add_norm(s, a + ".norm_k.weight", c.dim);
    }
    add_norm(s, b + "norm2.weight", c.dim);
    s.push_back({b + "norm2.bias", {c.dim}, 0.0, 0.0f});
    add_linear(s, b + "ffn.net.0.proj", c.ffn_dim, c.dim);
    add_linear(s, b + "ffn.net.2", c.dim, c.ffn_dim, 0.5);
    // Modulation offsets: the pretrained tables are O(1/sqrt(dim)).
    s.push_back({b + "scale_shift_table", {1, 6, c.dim}, 1.0 / std::sqrt(static_cast<double>(c.dim)), 0});
  }
  s.push_back({"scale_shift_table", {1, 2, c.dim}, 1.0 / std::sqrt(static_cast<double>(c.dim)), 0});
  add_linear(s, "proj_out", c.out_patch_values(), c.dim);
  return s;
}

std::string canonical_weight_name(const std::string& key) {
  static const std::pair<const char*, const char*> kTop[] = {
      {"text_embedding.0.", "condition_embedder.text_embedder.linear_1."},
      {"text_embedding.2.", "condition_embedder.text_embedder.linear_2."},
      {"time_embedding.0.", "condition_embedder.time_embedder.linear_1."},
      {"time_embedding.2.", "condition_embedder.time_embedder.linear_2."},
      {"time_projection.1.", "condition_embedder.time_proj."},
      {"head.head.", "proj_out."},
  };
  for (const auto& [from, to] : kTop) {
    const std::string r = replace_prefix(key, from, to);
    if (!r.empty()) return r;
  }
  if (key == "head.modulation") return "scale_shift_table";
  if (key.compare(0, 7, "blocks.") == 0) {
    const size_t dot = key.find('.', 7);
    if (dot == std::string::npos) return "";
    const std::string b = key.substr(0, dot + 1), rest = key.substr(dot + 1);
    static const std::pair<const char*, const char*> kBlock[] = {
        {"self_attn.q.", "attn1.to_q."},     {"self_attn.k.", "attn1.to_k."},
        {"self_attn.v.", "attn1.to_v."},     {"self_attn.o.", "attn1.to_out.0."},
        {"self_attn.norm_q.", "attn1.norm_q."}, {"self_attn.norm_k.", "attn1.norm_k."},
        {"cross_attn.q.", "attn2.to_q."},    {"cross_attn.k.", "attn2.to_k."},
        {"cross_attn.v.", "attn2.to_v."},    {"cross_attn.o.", "attn2.to_out.0."},
        {"cross_attn.norm_q.", "attn2.norm_q."}, {"cross_attn.norm_k.", "attn2.norm_k."},
        {"norm3.", "norm2."},                {"ffn.0.", "ffn.net.0.proj."},
        {"ffn.2.", "ffn.net.2."},
    };
    for (const auto& [from, to] : kBlock) {
      const std::string r = replace_prefix(rest, from, to);
      if (!r.empty()) return b + r;
    }
    if (rest == "modulation") return b + "scale_shift_table";
  }
  return key;
}

Result<WanWeights> WanWeights::synthetic(const WanConfig& config, uint64_t seed, Device device) {
  WAN_RETURN_IF_ERROR(config.validate());
  WanWeights w;
  w.config_ = config;
  w.source_ = "synthetic:seed=" + std::to_string(seed);
  for (const WeightSpec& spec : wan_weight_specs(config)) {
    WAN_ASSIGN_OR_RETURN(Tensor t, Tensor::empty(spec.shape, DType::kBF16, device));
    if (device.is_cuda()) {
      uint16_t* dst = static_cast<uint16_t*>(t.raw_data());
      if (spec.init_std > 0) {
        launch_scaled_normal_bf16(dst, t.numel(), seed, philox_stream_for_name(spec.name), spec.init_std, nullptr);
      } else {
        launch_fill_bf16(dst, t.numel(), spec.constant, nullptr);
      }
      w.tensors_.emplace(spec.name, std::move(t));
      continue;
    }
    BFloat16* dst = t.data<BFloat16>();
    const uint64_t stream = philox_stream_for_name(spec.name);
    for (int64_t i = 0; i < t.numel(); ++i) {
      const float v = spec.init_std > 0
                          ? static_cast<float>(spec.init_std * philox_normal(seed, stream, i))
                          : spec.constant;
      dst[i] = BFloat16(v);
    }
    w.tensors_.emplace(spec.name, std::move(t));
  }
  if (device.is_cuda()) WAN_CUDA_CHECK(cudaDeviceSynchronize());
  return w;
}

Result<WanWeights> WanWeights::load(const WanConfig& config, const std::string& path) {
  WAN_RETURN_IF_ERROR(config.validate());
  WAN_ASSIGN_OR_RETURN(Checkpoint ckpt, Checkpoint::open(path));
  WAN_ASSIGN_OR_RETURN(const auto keys, ckpt.canonical_keys(canonical_weight_name));  // canonical -> key
  WanWeights w;
  w.config_ = config;
  w.source_ = path;
  for (const WeightSpec& spec : wan_weight_specs(config)) {
    const auto it = keys.find(spec.name);
    if (it == keys.end()) {
      return not_found("checkpoint '" + path + "' has no tensor '" + spec.name +
                       "' (nor its original-Wan-layout name), which model config '" +
                       config.name + "' needs; is this a Wan2.1 " + config.name +
                       " transformer checkpoint?");
    }
    WAN_ASSIGN_OR_RETURN(Tensor t, ckpt.tensor(it->second));
    if (t.shape() != spec.shape) {
      return invalid_argument("checkpoint '" + path + "': tensor '" + it->second + "' has shape " +
                              shape_to_string(t.shape()) + " but model config '" + config.name +
                              "' expects " + shape_to_string(spec.shape) +
                              "; pick the config that matches the checkpoint (--model)");
    }
    if (t.dtype() != DType::kF32 && t.dtype() != DType::kBF16 && t.dtype() != DType::kF16) {
      return invalid_argument("checkpoint '" + path + "': tensor '" + it->second + "' has dtype " +
                              std::string(dtype_name(t.dtype())) + "; expected f32, bf16 or f16");
    }
    w.tensors_.emplace(spec.name, std::move(t));
  }
  // Optional per-layer weights of the attention backends (the table's Linear(dim, dim)s and
  // Linear(head_dim, head_dim)s), kept when present.
  for (const AttentionBackendInfo& backend : attention_backend_table()) {
    for (const LayerWeightSpec& spec : backend.layer_weights) {
      for (int64_t i = 0; i < config.layers; ++i) {
        const std::string name = "blocks." + std::to_string(i) + "." + spec.name;
        if (!keys.count(name + ".weight")) continue;
        const int64_t n = spec.kind == LayerWeightKind::kHeadDimLinear ? config.head_dim : config.dim;
        for (const auto& [suffix, shape] : {std::pair<std::string, Shape>{".weight", {n, n}}, {".bias", {n}}}) {
          const auto it = keys.find(name + suffix);
          if (it == keys.end())
            return not_found("checkpoint '" + path + "' has '" + name + ".weight' but no '" + name + suffix + "'");
          WAN_ASSIGN_OR_RETURN(Tensor t, ckpt.tensor(it->second));
          if (t.shape() != shape ||
              (t.dtype() != DType::kF32 && t.dtype() != DType::kBF16 && t.dtype() != DType::kF16))
            return invalid_argument("checkpoint '" + path + "': tensor '" + it->second + "' is " + t.describe() +
                                    "; expected a float tensor " + shape_to_string(shape));
          w.tensors_.emplace(name + suffix, std::move(t));
        }
      }
    }
  }
  return w;
}

Status WanWeights::save(const std::string& path) const {
  std::vector<std::pair<std::string, Tensor>> list;
  for (const auto& [name, t] : tensors_) {
    WAN_ASSIGN_OR_RETURN(Tensor host, t.to(Device::cpu()));
    list.emplace_back(name, host);
  }
  return write_safetensors(path, list, {{"format", "pt"}, {"source", source_},
                                        {"config", config_to_json(config_)}});
}

std::vector<int64_t> WanWeights::blocks_with(const std::string& name) const {
  std::vector<int64_t> blocks;
  for (int64_t i = 0; i < config_.layers; ++i)
    if (tensors_.count("blocks." + std::to_string(i) + "." + name + ".weight")) blocks.push_back(i);
  return blocks;
}

Result<Tensor> WanWeights::get(const std::string& name) const {
  const auto it = tensors_.find(name);
  if (it == tensors_.end()) return not_found("no weight named '" + name + "'");
  return it->second;
}

Result<std::vector<float>> WanWeights::get_f32(const std::string& name) const {
  WAN_ASSIGN_OR_RETURN(Tensor t, get(name));
  WAN_ASSIGN_OR_RETURN(Tensor c, t.to(Device::cpu()));
  std::vector<float> out(static_cast<size_t>(c.numel()));
  for (int64_t i = 0; i < c.numel(); ++i) {
    switch (c.dtype()) {
      case DType::kF32: out[i] = c.data<float>()[i]; break;
      case DType::kBF16: out[i] = c.data<BFloat16>()[i].to_float(); break;
      case DType::kF16: out[i] = c.data<Float16>()[i].to_float(); break;
      default: return invalid_argument("weight '" + name + "' is not a float tensor");
    }
  }
  return out;
}

}  // namespace wan
