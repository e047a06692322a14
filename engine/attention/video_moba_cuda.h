// Video mixture-of-block attention (VMoBA) on CUDA: a thin adapter from AttentionArgs (bf16,
// raster order) to kernels/attention/vmoba (gathers into chunk order, key means, gates and
// the threshold selection, the block-sparse main loop with per-row chunk masks). The chunk
// tables of the layer chunkings the model uses live in the caller's workspace, uploaded once
// per shape in plan(); run() picks the layer's (layer % 3).
#pragma once

#include "engine/attention/video_moba_cpu.h"
#include "kernels/attention/vmoba/vmoba_attention.h"

namespace wan {

class VideoMobaCudaAttention final : public VideoMobaBase {
 public:
  using VideoMobaBase::VideoMobaBase;
  Status can_implement(const AttentionShape& shape) const override;
  size_t workspace_bytes(const AttentionShape& shape) const override;
  Status plan(const AttentionShape& shape, AttentionWorkspace workspace, Stream stream) override;
  Status run(const AttentionArgs& args, Stream stream) override;
  std::string implementation() const override;

 private:
  VmobaAttentionParams shape_params(const AttentionShape& shape, const VmobaLayout& layout) const;
  VmobaTables tables_[3];
  void* kernel_workspace_ = nullptr;
};

}  // namespace wan
