#include "engine/model/config.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace wan {
namespace {

WanConfig wan_1_3b() {
  WanConfig c;
  c.name = "wan2.1-t2v-1.3b";
  return c;
}

WanConfig wan_14b() {
  WanConfig c;
  c.name = "wan2.1-t2v-14b";
  c.dim = 5120;
  c.heads = 40;
  c.ffn_dim = 13824;
  c.layers = 40;
  c.default_height = 720;
  c.default_width = 1280;
  c.default_shift = 5.0;
  c.default_guidance = 5.0;
  return c;
}

// 128x128 px, 13 frames -> latent 4x16x16 -> 4x8x8 = 256 tokens.
WanConfig wan_tiny() {
  WanConfig c;
  c.name = "wan-tiny";
  c.dim = 128;
  c.heads = 2;
  c.head_dim = 64;
  c.ffn_dim = 256;
  c.layers = 2;
  c.text_dim = 64;
  c.text_len = 16;
  c.default_height = 128;
  c.default_width = 128;
  c.default_frames = 13;
  c.default_steps = 8;
  return c;
}

// 240x416 px, 17 frames -> latent 5x30x52 -> 5x15x26 = 1,950 tokens.
WanConfig wan_small() {
  WanConfig c;
  c.name = "wan-small";
  c.dim = 256;
  c.heads = 4;
  c.head_dim = 64;
  c.ffn_dim = 768;
  c.layers = 4;
  c.text_dim = 256;
  c.text_len = 64;
  c.default_height = 240;
  c.default_width = 416;
  c.default_frames = 17;
  c.default_steps = 4;
  return c;
}

}  // namespace

Status WanConfig::validate() const {
  auto bad = [&](const std::string& what) {
    return invalid_argument("model config '" + name + "': " + what);
  };
  if (dim <= 0 || heads <= 0 || layers <= 0 || ffn_dim <= 0 || text_dim <= 0 || text_len <= 0)
    return bad("dim, heads, layers, ffn_dim, text_dim and text_len must be positive");
  if (heads * head_dim != dim)
    return bad("heads x head_dim = " + std::to_string(heads * head_dim) + " != dim " +
               std::to_string(dim));
  if (head_dim % 2 != 0 || head_dim < 12)
    return bad("head_dim " + std::to_string(head_dim) + " must be even and >= 12 for 3D RoPE");
  if (freq_dim % 2 != 0 || freq_dim <= 0) return bad("freq_dim must be positive and even");
  if (patch_t != 1 || patch_h != 2 || patch_w != 2)
    return bad("only patch size (1, 2, 2) is supported (Wan2.1)");
  if (in_channels <= 0 || out_channels <= 0) return bad("channel counts must be positive");
  if (!(eps > 0)) return bad("eps must be positive");
  return Status();
}

std::vector<std::string> config_names() {
  return {"wan2.1-t2v-1.3b", "wan2.1-t2v-14b", "wan-tiny", "wan-small"};
}

Result<WanConfig> config_by_name(const std::string& name) {
  if (name == "wan2.1-t2v-1.3b") return wan_1_3b();
  if (name == "wan2.1-t2v-14b") return wan_14b();
  if (name == "wan-tiny") return wan_tiny();
  if (name == "wan-small") return wan_small();
  std::string list;
  for (const auto& n : config_names()) list += (list.empty() ? "" : ", ") + n;
  return not_found("unknown model config '" + name + "'; known: " + list +
                   ", or a path to a JSON config file");
}

Result<WanConfig> config_from_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return not_found("cannot open model config file '" + path + "'");
  nlohmann::json j;
  try {
    in >> j;
  } catch (const nlohmann::json::exception& e) {
    return data_loss("model config '" + path + "' is not valid JSON: " + e.what());
  }
  if (!j.is_object()) return data_loss("model config '" + path + "' must be a JSON object");
  WanConfig c = wan_1_3b();
  c.name = path;
  try {
    auto get = [&](const char* key, auto& field) {
      if (j.contains(key)) field = j.at(key).get<std::remove_reference_t<decltype(field)>>();
    };
    get("name", c.name);
    get("dim", c.dim);
    get("heads", c.heads);
    get("num_attention_heads", c.heads);
    get("head_dim", c.head_dim);
    get("attention_head_dim", c.head_dim);
    get("ffn_dim", c.ffn_dim);
    get("layers", c.layers);
    get("num_layers", c.layers);
    get("text_dim", c.text_dim);
    get("text_len", c.text_len);
    get("freq_dim", c.freq_dim);
    get("in_channels", c.in_channels);
    get("out_channels", c.out_channels);
    get("eps", c.eps);
    get("default_height", c.default_height);
    get("default_width", c.default_width);
    get("default_frames", c.default_frames);
    get("default_shift", c.default_shift);
    get("default_guidance", c.default_guidance);
    get("default_steps", c.default_steps);
    if (!j.contains("dim") && (j.contains("num_attention_heads") || j.contains("heads")))
      c.dim = c.heads * c.head_dim;
    if (j.contains("patch_size")) {
      const auto& p = j.at("patch_size");
      c.patch_t = p.at(0).get<int64_t>();
      c.patch_h = p.at(1).get<int64_t>();
      c.patch_w = p.at(2).get<int64_t>();
    }
  } catch (const nlohmann::json::exception& e) {
    return data_loss("model config '" + path + "': a field has the wrong type: " + e.what());
  }
  WAN_RETURN_IF_ERROR(c.validate());
  return c;
}

Result<WanConfig> resolve_config(const std::string& name_or_path) {
  if (name_or_path.size() > 5 && name_or_path.substr(name_or_path.size() - 5) == ".json")
    return config_from_json_file(name_or_path);
  return config_by_name(name_or_path);
}

std::string config_to_json(const WanConfig& c) {
  nlohmann::json j = {{"name", c.name},
                      {"dim", c.dim},
                      {"heads", c.heads},
                      {"head_dim", c.head_dim},
                      {"ffn_dim", c.ffn_dim},
                      {"layers", c.layers},
                      {"text_dim", c.text_dim},
                      {"text_len", c.text_len},
                      {"freq_dim", c.freq_dim},
                      {"patch_size", {c.patch_t, c.patch_h, c.patch_w}},
                      {"in_channels", c.in_channels},
                      {"out_channels", c.out_channels},
                      {"eps", c.eps}};
  return j.dump(2);
}

Result<LatentGrid> latent_grid(const WanConfig& config, int64_t frames, int64_t height,
                               int64_t width) {
  if (frames < 1 || (frames - 1) % 4 != 0)
    return invalid_argument("--frames must be 4k+1 (1, 5, ..., 81), got " + std::to_string(frames));
  if (height <= 0 || width <= 0 || height % 16 != 0 || width % 16 != 0)
    return invalid_argument("--height and --width must be positive multiples of 16, got " +
                            std::to_string(height) + "x" + std::to_string(width));
  LatentGrid g;
  g.latent_frames = (frames - 1) / 4 + 1;
  g.latent_height = height / 8;
  g.latent_width = width / 8;
  g.frames = g.latent_frames / config.patch_t;
  g.height = g.latent_height / config.patch_h;
  g.width = g.latent_width / config.patch_w;
  return g;
}

}  // namespace wan
