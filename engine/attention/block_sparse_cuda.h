// Block-sparse attention (BSA) on Hopper: a thin adapter from AttentionArgs (bf16, tile order)
// to kernels/attention/bsa/bsa_attention.h. The tile map is uploaded once per shape (plan).
#pragma once

#include "engine/attention/block_sparse_cpu.h"
#include "kernels/attention/bsa/bsa_attention.h"

namespace wan {

class BlockSparseCudaAttention final : public BlockSparseBase {
 public:
  using BlockSparseBase::BlockSparseBase;
  Status can_implement(const AttentionShape& shape) const override;
  size_t workspace_bytes(const AttentionShape& shape) const override;
  Status plan(const AttentionShape& shape, AttentionWorkspace workspace, Stream stream) override;
  Status run(const AttentionArgs& args, Stream stream) override;
  std::string implementation() const override;

 private:
  BsaAttentionParams shape_params(const AttentionShape& s, const TileLayout& l) const;
  int32_t* tile_start_ = nullptr;
  void* kernel_workspace_ = nullptr;
};

}  // namespace wan
