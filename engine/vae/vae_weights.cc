#include "engine/vae/vae_weights.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <utility>

#include "engine/core/file_reader.h"
#include "engine/core/rng.h"
#include "engine/model/safetensors.h"
#include "kernels/common/float16.h"

namespace wan {
namespace {

std::string idx(int64_t i) { return std::to_string(i); }

void add_conv(std::vector<VaeWeightSpec>& s, const std::string& prefix, Shape shape, double gain = 1.0) {
  int64_t fan_in = 1;
  for (size_t d = 1; d < shape.size(); ++d) fan_in *= shape[d];
  const int64_t out = shape[0];
  s.push_back({prefix + ".weight", std::move(shape), 0.0, gain / std::sqrt(static_cast<double>(fan_in))});
  s.push_back({prefix + ".bias", {out}, 0.0, 0.02});
}

void add_gamma(std::vector<VaeWeightSpec>& s, const std::string& name, Shape shape) {
  s.push_back({name, std::move(shape), 1.0, 0.1});
}

void add_residual(std::vector<VaeWeightSpec>& s, const std::string& p, int64_t in, int64_t out) {
  add_gamma(s, p + ".norm1.gamma", {in, 1, 1, 1});
  add_conv(s, p + ".conv1", {out, in, 3, 3, 3});
  add_gamma(s, p + ".norm2.gamma", {out, 1, 1, 1});
  add_conv(s, p + ".conv2", {out, out, 3, 3, 3});
  if (in != out) add_conv(s, p + ".conv_shortcut", {out, in, 1, 1, 1});
}

// Residual-block sublayer names: original Wan's nn.Sequential index -> diffusers name.
std::string residual_part(const std::string& rest) {
  static const std::pair<const char*, const char*> kParts[] = {
      {"residual.0.", "norm1."}, {"residual.2.", "conv1."}, {"residual.3.", "norm2."},
      {"residual.6.", "conv2."}, {"shortcut.", "conv_shortcut."}};
  for (const auto& [from, to] : kParts)
    if (rest.compare(0, std::char_traits<char>::length(from), from) == 0)
      return to + rest.substr(std::char_traits<char>::length(from));
  return "";
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

// Splits "12.rest" into (12, "rest"); false when there is no leading index.
bool split_index(const std::string& s, int64_t* index, std::string* rest) {
  const size_t dot = s.find('.');
  if (dot == 0 || dot == std::string::npos || dot > 3) return false;
  for (size_t i = 0; i < dot; ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  *index = std::stoll(s.substr(0, dot));
  *rest = s.substr(dot + 1);
  return true;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

Status refuse_pickle(const std::string& path) {
  return invalid_argument(
      "VAE checkpoint '" + path + "' is a PyTorch pickle (.pth/.pt), which this engine does not execute; convert it "
      "once with: python3 -c \"import torch; from safetensors.torch import save_file; sd = torch.load('" + path +
      "', map_location='cpu', weights_only=True); save_file({k: v.contiguous() for k, v in sd.items()}, "
      "'Wan2.1_VAE.safetensors')\" and pass the .safetensors file");
}

}  // namespace

std::vector<VaeWeightSpec> vae_weight_specs(const WanVaeConfig& c) {
  std::vector<VaeWeightSpec> s;
  const std::vector<int64_t> d = c.decoder_dims();
  add_conv(s, "post_quant_conv", {c.z_dim, c.z_dim, 1, 1, 1});
  add_conv(s, "decoder.conv_in", {d[0], c.z_dim, 3, 3, 3});
  add_residual(s, "decoder.mid_block.resnets.0", d[0], d[0]);
  add_gamma(s, "decoder.mid_block.attentions.0.norm.gamma", {d[0], 1, 1});
  add_conv(s, "decoder.mid_block.attentions.0.to_qkv", {3 * d[0], d[0], 1, 1});
  add_conv(s, "decoder.mid_block.attentions.0.proj", {d[0], d[0], 1, 1});
  add_residual(s, "decoder.mid_block.resnets.1", d[0], d[0]);
  for (int64_t i = 0; i < c.up_blocks(); ++i) {
    const std::string b = "decoder.up_blocks." + idx(i);
    int64_t in = i == 0 ? d[0] : d[i] / 2;
    const int64_t out = d[i + 1];
    for (int64_t j = 0; j <= c.num_res_blocks; ++j) {
      add_residual(s, b + ".resnets." + idx(j), in, out);
      in = out;
    }
    const std::string mode = c.upsample_mode(i);
    if (mode.empty()) continue;
    add_conv(s, b + ".upsamplers.0.resample.1", {out / 2, out, 3, 3});
    if (mode == "upsample3d") add_conv(s, b + ".upsamplers.0.time_conv", {2 * out, out, 3, 1, 1});
  }
  add_gamma(s, "decoder.norm_out.gamma", {d.back(), 1, 1, 1});
  add_conv(s, "decoder.conv_out", {3, d.back(), 3, 3, 3});
  return s;
}

std::string canonical_vae_weight_name(const WanVaeConfig& c, const std::string& key) {
  if (starts_with(key, "post_quant_conv.") || starts_with(key, "decoder.conv_in.") ||
      starts_with(key, "decoder.mid_block.") || starts_with(key, "decoder.up_blocks.") ||
      starts_with(key, "decoder.norm_out.") || starts_with(key, "decoder.conv_out."))
    return key;
  if (starts_with(key, "conv2.")) return "post_quant_conv." + key.substr(6);
  if (starts_with(key, "decoder.conv1.")) return "decoder.conv_in." + key.substr(14);
  if (starts_with(key, "decoder.head.0.")) return "decoder.norm_out." + key.substr(15);
  if (starts_with(key, "decoder.head.2.")) return "decoder.conv_out." + key.substr(15);
  int64_t n = 0;
  std::string rest;
  if (starts_with(key, "decoder.middle.") && split_index(key.substr(15), &n, &rest)) {
    if (n == 1) {
      for (const char* part : {"norm.", "to_qkv.", "proj."})
        if (starts_with(rest, part)) return "decoder.mid_block.attentions.0." + rest;
      return "";
    }
    if (n != 0 && n != 2) return "";
    const std::string r = residual_part(rest);
    return r.empty() ? "" : "decoder.mid_block.resnets." + idx(n / 2) + "." + r;
  }
  if (starts_with(key, "decoder.upsamples.") && split_index(key.substr(18), &n, &rest)) {
    // Flat list: each up block's num_res_blocks + 1 residual blocks, then its resampler.
    for (int64_t b = 0; b < c.up_blocks(); ++b) {
      const int64_t count = c.num_res_blocks + 1 + (c.upsample_mode(b).empty() ? 0 : 1);
      if (n >= count) {
        n -= count;
        continue;
      }
      const std::string block = "decoder.up_blocks." + idx(b);
      if (n <= c.num_res_blocks) {
        const std::string r = residual_part(rest);
        return r.empty() ? "" : block + ".resnets." + idx(n) + "." + r;
      }
      if (starts_with(rest, "resample.1.") || starts_with(rest, "time_conv.")) return block + ".upsamplers.0." + rest;
      return "";
    }
  }
  return "";
}

Result<std::string> locate_vae_checkpoint(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) return not_found("VAE checkpoint '" + path + "' does not exist");
  if (fs::is_directory(st)) {
    for (const char* name : {"diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.safetensors.index.json"})
      if (fs::exists(fs::path(path) / name, ec)) return (fs::path(path) / name).string();
    if (fs::is_directory(fs::path(path) / "vae", ec)) return locate_vae_checkpoint((fs::path(path) / "vae").string());
    for (const char* name : {"Wan2.1_VAE.pth", "diffusion_pytorch_model.bin"})
      if (fs::exists(fs::path(path) / name, ec)) return refuse_pickle((fs::path(path) / name).string());
    return invalid_argument("folder '" + path + "' holds no VAE: expected diffusion_pytorch_model.safetensors "
                            "(diffusers' vae/ folder) or a vae/ subfolder; or pass the .safetensors file");
  }
  for (const char* ext : {".pth", ".pt", ".ckpt", ".bin", ".pkl"})
    if (ends_with(path, ext)) return refuse_pickle(path);
  // A zip (torch.save's default) or a raw pickle (protocol 2+ starts with 0x80) under another name.
  if (FILE* f = std::fopen(path.c_str(), "rb")) {
    unsigned char head[2] = {0, 0};
    const size_t got = std::fread(head, 1, 2, f);
    std::fclose(f);
    if (got == 2 && ((head[0] == 'P' && head[1] == 'K') || head[0] == 0x80)) return refuse_pickle(path);
  }
  return path;
}

std::optional<std::string> vae_config_beside(const std::string& checkpoint_file) {
  std::error_code ec;
  const std::filesystem::path config = std::filesystem::path(checkpoint_file).parent_path() / "config.json";
  if (std::filesystem::is_regular_file(config, ec)) return config.string();
  return std::nullopt;
}

Result<VaeWeights> VaeWeights::synthetic(const WanVaeConfig& config, uint64_t seed) {
  WAN_RETURN_IF_ERROR(config.validate());
  VaeWeights w;
  w.config_ = config;
  w.source_ = "synthetic:seed=" + std::to_string(seed);
  for (const VaeWeightSpec& spec : vae_weight_specs(config)) {
    WAN_ASSIGN_OR_RETURN(Tensor t, Tensor::empty(spec.shape, DType::kF32));
    WAN_RETURN_IF_ERROR(fill_normal(t, seed, philox_stream_for_name(spec.name)));
    float* v = t.data<float>();
    for (int64_t i = 0; i < t.numel(); ++i)
      v[i] = static_cast<float>(spec.mean + spec.std * static_cast<double>(v[i]));
    w.tensors_.emplace(spec.name, std::move(t));
  }
  return w;
}

Result<VaeWeights> VaeWeights::load(const WanVaeConfig& config, const std::string& path) {
  WAN_RETURN_IF_ERROR(config.validate());
  WAN_ASSIGN_OR_RETURN(const std::string file, locate_vae_checkpoint(path));
  WAN_ASSIGN_OR_RETURN(Checkpoint ckpt, Checkpoint::open(file));
  WAN_ASSIGN_OR_RETURN(const auto keys, ckpt.canonical_keys([&](const std::string& key) {
    return canonical_vae_weight_name(config, key);
  }));
  VaeWeights w;
  w.config_ = config;
  w.source_ = file;
  for (const VaeWeightSpec& spec : vae_weight_specs(config)) {
    const auto it = keys.find(spec.name);
    if (it == keys.end())
      return not_found("VAE checkpoint '" + file + "' has no tensor '" + spec.name +
                       "' (nor its original-Wan-VAE name), which VAE config '" + config.name +
                       "' needs; is this a Wan2.1 VAE (diffusers AutoencoderKLWan) checkpoint?");
    WAN_ASSIGN_OR_RETURN(Tensor t, ckpt.tensor(it->second));
    if (t.shape() != spec.shape)
      return invalid_argument("VAE checkpoint '" + file + "': tensor '" + it->second + "' has shape " +
                              shape_to_string(t.shape()) + " but VAE config '" + config.name + "' expects " +
                              shape_to_string(spec.shape) + "; pick the VAE config that matches (--vae-config)");
    WAN_ASSIGN_OR_RETURN(Tensor f32, Tensor::empty(spec.shape, DType::kF32));
    float* dst = f32.data<float>();
    const int64_t n = t.numel();
    switch (t.dtype()) {
      case DType::kF32:
        for (int64_t i = 0; i < n; ++i) dst[i] = t.data<float>()[i];
        break;
      case DType::kBF16:
        for (int64_t i = 0; i < n; ++i) dst[i] = t.data<BFloat16>()[i].to_float();
        break;
      case DType::kF16:
        for (int64_t i = 0; i < n; ++i) dst[i] = t.data<Float16>()[i].to_float();
        break;
      default:
        return invalid_argument("VAE checkpoint '" + file + "': tensor '" + it->second + "' has dtype " +
                                std::string(dtype_name(t.dtype())) + "; expected f32, bf16 or f16");
    }
    for (int64_t i = 0; i < n; ++i)
      if (!std::isfinite(dst[i]))
        return data_loss("VAE checkpoint '" + file + "': tensor '" + it->second + "' holds a non-finite value at " +
                         "element " + std::to_string(i) + "; the file is corrupt");
    w.tensors_.emplace(spec.name, std::move(f32));
  }
  return w;
}

Status VaeWeights::save(const std::string& path) const {
  std::vector<std::pair<std::string, Tensor>> list(tensors_.begin(), tensors_.end());
  return write_safetensors(path, list, {{"format", "pt"}, {"source", source_}, {"config", vae_config_to_json(config_)}});
}

Result<VaeConvKernel> vae_conv_kernel(const VaeWeights& weights, const std::string& weight) {
  WAN_ASSIGN_OR_RETURN(const Tensor w, weights.get(weight + ".weight"));
  WAN_ASSIGN_OR_RETURN(const Tensor b, weights.get(weight + ".bias"));
  VaeConvKernel k;
  if (w.dim() != 4 && w.dim() != 5)
    return invalid_argument("VAE weight '" + weight + ".weight' is not a convolution weight: " + w.describe());
  k.out = w.size(0);
  k.in = w.size(1);
  if (w.dim() == 5) k.kt = w.size(2);
  k.kh = w.size(-2);
  k.kw = w.size(-1);
  if ((k.kt != 1 && k.kt != 3) || k.kh % 2 == 0 || k.kw % 2 == 0 || b.numel() != k.out)
    return invalid_argument("VAE weight '" + weight + "' has an unsupported kernel " + w.describe());
  return k;
}

Result<Tensor> VaeWeights::get(const std::string& name) const {
  const auto it = tensors_.find(name);
  if (it == tensors_.end()) return not_found("no VAE weight named '" + name + "'");
  return it->second;
}

const float* VaeWeights::data(const std::string& name) const {
  const auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : it->second.data<float>();
}

}  // namespace wan
