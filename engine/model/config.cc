#include "engine/model/config.h"

#include <cmath>
#include <limits>
#include <map>

#include <nlohmann/json.hpp>

#include "engine/core/file_reader.h"
#include "engine/core/json_reader.h"

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

// Upper bounds far above every published Wan config (14B: dim 5120, 40 heads, 40 layers) and
// low enough that every product the engine forms from them (heads x head_dim, 6 x dim,
// ffn_dim x dim, text_len x text_dim, channels x patch) fits an int64 with room to spare.
constexpr int64_t kMaxDim = int64_t{1} << 16;
constexpr int64_t kMaxHeads = 1024;
constexpr int64_t kMaxHeadDim = 1024;
constexpr int64_t kMaxFfnDim = int64_t{1} << 20;
constexpr int64_t kMaxLayers = 1024;
constexpr int64_t kMaxTextLen = int64_t{1} << 16;
constexpr int64_t kMaxFreqDim = int64_t{1} << 16;
constexpr int64_t kMaxChannels = 1024;
constexpr int64_t kMaxPixels = int64_t{1} << 14;  // per side
constexpr int64_t kMaxFrames = 4097;
constexpr int64_t kMaxSteps = 10000;
constexpr double kMaxSamplerValue = 1e6;  // shift, guidance

