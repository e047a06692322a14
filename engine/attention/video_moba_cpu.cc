#include "engine/attention/video_moba_cpu.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "engine/attention/dense_cpu.h"
#include "engine/attention/sliding_tile_strategy.h"

namespace wan {
namespace {

bool small_int(const std::string& s, int64_t* v) {
  if (s.empty() || s.size() > 4 || s.find_first_not_of("0123456789") != std::string::npos) return false;
  *v = std::stoll(s);
  return *v >= 1 && *v <= 4096;
}

// "AxB[xC]" -> numbers.
bool parse_dims(const std::string& text, size_t n, int64_t* out) {
  size_t at = 0;
  for (size_t i = 0; i < n; ++i) {
    const size_t x = i + 1 < n ? text.find('x', at) : text.size();
    if (x == std::string::npos || !small_int(text.substr(at, x - at), &out[i])) return false;
    at = x + 1;
  }
  return at == text.size() + 1;
}

const char* kLayerTypes[3] = {"temporal", "spatial", "spatio-temporal"};

}  // namespace

Result<std::string> canonical_temporal_chunk_option(const std::string& text) {
  int64_t v = 0;
  if (!small_int(text, &v)) return invalid_argument("'" + text + "' is not an integer in [1, 4096] (frames per chunk)");
  return std::to_string(v);
}

Result<std::string> canonical_spatial_chunk_option(const std::string& text) {
  int64_t d[2];
  if (!parse_dims(text, 2, d)) return invalid_argument("'" + text + "' is not HxW in tokens, 1..4096 each (e.g. 3x4)");
  return std::to_string(d[0]) + "x" + std::to_string(d[1]);
}

VideoMobaBase::VideoMobaBase(const AttentionConfig& config) {
  base_.temporal_chunk = static_cast<int64_t>(config.number("temporal_chunk"));
  (void)parse_dims(config.option("spatial_chunk"), 2, base_.spatial_chunk);
  (void)parse_dims(config.option("st_chunk"), 3, base_.st_chunk);
  base_.threshold = config.number("threshold");
}

cpu::VmobaParams VideoMobaBase::layer_params(const AttentionShape& shape, int layer) const {
  cpu::VmobaParams p = base_;
  p.frames = shape.frames;
  p.height = shape.height;
  p.width = shape.width;
  p.layer = layer;
  return p;
}

Status VideoMobaBase::check_grid(const AttentionShape& shape) const {
  if (shape.frames <= 0 || shape.height <= 0 || shape.width <= 0 ||
      shape.frames * shape.height * shape.width != shape.q_tokens || shape.q_tokens != shape.kv_tokens)
    return invalid_argument("video_moba serves self-attention over a video token grid, got " + shape.describe());
  for (int type = 1; type < layer_types(shape); ++type) {
    const cpu::VmobaParams p = layer_params(shape, type);
    int64_t chunks = 0;
    if (cpu::vmoba_chunk_of_tokens(p, &chunks).empty()) {
      const std::string chunk = type == 1 ? std::to_string(p.spatial_chunk[0]) + "x" + std::to_string(p.spatial_chunk[1])
                                          : std::to_string(p.st_chunk[0]) + "x" + std::to_string(p.st_chunk[1]) + "x" +
                                                std::to_string(p.st_chunk[2]);
      return invalid_argument("video_moba: the " + std::string(kLayerTypes[type]) + " chunk " + chunk +
                              " does not divide the token grid " + std::to_string(shape.frames) + "x" +
                              std::to_string(shape.height) + "x" + std::to_string(shape.width) + " (layers " +
                              std::to_string(type) + ", " + std::to_string(type + 3) + ", ... use it); pick " +
                              (type == 1 ? "spatial_chunk" : "st_chunk") + " sizes that divide it");
    }
  }
  return Status();
}

int VideoMobaBase::layer_types(const AttentionShape& shape) {
  return shape.layers > 0 ? static_cast<int>(std::min<int64_t>(3, shape.layers)) : 3;
}

std::string VideoMobaBase::options_text() const {
  char buf[200];
  std::snprintf(buf, sizeof(buf), "chunks by layer %% 3: %lld frames, %lldx%lld, %lldx%lldx%lld; threshold %g",
                static_cast<long long>(base_.temporal_chunk), static_cast<long long>(base_.spatial_chunk[0]),
                static_cast<long long>(base_.spatial_chunk[1]), static_cast<long long>(base_.st_chunk[0]),
                static_cast<long long>(base_.st_chunk[1]), static_cast<long long>(base_.st_chunk[2]), base_.threshold);
  return buf;
}

Status VideoMobaCpuAttention::can_implement(const AttentionShape& shape) const {
  if (!shape.device.is_cpu())
    return unimplemented("video_moba CPU attention cannot run on " + shape.device.to_string());
  return check_grid(shape);
}

Status VideoMobaCpuAttention::plan(const AttentionShape& shape, AttentionWorkspace, Stream) {
  WAN_RETURN_IF_ERROR(can_implement(shape));
  shape_ = shape;
  planned_ = true;
  return Status();
}

std::string VideoMobaCpuAttention::implementation() const {
  return "attention_vmoba_f32 (CPU reference; " + options_text() + ")";
}

Status VideoMobaCpuAttention::run(const AttentionArgs& args, Stream) {
  if (!planned_) return failed_precondition("video_moba attention: run() before plan()");
  WAN_RETURN_IF_ERROR(check_cpu_self_attention_args(args, shape_, "video_moba"));
  cpu::VmobaParams p = layer_params(shape_, args.call.layer);
  bind_cpu_attention_args(args, shape_, &p);
  p.round_to_bf16 = shape_.precision == AttentionPrecision::kBf16;
  if (!cpu::attention_vmoba_f32(p))
    return invalid_argument("video_moba: layer " + std::to_string(p.layer) + "'s chunking does not divide the grid (" +
                            shape_.describe() + ")");
  return Status();
}

}  // namespace wan
