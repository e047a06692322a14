// Video mixture-of-block attention (VMoBA) on the CPU: the options (chunk sizes of the three
// layer-cyclic chunkings, the selection threshold), raster token order, the per-layer chunking
// from the call's layer index. Numerics: kernels/cpu/attention_vmoba.h. Spatial and
// spatio-temporal chunks must divide the grid (FastVideo asserts the same); temporal chunks may
// leave a partial last chunk. CUDA: engine/attention/video_moba_cuda.h.
#pragma once

#include "engine/attention/attention_backend.h"
#include "kernels/cpu/attention_vmoba.h"

namespace wan {

// Options, the grid checks and the description, shared by the CPU and CUDA backends.
class VideoMobaBase : public AttentionBackend {
 public:
  explicit VideoMobaBase(const AttentionConfig& config);
  std::string_view name() const override { return "video_moba"; }

 protected:
  // OK, or why the grid cannot be chunked (self-attention over the grid; the spatial and
  // spatio-temporal chunks of the layers the model has must divide it).
  Status check_grid(const AttentionShape& shape) const;
  // The reference params for the shape and a layer (tensors unset).
  cpu::VmobaParams layer_params(const AttentionShape& shape, int layer) const;
  // "chunks by layer % 3: 2 frames, 3x4, 4x6x4; threshold 0.25"
  std::string options_text() const;
  // The chunkings (layer % 3) the model's layers use: 1..3 (3 when the layer count is unknown).
  static int layer_types(const AttentionShape& shape);

  cpu::VmobaParams base_;  // options; tensors and layer set per run
  AttentionShape shape_;
  bool planned_ = false;
};

class VideoMobaCpuAttention final : public VideoMobaBase {
 public:
  using VideoMobaBase::VideoMobaBase;
  Status can_implement(const AttentionShape& shape) const override;
  size_t workspace_bytes(const AttentionShape&) const override { return 0; }
  Status plan(const AttentionShape& shape, AttentionWorkspace workspace, Stream stream) override;
  Status run(const AttentionArgs& args, Stream stream) override;
  std::string implementation() const override;
};

// Validators: temporal_chunk an integer in [1, 4096]; spatial_chunk "HxW" with 1..4096 each.
Result<std::string> canonical_temporal_chunk_option(const std::string& text);
Result<std::string> canonical_spatial_chunk_option(const std::string& text);

}  // namespace wan
