// Video-sparse attention (VSA) on CUDA: a thin adapter from AttentionArgs (bf16, tokens in
// tile order) to kernels/attention/video_sparse (selection kernels + the block-sparse main
// loop). The tile starts live in the caller's workspace, uploaded once per shape in plan().
#pragma once

#include "engine/attention/video_sparse_cpu.h"
#include "kernels/attention/video_sparse/video_sparse_attention.h"

namespace wan {

class VideoSparseCudaAttention final : public VideoSparseBase {
 public:
  using VideoSparseBase::VideoSparseBase;
  Status can_implement(const AttentionShape& shape) const override;
  size_t workspace_bytes(const AttentionShape& shape) const override;
  Status plan(const AttentionShape& shape, AttentionWorkspace workspace, Stream stream) override;
  Status run(const AttentionArgs& args, Stream stream) override;
  std::string implementation() const override;

 private:
  VideoSparseAttentionParams shape_params(const AttentionShape& shape, const TileLayout& layout) const;
  int32_t* tile_start_ = nullptr;  // device, in the workspace
  void* kernel_workspace_ = nullptr;
  bool with_gate_ = false;  // of the last run, for implementation()
};

}  // namespace wan
