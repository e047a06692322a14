// Sparse-linear attention (SLA) on the CPU: the options (ratio of key blocks kept, feature map of
// the linear branch), raster token order, and the per-layer proj_l of the linear branch
// (Linear(head_dim, head_dim), blocks.N.attn1.attn_impl.proj_l in FastVideo's checkpoints;
// absent = zero, which makes the linear branch vanish). Numerics: kernels/cpu/attention_sla.h.
// No CUDA kernel yet: on CUDA the registry says so.
#pragma once

#include "engine/attention/attention_backend.h"
#include "kernels/cpu/attention_sla.h"

namespace wan {

class SparseLinearCpuAttention final : public AttentionBackend {
 public:
  explicit SparseLinearCpuAttention(const AttentionConfig& config);
  std::string_view name() const override { return "sparse_linear"; }
  Status can_implement(const AttentionShape& shape) const override;
  size_t workspace_bytes(const AttentionShape&) const override { return 0; }
  Status plan(const AttentionShape& shape, AttentionWorkspace workspace, Stream stream) override;
  Status run(const AttentionArgs& args, Stream stream) override;
  std::string implementation() const override;
  std::vector<LayerWeightSpec> layer_weights() const override {
    return attention_backend_info(AttentionBackendKind::kSparseLinear).layer_weights;
  }

 private:
  double ratio_ = 0.1;
  cpu::SlaFeatureMap feature_map_ = cpu::SlaFeatureMap::kSoftmax;
  std::string feature_map_name_;
  AttentionShape shape_;
  bool planned_ = false;
};

// The ratio option's validator: a number in (0, 1].
Result<std::string> canonical_sla_ratio_option(const std::string& text);

}  // namespace wan
