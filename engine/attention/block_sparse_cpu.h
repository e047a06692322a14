// Block-sparse attention (BSA) on the CPU, and what the CPU and CUDA backends share: the
// options (keep ratio, cumulative-mass threshold, minimum kv tiles) and the (4,4,4) tile
// layout. Partial edge tiles are served (FastVideo requires every grid axis divisible by 4):
// a tile of n < 64 tokens keeps max(1, floor(n * keep)) queries around its centre token n / 2,
// its key mean is over its n keys (kernels/attention/bsa/bsa_numerics.h).
#pragma once

#include "engine/attention/attention_backend.h"
#include "kernels/cpu/attention_bsa.h"

namespace wan {

class BlockSparseBase : public AttentionBackend {
 public:
  explicit BlockSparseBase(const AttentionConfig& config);
  std::string_view name() const override { return "block_sparse"; }
  TokenOrder token_order(const AttentionShape& shape) const override;

 protected:
  Status check_shape(const AttentionShape& shape) const;  // a video grid, self-attention
  Status plan_layout(const AttentionShape& shape);
  std::string describe_options() const;  // "keep 0.5, threshold 0.9, min 4 kv tiles"
  cpu::BlockSparseSelectionParams select_;
  AttentionShape shape_;
  TileLayout layout_;
  bool planned_ = false;
};

class BlockSparseCpuAttention final : public BlockSparseBase {
 public:
  using BlockSparseBase::BlockSparseBase;
  Status can_implement(const AttentionShape& shape) const override;
  size_t workspace_bytes(const AttentionShape&) const override { return 0; }
  Status plan(const AttentionShape& shape, AttentionWorkspace workspace, Stream stream) override;
  Status run(const AttentionArgs& args, Stream stream) override;
  std::string implementation() const override;
};

// The min_tiles option's validator: an integer in [1, 65536].
Result<std::string> canonical_min_tiles_option(const std::string& text);

}  // namespace wan
