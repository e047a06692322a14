// Sage on CUDA: a thin adapter from AttentionArgs (bf16 device tensors [batch, tokens, heads,
// head_dim], raster order) to kernels/attention/sage (statistics, INT8/FP8 quantisation, the
// wgmma attention). Self-attention only, as the CPU emulation; no options (SageAttention2's sm90
// defaults). Error-bounded against dense (the backend table's kErrorBounded class).
#pragma once

#include "engine/attention/attention_backend.h"

namespace wan {

class SageCudaAttention final : public AttentionBackend {
 public:
  std::string_view name() const override { return "sage"; }
  Status can_implement(const AttentionShape& shape) const override;
  size_t workspace_bytes(const AttentionShape& shape) const override;
  Status plan(const AttentionShape& shape, AttentionWorkspace workspace, Stream stream) override;
  Status run(const AttentionArgs& args, Stream stream) override;
  std::string implementation() const override;

 private:
  AttentionShape shape_;
  AttentionWorkspace workspace_;
  bool planned_ = false;
};

}  // namespace wan
