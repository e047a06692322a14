// Video mixture-of-block attention (VMoBA) on the CPU: the options (chunk sizes of the three
// layer-cyclic chunkings, the selection threshold), raster token order, the per-layer chunking
// from the call's layer index. Numerics: kernels/cpu/attention_vmoba.h. Spatial and
// spatio-temporal chunks must divide the grid (FastVideo asserts the same); temporal chunks may
// leave a partial last chunk. No CUDA kernel yet: on CUDA the registry says so.
#pragma once

#include "engine/attention/attention_backend.h"
#include "kernels/cpu/attention_vmoba.h"

namespace wan {

class VideoMobaCpuAttention final : public AttentionBackend {
 public:
  explicit VideoMobaCpuAttention(const AttentionConfig& config);
  std::string_view name() const override { return "video_moba"; }
  Status can_implement(const AttentionShape& shape) const override;
  size_t workspace_bytes(const AttentionShape&) const override { return 0; }
  Status plan(const AttentionShape& shape, AttentionWorkspace workspace, Stream stream) override;
  Status run(const AttentionArgs& args, Stream stream) override;
  std::string implementation() const override;

 private:
  cpu::VmobaParams base_;  // options; tensors and layer set per run
  AttentionShape shape_;
  bool planned_ = false;
};

// Validators: temporal_chunk an integer in [1, 4096]; spatial_chunk "HxW" with 1..4096 each.
Result<std::string> canonical_temporal_chunk_option(const std::string& text);
Result<std::string> canonical_spatial_chunk_option(const std::string& text);

}  // namespace wan
