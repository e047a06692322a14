// Sliding-tile attention (STA) on the CPU, and what the CPU and CUDA backends share: the
// options (tile shape, uniform window, mask-strategy file), the tile layout and the window of
// every (step, layer, head). The CPU backend is the fixed-order fp32 reference (kernels/cpu/
// attention_tile_sparse.h) the CUDA backend is tested against.
#pragma once

#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "engine/attention/attention_backend.h"
#include "engine/attention/sliding_tile_strategy.h"

namespace wan {

class SlidingTileBase : public AttentionBackend {
 public:
  std::string_view name() const override { return "sliding_tile"; }
  TokenOrder token_order(const AttentionShape& shape) const override;
  // Calls whose (step, layer) have different per-head windows get different graph keys.
  uint64_t graph_variant(const AttentionCall& call) const override;

 protected:
  // Reads the options (the strategy file when given); errors name the option and the fix.
  Status init(const AttentionConfig& config);
  Status check_shape(const AttentionShape& shape) const;  // a video grid, self-attention
  // The per-shape plan: layout, the distinct windows, and per (step key, layer) which window
  // each head uses ("head configs", deduplicated).
  struct Plan {
    TileLayout layout;
    std::vector<TileWindow> windows;          // distinct windows, first-use order
    std::vector<std::vector<int32_t>> configs;  // [config][head] -> window index
    std::map<std::pair<int32_t, int32_t>, int32_t> config_of;  // (step key, layer) -> config
    int32_t layers = 1;
  };
  Status make_plan(const AttentionShape& shape, Plan* plan) const;
  // The head config of a call; step key -1 for steps the strategy does not name.
  Result<int32_t> config_for(const AttentionCall& call) const;
  std::string describe_windows() const;  // "window 3x3x5" or "strategy PATH (sha1 ..., 4 windows)"

  int64_t tile_[3] = {6, 8, 8};
  TileWindow uniform_;
  std::optional<SlidingTileStrategy> strategy_;
  std::vector<int32_t> strategy_steps_;
  AttentionShape shape_;
  Plan plan_;
  bool planned_ = false;
};

class SlidingTileCpuAttention final : public SlidingTileBase {
 public:
  static Result<std::unique_ptr<AttentionBackend>> create(const AttentionConfig& config);
  Status can_implement(const AttentionShape& shape) const override;
  size_t workspace_bytes(const AttentionShape&) const override { return 0; }
  Status plan(const AttentionShape& shape, AttentionWorkspace workspace, Stream stream) override;
  Status run(const AttentionArgs& args, Stream stream) override;
  std::string implementation() const override;
};

}  // namespace wan
