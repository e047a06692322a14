#include "engine/attention/sparse_linear_cuda.h"

#include <cstdint>

#include <cuda_runtime_api.h>

#include "engine/attention/dense_cuda.h"
#include "engine/attention/tiled_backend.h"

namespace wan {

SparseLinearAttentionParams SparseLinearCudaAttention::shape_params(const AttentionShape& s) const {
  SparseLinearAttentionParams p;
  p.attn = shape_attention_params(s);
  p.topk = static_cast<int>(sla::topk_count(sla_key_blocks(p), ratio_));
  p.feature_map = feature_map_;
  return p;
}

Status SparseLinearCudaAttention::can_implement(const AttentionShape& shape) const {
  WAN_RETURN_IF_ERROR(check_cuda_self_attention_shape(shape, "sparse_linear"));
  const std::string reason = sla_attention_unsupported_reason(shape_params(shape));
  if (!reason.empty()) return unimplemented("sparse_linear CUDA attention cannot run " + shape.describe() + ": " + reason);
  return Status();
}

size_t SparseLinearCudaAttention::workspace_bytes(const AttentionShape& shape) const {
  return sla_attention_workspace_bytes(shape_params(shape));
}

Status SparseLinearCudaAttention::plan(const AttentionShape& shape, AttentionWorkspace workspace, Stream) {
  WAN_RETURN_IF_ERROR(can_implement(shape));
  if (workspace.bytes < workspace_bytes(shape)) return internal_error("sparse_linear CUDA attention: workspace too small");
  shape_ = shape;
  workspace_ = workspace.data;
  planned_ = true;
  return Status();
}

std::string SparseLinearCudaAttention::implementation() const {
  SparseLinearAttentionParams p = shape_params(shape_);
  if (with_proj_) p.proj_weight = reinterpret_cast<const uint16_t*>(256);
  return "sparse_linear (" + options_text() + ") -> " + sla_attention_kernels(p);
}

Status SparseLinearCudaAttention::run(const AttentionArgs& a, Stream stream) {
  if (!planned_) return failed_precondition("sparse_linear CUDA attention: run() before plan()");
  WAN_RETURN_IF_ERROR(check_proj_l(a, DType::kBF16));
  SparseLinearAttentionParams p = shape_params(shape_);
  WAN_ASSIGN_OR_RETURN(p.attn, cuda_attention_params(a, shape_, "sparse_linear"));
  p.proj_weight = a.layer_param ? static_cast<const uint16_t*>(a.layer_param->raw_data()) : nullptr;
  p.proj_bias = a.layer_param_bias ? static_cast<const uint16_t*>(a.layer_param_bias->raw_data()) : nullptr;
  const std::string reason = sla_attention_unsupported_reason(p);
  if (!reason.empty()) return invalid_argument("sparse_linear CUDA attention cannot run these tensors: " + reason);
  with_proj_ = p.proj_weight != nullptr;
  launch_sla_attention(p, workspace_, static_cast<cudaStream_t>(stream));
  return Status();
}

}  // namespace wan
