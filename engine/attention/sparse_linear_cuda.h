// Sparse-linear attention (SLA) on CUDA: a thin adapter from AttentionArgs (bf16, raster order)
// to kernels/attention/sla (selection kernels, the block-sparse main loop, the linear branch).
// proj_l arrives per layer as bf16 device tensors (absent: the linear branch is zero and skipped).
#pragma once

#include "engine/attention/sparse_linear_cpu.h"
#include "kernels/attention/sla/sla_attention.h"

namespace wan {

class SparseLinearCudaAttention final : public SparseLinearBase {
 public:
  using SparseLinearBase::SparseLinearBase;
  Status can_implement(const AttentionShape& shape) const override;
  size_t workspace_bytes(const AttentionShape& shape) const override;
  Status plan(const AttentionShape& shape, AttentionWorkspace workspace, Stream stream) override;
  Status run(const AttentionArgs& args, Stream stream) override;
  std::string implementation() const override;

 private:
  SparseLinearAttentionParams shape_params(const AttentionShape& shape) const;
  void* workspace_ = nullptr;
  bool with_proj_ = false;  // of the last run, for implementation()
};

}  // namespace wan
