// Sliding-tile attention (STA) on Hopper: the block-sparse main loop with per-window CSR kv
// block lists (kernels/attention/sliding_tile/sliding_tile_schedule.h), uploaded once per shape,
// and per (step, layer) a head -> window table, so heads with different windows share one
// launch and no call allocates or synchronises. 128-token blocks (64 for tiles of <= 64 tokens).
#pragma once

#include "engine/attention/sliding_tile_cpu.h"
#include "kernels/attention/block_sparse/block_sparse_attention_sm90.h"
#include "kernels/attention/sliding_tile/sliding_tile_schedule.h"

namespace wan {

class SlidingTileCudaAttention final : public SlidingTileBase {
 public:
  static Result<std::unique_ptr<AttentionBackend>> create(const AttentionConfig& config);
  Status can_implement(const AttentionShape& shape) const override;
  size_t workspace_bytes(const AttentionShape& shape) const override;
  Status plan(const AttentionShape& shape, AttentionWorkspace workspace, Stream stream) override;
  Status run(const AttentionArgs& args, Stream stream) override;
  std::string implementation() const override;

 private:
  struct Layout {  // byte offsets of the metadata inside the workspace
    size_t block_start = 0, list_start = 0, kv_index = 0, head_group = 0, main_loop = 0, total = 0;
  };
  static BlockSparseTiling tiling_for(const TileLayout& layout);
  // The main loop's params for the shape (placeholder pointers), and the workspace layout.
  Result<Layout> layout_for(const AttentionShape& shape, const Plan& plan, const SlidingTileSchedule& s,
                            BlockSparseAttentionParams* params) const;

  SlidingTileSchedule schedule_;
  BlockSparseTiling tiling_ = BlockSparseTiling::kRows128Keys128;
  char* workspace_ = nullptr;
  Layout offsets_;
};

}  // namespace wan