Status WanConfig::validate() const {
  auto bad = [&](const std::string& what) {
    return invalid_argument("model config '" + name + "': " + what);
  };
  struct Bound {
    const char* field;
    int64_t value, max;
  };
  for (const Bound& b : {Bound{"dim", dim, kMaxDim}, Bound{"heads", heads, kMaxHeads},
                         Bound{"head_dim", head_dim, kMaxHeadDim}, Bound{"ffn_dim", ffn_dim, kMaxFfnDim},
                         Bound{"layers", layers, kMaxLayers}, Bound{"text_dim", text_dim, kMaxDim},
                         Bound{"text_len", text_len, kMaxTextLen}, Bound{"freq_dim", freq_dim, kMaxFreqDim},
                         Bound{"in_channels", in_channels, kMaxChannels},
                         Bound{"out_channels", out_channels, kMaxChannels},
                         Bound{"default_height", default_height, kMaxPixels},
                         Bound{"default_width", default_width, kMaxPixels},
                         Bound{"default_frames", default_frames, kMaxFrames},
                         Bound{"default_steps", default_steps, kMaxSteps}}) {
    if (b.value <= 0 || b.value > b.max)
      return bad(std::string(b.field) + " must be in [1, " + std::to_string(b.max) + "], got " +
                 std::to_string(b.value));
  }
  if (heads * head_dim != dim)  // both bounded above: no overflow
    return bad("heads x head_dim = " + std::to_string(heads * head_dim) + " != dim " +
               std::to_string(dim));
  if (head_dim % 2 != 0 || head_dim < 12)
    return bad("head_dim " + std::to_string(head_dim) + " must be even and >= 12 for 3D RoPE");
  if (freq_dim % 2 != 0) return bad("freq_dim must be even");
  if (patch_t != 1 || patch_h != 2 || patch_w != 2)
    return bad("only patch size (1, 2, 2) is supported (Wan2.1)");
  if (!(eps > 0) || !std::isfinite(eps) || eps >= 1)
    return bad("eps must be a finite number in (0, 1), got " + std::to_string(eps));
  if (!std::isfinite(default_shift) || !(default_shift > 0) || default_shift > kMaxSamplerValue)
    return bad("default_shift must be a finite number in (0, 1e6]");
  if (!std::isfinite(default_guidance) || std::fabs(default_guidance) > kMaxSamplerValue)
    return bad("default_guidance must be a finite number in [-1e6, 1e6]");
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

namespace {

// Keys of a config file besides the fields read below: diffusers' bookkeeping and fields whose
// only value this engine implements (checked in read_config).
bool is_bookkeeping_key(const std::string& key) { return !key.empty() && key[0] == '_'; }

Status read_config(const JsonValue& root, WanConfig& c) {
  WAN_ASSIGN_OR_RETURN(const auto members, root.members());
  // Our names and diffusers' (WanTransformer3DModel config.json); one field, several names.
  struct IntField {
    const char* key;
    int64_t* field;
  };
  const IntField ints[] = {
      {"dim", &c.dim}, {"heads", &c.heads}, {"num_attention_heads", &c.heads}, {"head_dim", &c.head_dim},
      {"attention_head_dim", &c.head_dim}, {"ffn_dim", &c.ffn_dim}, {"layers", &c.layers},
      {"num_layers", &c.layers}, {"text_dim", &c.text_dim}, {"text_len", &c.text_len},
      {"freq_dim", &c.freq_dim}, {"in_channels", &c.in_channels}, {"out_channels", &c.out_channels},
      {"default_height", &c.default_height}, {"default_width", &c.default_width},
      {"default_frames", &c.default_frames}};
  // diffusers fields with the one value Wan2.1 text-to-video uses; anything else (an
  // image-to-video config's image_dim, added_kv_proj_dim) is a model this engine does not run.
  const std::vector<std::pair<const char*, nlohmann::json>> fixed = {
      {"image_dim", nullptr}, {"added_kv_proj_dim", nullptr}, {"pos_embed_seq_len", nullptr},
      {"cross_attn_norm", true}, {"qk_norm", "rms_norm_across_heads"}, {"rope_max_seq_len", 1024}};
  std::map<const int64_t*, std::pair<std::string, int64_t>> assigned;  // one field, two names
  for (const auto& [key, value] : members) {
    if (is_bookkeeping_key(key)) continue;
    bool known = false;
    for (const IntField& f : ints) {
      if (key != f.key) continue;
      // Bounds are checked by validate(); here only that the value is an integer an int64 holds.
      WAN_ASSIGN_OR_RETURN(const int64_t v, value.as_int());
      const auto [it, first] = assigned.emplace(f.field, std::make_pair(key, v));
      if (!first && it->second.second != v)
        return value.error("is " + std::to_string(v) + " but " + it->second.first + " is " +
                           std::to_string(it->second.second) + " (two names for one field); keep one");
      *f.field = v;
      known = true;
    }
    for (const auto& [fixed_key, expected] : fixed) {
      if (key != fixed_key) continue;
      if (value.json() != expected)
        return unimplemented("model config: " + key + " is " + value.json().dump() + "; this engine runs Wan2.1 " +
                             "text-to-video models only (" + key + " " + expected.dump() + ")");
      known = true;
    }
    if (known) continue;
    if (key == "name") {
      WAN_ASSIGN_OR_RETURN(c.name, value.as_string());
    } else if (key == "eps") {
      WAN_ASSIGN_OR_RETURN(const double eps, value.as_number(std::numeric_limits<double>::min(), 0.5));
      c.eps = static_cast<float>(eps);  // in range of a float: no undefined conversion
    } else if (key == "default_shift") {
      WAN_ASSIGN_OR_RETURN(c.default_shift, value.as_number(-kMaxSamplerValue, kMaxSamplerValue));
    } else if (key == "default_guidance") {
      WAN_ASSIGN_OR_RETURN(c.default_guidance, value.as_number(-kMaxSamplerValue, kMaxSamplerValue));
    } else if (key == "default_steps") {
      WAN_ASSIGN_OR_RETURN(const int64_t steps, value.as_int(1, kMaxSteps));
      c.default_steps = static_cast<int>(steps);
    } else if (key == "patch_size") {
      WAN_ASSIGN_OR_RETURN(const std::vector<int64_t> p, value.as_int_array());
      if (p.size() != 3) return value.error("must be [t, h, w], got " + std::to_string(p.size()) + " values");
      c.patch_t = p[0];
      c.patch_h = p[1];
      c.patch_w = p[2];
    } else {
      return value.error("is not a model config field (known: name, dim, heads or num_attention_heads, "
                         "head_dim or attention_head_dim, ffn_dim, layers or num_layers, text_dim, text_len, "
                         "freq_dim, in_channels, out_channels, eps, patch_size, default_height, default_width, "
                         "default_frames, default_shift, default_guidance, default_steps)");
    }
  }
  if (!root.has("dim") && (root.has("num_attention_heads") || root.has("heads"))) {
    if (c.heads <= 0 || c.heads > kMaxHeads || c.head_dim <= 0 || c.head_dim > kMaxHeadDim)
      return root.error("needs heads in [1, " + std::to_string(kMaxHeads) + "] and head_dim in [1, " +
                        std::to_string(kMaxHeadDim) + "] to derive dim");
    c.dim = c.heads * c.head_dim;
  }
  return Status();
}

}  // namespace

Result<WanConfig> config_from_json_file(const std::string& path) {
  auto text = read_file(path);  // regular files only: a FIFO is refused, not waited on
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) return not_found("cannot open model config file '" + path + "'");
    return text.status().with_context("model config");
  }
  const JsonSource source{"model config '" + path + "'",
                          "fix the file (our field names or diffusers' config.json names) or pass a config name"};
  WAN_ASSIGN_OR_RETURN(const nlohmann::json j, parse_json(text.value(), source));
  WanConfig c = wan_1_3b();
  c.name = path;
  WAN_RETURN_IF_ERROR(read_config(JsonValue(j, source), c));
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
