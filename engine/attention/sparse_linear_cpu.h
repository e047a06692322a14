// Sparse-linear attention (SLA) on the CPU: the options (ratio of key blocks kept, feature map of
// the linear branch), raster token order, and the per-layer proj_l of the linear branch
// (Linear(head_dim, head_dim), blocks.N.attn1.attn_impl.proj_l in FastVideo's checkpoints;
// absent = zero, which makes the linear branch vanish). Numerics: kernels/cpu/attention_sla.h.
// The CUDA backend (sparse_linear_cuda.h) shares the options through SparseLinearBase.
#pragma once

#include "engine/attention/attention_backend.h"
#include "kernels/cpu/attention_sla.h"

namespace wan {

// The options and per-layer weight both devices share.
class SparseLinearBase : public AttentionBackend {
 public:
  explicit SparseLinearBase(const AttentionConfig& config);
  std::string_view name() const override { return "sparse_linear"; }
  std::vector<LayerWeightSpec> layer_weights() const override {
    return attention_backend_info(AttentionBackendKind::kSparseLinear).layer_weights;
  }

 protected:
  // OK, or why proj_l (args.layer_param / layer_param_bias, absent = zero) does not fit:
  // weight [head_dim, head_dim] and bias [head_dim] of `dtype` on the shape's device.
  Status check_proj_l(const AttentionArgs& args, DType dtype) const;
  // "ratio 0.1 of 64-token key blocks per 128-token query block, linear branch softmax"
  std::string options_text() const;

  double ratio_ = 0.1;
  cpu::SlaFeatureMap feature_map_ = cpu::SlaFeatureMap::kSoftmax;
  std::string feature_map_name_;
  AttentionShape shape_;
  bool planned_ = false;
};

class SparseLinearCpuAttention final : public SparseLinearBase {
 public:
  using SparseLinearBase::SparseLinearBase;
  Status can_implement(const AttentionShape& shape) const override;
  size_t workspace_bytes(const AttentionShape&) const override { return 0; }
  Status plan(const AttentionShape& shape, AttentionWorkspace workspace, Stream stream) override;
  Status run(const AttentionArgs& args, Stream stream) override;
  std::string implementation() const override;
};

// The ratio option's validator: a number in (0, 1].
Result<std::string> canonical_sla_ratio_option(const std::string& text);

}  // namespace wan
