// Dense attention on CUDA: a thin adapter from AttentionArgs (bf16 device tensors
// [batch, tokens, heads, head_dim], any token stride) to the kernels. Option `kernel`:
// sm90_ws = the block-sparse main loop's all-blocks schedule (warp-specialised, default on
// Hopper at head_dim 128), sm90_plain = the plain sm90 schedule, mma_sync = the portable
// kernel (default elsewhere, and at head_dim 64 so recorded GPU goldens keep their bits).
#pragma once

#include "engine/attention/attention_backend.h"
#include "kernels/attention/flash/flash_attention_fwd.h"

namespace wan {

class DenseCudaAttention final : public AttentionBackend {
 public:
  explicit DenseCudaAttention(const AttentionConfig& config) : kernel_option_(config.option("kernel")) {}
  std::string_view name() const override { return "dense"; }
  Status can_implement(const AttentionShape& shape) const override;
  // The sm90 kernels' transposed-V buffer (0 for mma_sync).
  size_t workspace_bytes(const AttentionShape& shape) const override;
  Status plan(const AttentionShape& shape, AttentionWorkspace workspace, Stream stream) override;
  Status run(const AttentionArgs& args, Stream stream) override;
  std::string implementation() const override;

 private:
  enum class Kernel { kSm90Ws, kSm90Plain, kMmaSync };
  Result<Kernel> choose(const AttentionShape& shape) const;

  std::string kernel_option_;
  AttentionShape shape_;
  bool planned_ = false;
  Kernel kernel_ = Kernel::kMmaSync;
  AttentionWorkspace workspace_;
};

// Params of `shape` with packed heads and 16-byte-aligned placeholder pointers (scale 0.125):
// what the CUDA backends' capability checks and workspace sizes read before any tensor exists.
FlashAttentionParams shape_attention_params(const AttentionShape& shape);

// Fills the params of an attention call from bf16 CUDA tensors [batch, tokens, heads,
// head_dim] with packed heads; an error names the backend and the tensor that does not fit.
Result<FlashAttentionParams> cuda_attention_params(const AttentionArgs& a, const AttentionShape& shape,
                                                   const char* backend);

}  // namespace wan
