#include "engine/attention/sliding_tile_cpu.h"

#include <algorithm>

#include "engine/attention/dense_cpu.h"
#include "engine/attention/tiled_backend.h"
#include "kernels/common/float16.h"
#include "kernels/cpu/attention_tile_sparse.h"
#include "kernels/cpu/parallel.h"

namespace wan {

Status SlidingTileBase::init(const AttentionConfig& config) {
  WAN_ASSIGN_OR_RETURN(TileWindow tile, parse_tile_window(config.option("tile")));
  tile_[0] = tile.t;
  tile_[1] = tile.h;
  tile_[2] = tile.w;
  WAN_ASSIGN_OR_RETURN(uniform_, parse_tile_window(config.option("window")));
  const std::string& path = config.option("strategy");
  if (!path.empty()) {
    WAN_ASSIGN_OR_RETURN(SlidingTileStrategy s, load_sliding_tile_strategy(path));
    const auto digest = config.file_digests.find("strategy");
    if (digest != config.file_digests.end() && digest->second != s.sha1)
      return data_loss("sliding_tile strategy " + path + " changed while the run was being set up (SHA-1 " +
                       digest->second + " when parsed, " + s.sha1 + " now); run again");
    strategy_steps_ = s.steps();
    strategy_ = std::move(s);
  }
  return Status();
}

TokenOrder SlidingTileBase::token_order(const AttentionShape& shape) const { return tiled_token_order(shape, tile_); }

Status SlidingTileBase::check_shape(const AttentionShape& shape) const {
  WAN_RETURN_IF_ERROR(check_tiled_self_attention(shape, "sliding_tile", tile_));
  if (strategy_) WAN_RETURN_IF_ERROR(strategy_->check_model(shape.layers, shape.total_heads()));
  return Status();
}

Status SlidingTileBase::make_plan(const AttentionShape& shape, Plan* plan) const {
  WAN_RETURN_IF_ERROR(check_shape(shape));
  Plan p;
  (void)make_tile_layout(shape.frames, shape.height, shape.width, tile_, &p.layout);
  p.layers = static_cast<int32_t>(std::max<int64_t>({shape.layers, strategy_ ? strategy_->max_layer() + 1 : 0, 1}));
  std::vector<int32_t> step_keys = {-1};
  step_keys.insert(step_keys.end(), strategy_steps_.begin(), strategy_steps_.end());
  std::map<std::vector<int32_t>, int32_t> config_index;
  for (int32_t step : step_keys) {
    for (int32_t layer = 0; layer < p.layers; ++layer) {
      std::vector<int32_t> heads(static_cast<size_t>(shape.heads));
      for (int32_t h = 0; h < shape.heads; ++h) {
        const TileWindow w =
            strategy_ ? strategy_->window(step, layer, static_cast<int32_t>(shape.head_offset) + h, uniform_) : uniform_;
        auto it = std::find(p.windows.begin(), p.windows.end(), w);
        if (it == p.windows.end()) it = p.windows.insert(p.windows.end(), w);
        heads[h] = static_cast<int32_t>(it - p.windows.begin());
      }
      auto [it, inserted] = config_index.emplace(heads, static_cast<int32_t>(p.configs.size()));
      if (inserted) p.configs.push_back(heads);
      p.config_of[{step, layer}] = it->second;
    }
  }
  *plan = std::move(p);
  return Status();
}

Result<int32_t> SlidingTileBase::config_for(const AttentionCall& call) const {
  const int32_t step =
      std::binary_search(strategy_steps_.begin(), strategy_steps_.end(), call.step) ? call.step : -1;
  const auto it = plan_.config_of.find({step, call.layer});
  if (it == plan_.config_of.end())
    return invalid_argument("sliding_tile attention: layer " + std::to_string(call.layer) +
                            " is outside the planned model (" + std::to_string(plan_.layers) + " layers)");
  return it->second;
}

uint64_t SlidingTileBase::graph_variant(const AttentionCall& call) const {
  const Result<int32_t> c = config_for(call);
  return c.ok() ? static_cast<uint64_t>(c.value()) + 1 : 0;
}

std::string SlidingTileBase::describe_windows() const {
  std::string s = "tile " + std::to_string(tile_[0]) + "x" + std::to_string(tile_[1]) + "x" + std::to_string(tile_[2]);
  if (strategy_)
    s += ", strategy " + strategy_->path + " (sha1 " + strategy_->sha1.substr(0, 12) + ", " +
         std::to_string(strategy_->entries.size()) + " entries), else window " + tile_window_text(uniform_);
  else
    s += ", window " + tile_window_text(uniform_);
  if (planned_) {
    s += "; " + std::to_string(plan_.windows.size()) + " distinct window(s):";
    for (const TileWindow& w : plan_.windows) {
      char density[32];
      std::snprintf(density, sizeof(density), "%.1f%%", 100.0 * sliding_tile_density(plan_.layout, w));
      s += " " + tile_window_text(w) + " (" + density + " of pairs)";
    }
    s += " on " + plan_.layout.describe();
  }
  return s;
}

Result<std::unique_ptr<AttentionBackend>> SlidingTileCpuAttention::create(const AttentionConfig& config) {
  auto b = std::make_unique<SlidingTileCpuAttention>();
  WAN_RETURN_IF_ERROR(b->init(config));
  return std::unique_ptr<AttentionBackend>(std::move(b));
}

Status SlidingTileCpuAttention::can_implement(const AttentionShape& shape) const {
  if (!shape.device.is_cpu())
    return unimplemented("sliding_tile CPU attention cannot run on " + shape.device.to_string());
  return check_shape(shape);
}

Status SlidingTileCpuAttention::plan(const AttentionShape& shape, AttentionWorkspace, Stream) {
  WAN_RETURN_IF_ERROR(can_implement(shape));
  WAN_RETURN_IF_ERROR(make_plan(shape, &plan_));
  shape_ = shape;
  planned_ = true;
  return Status();
}

std::string SlidingTileCpuAttention::implementation() const {
  return "attention_tile_sparse_f32 (CPU reference; " + describe_windows() + ")";
}

Status SlidingTileCpuAttention::run(const AttentionArgs& args, Stream) {
  if (!planned_) return failed_precondition("sliding_tile attention: run() before plan()");
  WAN_RETURN_IF_ERROR(check_cpu_self_attention_args(args, shape_, "sliding_tile"));
  WAN_ASSIGN_OR_RETURN(int32_t config, config_for(args.call));
  const std::vector<int32_t>& head_window = plan_.configs[config];
  const TileLayout& l = plan_.layout;
  const int64_t d = shape_.head_dim, row = shape_.heads * d, tokens = shape_.q_tokens;
  const bool round = shape_.precision == AttentionPrecision::kBf16;
  for (int64_t b = 0; b < shape_.batch; ++b) {
    const float* qb = args.q->data<float>() + b * tokens * row;
    const float* kb = args.k->data<float>() + b * tokens * row;
    const float* vb = args.v->data<float>() + b * tokens * row;
    float* ob = args.out->data<float>() + b * tokens * row;
    cpu::parallel_for(shape_.heads, 1, [&](int64_t h_begin, int64_t h_end) {
      std::vector<float> scores, out(static_cast<size_t>(d));
      cpu::TileSparseRowArgs a;
      a.row_stride = row;
      a.head_dim = d;
      a.tile_start = l.tile_start.data();
      a.scale = args.scale;
      a.round_p = round;
      for (int64_t h = h_begin; h < h_end; ++h) {
        a.k = kb + h * d;
        a.v = vb + h * d;
        const TileWindow& w = plan_.windows[head_window[h]];
        for (int64_t tile = 0; tile < l.tile_count; ++tile) {
          const std::vector<int32_t> kv = sliding_tile_kv_tiles(l, w, tile);
          for (int64_t r = l.tile_start[tile]; r < l.tile_start[tile + 1]; ++r) {
            cpu::attend_row_over_tiles_f32(a, qb + r * row + h * d, kv.data(), static_cast<int64_t>(kv.size()),
                                           &scores, out.data());
            float* o = ob + r * row + h * d;
            for (int64_t c = 0; c < d; ++c) o[c] = round ? round_to_bf16(out[c]) : out[c];
          }
        }
      }
    });
  }
  return Status();
}

}  // namespace wan
