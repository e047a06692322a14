#include "engine/vae/vae_config.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "engine/core/file_reader.h"
#include "engine/core/json_reader.h"

namespace wan {
namespace {

// diffusers AutoencoderKLWan defaults (FastVideo configs/models/vaes/wanvae.py has the same).
const std::vector<float> kWan21Mean = {-0.7571f, -0.7089f, -0.9113f, 0.1075f, -0.1745f, 0.9653f,
                                       -0.1517f, 1.5508f,  0.4134f,  -0.0715f, 0.5517f, -0.3632f,
                                       -0.1922f, -0.9497f, 0.2503f,  -0.2921f};
const std::vector<float> kWan21Std = {2.8184f, 1.4541f, 2.3275f, 2.6558f, 1.2196f, 1.7708f,
                                      2.6052f, 2.0743f, 3.2687f, 2.1526f, 2.8652f, 1.5579f,
                                      1.6382f, 1.1253f, 2.8251f, 1.9160f};
constexpr int64_t kMaxDim = 4096;

WanVaeConfig wan21() {
  WanVaeConfig c;
  c.latents_mean = kWan21Mean;
  c.latents_std = kWan21Std;
  return c;
}

}  // namespace

std::vector<int64_t> WanVaeConfig::decoder_dims() const {
  std::vector<int64_t> dims = {dim_mult.back() * base_dim};
  for (auto it = dim_mult.rbegin(); it != dim_mult.rend(); ++it) dims.push_back(*it * base_dim);
  return dims;
}

std::string WanVaeConfig::upsample_mode(int64_t block) const {
  if (block + 1 >= up_blocks()) return "";
  // temperal_upsample = temperal_downsample[::-1]
  const bool temporal = temporal_downsample[temporal_downsample.size() - 1 - static_cast<size_t>(block)];
  return temporal ? "upsample3d" : "upsample2d";
}

int64_t WanVaeConfig::spatial_scale() const { return int64_t{1} << (up_blocks() - 1); }

int64_t WanVaeConfig::temporal_scale() const {
  int64_t s = 1;
  for (int64_t b = 0; b + 1 < up_blocks(); ++b)
    if (upsample_mode(b) == "upsample3d") s *= 2;
  return s;
}

int64_t WanVaeConfig::video_frames(int64_t latent_frames) const {
  return latent_frames <= 0 ? 0 : 1 + temporal_scale() * (latent_frames - 1);
}

Status WanVaeConfig::validate() const {
  const std::string where = "VAE config '" + name + "': ";
  if (base_dim < 2 || base_dim > kMaxDim || base_dim % 2 != 0)
    return invalid_argument(where + "base_dim must be an even number in [2, " + std::to_string(kMaxDim) + "], got " +
                            std::to_string(base_dim));
  if (z_dim < 1 || z_dim > 256) return invalid_argument(where + "z_dim must be in [1, 256], got " + std::to_string(z_dim));
  if (dim_mult.size() < 2 || dim_mult.size() > 6)
    return invalid_argument(where + "dim_mult needs 2 to 6 entries, got " + std::to_string(dim_mult.size()));
  for (int64_t m : dim_mult)
    if (m < 1 || m > kMaxDim / base_dim)  // m * base_dim <= kMaxDim, without overflowing
      return invalid_argument(where + "dim_mult entries must be >= 1 with dim_mult * base_dim <= " +
                              std::to_string(kMaxDim) + ", got " + std::to_string(m));
  // Up blocks 1.. take half the previous block's width as input (the upsampler halves it).
  const std::vector<int64_t> dims = decoder_dims();
  for (size_t i = 1; i + 1 < dims.size(); ++i)
    if (dims[i] % 2 != 0) return invalid_argument(where + "decoder widths must be even");
  if (num_res_blocks < 0 || num_res_blocks > 8)
    return invalid_argument(where + "num_res_blocks must be in [0, 8], got " + std::to_string(num_res_blocks));
  if (temporal_downsample.size() + 1 != dim_mult.size())
    return invalid_argument(where + "temperal_downsample needs " + std::to_string(dim_mult.size() - 1) +
                            " entries (one per dim_mult entry but the last), got " +
                            std::to_string(temporal_downsample.size()));
  if (static_cast<int64_t>(latents_mean.size()) != z_dim || static_cast<int64_t>(latents_std.size()) != z_dim)
    return invalid_argument(where + "latents_mean and latents_std need z_dim = " + std::to_string(z_dim) +
                            " values each, got " + std::to_string(latents_mean.size()) + " and " +
                            std::to_string(latents_std.size()));
  for (size_t i = 0; i < latents_std.size(); ++i)
    if (!std::isfinite(latents_mean[i]) || !std::isfinite(latents_std[i]) || !(latents_std[i] > 0))
      return invalid_argument(where + "latents_mean must be finite and latents_std finite and > 0 (entry " +
                              std::to_string(i) + ")");
  return Status();
}

std::vector<std::string> vae_config_names() { return {"wan2.1-vae", "vae-tiny"}; }

Result<WanVaeConfig> vae_config_by_name(const std::string& name) {
  if (name == "wan2.1-vae") return wan21();
  if (name == "vae-tiny") {
    WanVaeConfig c = wan21();
    c.name = "vae-tiny";
    c.base_dim = 8;
    return c;
  }
  std::string list;
  for (const auto& n : vae_config_names()) list += (list.empty() ? "" : ", ") + n;
  return not_found("unknown VAE config '" + name + "'; known: " + list + ", or a path to diffusers' vae/config.json");
}

Result<WanVaeConfig> vae_config_from_json_file(const std::string& path) {
  auto text = read_file(path);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) return not_found("cannot open VAE config file '" + path + "'");
    return text.status().with_context("VAE config");
  }
  const JsonSource source{"VAE config '" + path + "'", "fix the file (diffusers AutoencoderKLWan config.json fields)"};
  WAN_ASSIGN_OR_RETURN(const nlohmann::json j, parse_json(text.value(), source));
  const JsonValue root(j, source);
  WAN_ASSIGN_OR_RETURN(const auto members, root.members());
  WanVaeConfig c = wan21();
  c.name = path;
  for (const auto& [key, value] : members) {
    if (!key.empty() && key[0] == '_') continue;  // diffusers bookkeeping
    if (key == "base_dim") {
      WAN_ASSIGN_OR_RETURN(c.base_dim, value.as_int());
    } else if (key == "z_dim") {
      WAN_ASSIGN_OR_RETURN(c.z_dim, value.as_int());
    } else if (key == "num_res_blocks") {
      WAN_ASSIGN_OR_RETURN(c.num_res_blocks, value.as_int());
    } else if (key == "dim_mult") {
      WAN_ASSIGN_OR_RETURN(c.dim_mult, value.as_int_array());
    } else if (key == "temperal_downsample") {
      WAN_ASSIGN_OR_RETURN(const auto elements, value.elements());
      c.temporal_downsample.clear();
      for (const JsonValue& e : elements) {
        WAN_ASSIGN_OR_RETURN(const bool b, e.as_bool());
        c.temporal_downsample.push_back(b);
      }
    } else if (key == "latents_mean" || key == "latents_std") {
      WAN_ASSIGN_OR_RETURN(const auto elements, value.elements());
      std::vector<float>& out = key == "latents_mean" ? c.latents_mean : c.latents_std;
      out.clear();
      for (const JsonValue& e : elements) {
        WAN_ASSIGN_OR_RETURN(const double v, e.as_number(-1e6, 1e6));
        out.push_back(static_cast<float>(v));
      }
    } else if (key == "is_residual") {
      WAN_ASSIGN_OR_RETURN(const bool residual, value.as_bool());
      if (residual) return unimplemented("VAE config '" + path + "': is_residual true is the Wan2.2 VAE; this engine decodes the Wan2.1 VAE");
    } else if (key == "patch_size") {
      if (!value.is_null()) {
        WAN_ASSIGN_OR_RETURN(const int64_t p, value.as_int());
        if (p != 1) return unimplemented("VAE config '" + path + "': patch_size " + std::to_string(p) + " is the Wan2.2 VAE; this engine decodes the Wan2.1 VAE");
      }
    } else if (key == "attn_scales" || key == "dropout" || key == "in_channels" || key == "out_channels" ||
               key == "decoder_base_dim" || key == "scale_factor_temporal" || key == "scale_factor_spatial" ||
               key == "clip_output") {
      // Encoder-only or derived fields (attn_scales is empty for Wan2.1; dropout is off at
      // inference). decoder_base_dim, when not null, must equal base_dim.
      if (key == "decoder_base_dim" && !value.is_null()) {
        WAN_ASSIGN_OR_RETURN(const int64_t d, value.as_int());
        if (d != c.base_dim && root.has("base_dim"))
          return unimplemented("VAE config '" + path + "': decoder_base_dim differs from base_dim (a Wan2.2 layout)");
      }
    } else {
      return value.error("is not a VAE config field (known: base_dim, z_dim, dim_mult, num_res_blocks, "
                         "temperal_downsample, latents_mean, latents_std)");
    }
  }
  WAN_RETURN_IF_ERROR(c.validate());
  return c;
}

Result<WanVaeConfig> resolve_vae_config(const std::string& name_or_path) {
  if (name_or_path.size() > 5 && name_or_path.substr(name_or_path.size() - 5) == ".json")
    return vae_config_from_json_file(name_or_path);
  return vae_config_by_name(name_or_path);
}

std::string vae_config_to_json(const WanVaeConfig& c) {
  std::vector<bool> td = c.temporal_downsample;
  nlohmann::json j = {{"name", c.name},
                      {"base_dim", c.base_dim},
                      {"z_dim", c.z_dim},
                      {"dim_mult", c.dim_mult},
                      {"num_res_blocks", c.num_res_blocks},
                      {"temperal_downsample", td},
                      {"latents_mean", c.latents_mean},
                      {"latents_std", c.latents_std}};
  return j.dump();
}

}  // namespace wan
