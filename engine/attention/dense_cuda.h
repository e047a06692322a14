// Dense attention on CUDA: a thin adapter from AttentionArgs (bf16 device tensors
// [batch, tokens, heads, head_dim], any token stride) to kernels/attention/flash.
#pragma once

#include "engine/attention/attention_backend.h"

namespace wan {

class DenseCudaAttention final : public AttentionBackend {
 public:
  std::string_view name() const override { return "dense"; }
  Status can_implement(const AttentionShape& shape) const override;
  // The Hopper kernel's transposed-V buffer (0 where the mma.sync kernel runs).
  size_t workspace_bytes(const AttentionShape& shape) const override;
  Status plan(const AttentionShape& shape, Stream stream) override;
  Status run(const AttentionArgs& args, Stream stream) override;
  std::string implementation() const override {
    return use_sm90_ ? "flash_attention_fwd_sm90 (wgmma, sm_90a; schedule from WAN_ATTENTION_SM90_SCHEDULE, "
                       "default warp-specialised)"
                     : "flash_attention_fwd (mma.sync)";
  }

 private:
  AttentionShape shape_;
  bool planned_ = false;
  bool use_sm90_ = false;
  Tensor workspace_;  // allocated in plan(), reused by every run()
};

}  // namespace wan
