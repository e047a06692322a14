// Video-sparse attention (VSA) on the CPU: a thin adapter from AttentionArgs (tokens in tile
// order) to kernels/cpu/attention_video_sparse.h, the reference the CUDA backend is tested on.
#pragma once

#include "engine/attention/attention_backend.h"

namespace wan {

// What both VSA backends share: the option, the tile layout, the gate weight and top-k.
class VideoSparseBase : public AttentionBackend {
 public:
  explicit VideoSparseBase(const AttentionConfig& config)
      : sparsity_(config.number("sparsity")), sparsity_text_(config.option("sparsity")) {}
  std::string_view name() const override { return "video_sparse"; }
  TokenOrder token_order(const AttentionShape& shape) const override;
  std::vector<LayerWeightSpec> layer_weights() const override {
    return attention_backend_info(AttentionBackendKind::kVideoSparse).layer_weights;
  }

 protected:
  Status check_shape(const AttentionShape& shape) const;  // a video grid, self-attention
  Status plan_layout(const AttentionShape& shape);         // fills layout_ and topk_
  double sparsity_;
  std::string sparsity_text_;  // the option as recorded ("0.9")
  AttentionShape shape_;
  TileLayout layout_;
  int64_t topk_ = 1;
  bool planned_ = false;
};

class VideoSparseCpuAttention final : public VideoSparseBase {
 public:
  using VideoSparseBase::VideoSparseBase;
  Status can_implement(const AttentionShape& shape) const override;
  size_t workspace_bytes(const AttentionShape&) const override { return 0; }
  Status plan(const AttentionShape& shape, AttentionWorkspace workspace, Stream stream) override;
  Status run(const AttentionArgs& args, Stream stream) override;
  std::string implementation() const override;
};

}  // namespace wan
