#include "engine/attention/sage_cuda.h"

#include <cuda_runtime_api.h>

#include "engine/attention/dense_cuda.h"
#include "engine/attention/sage_cpu.h"
#include "engine/attention/tiled_backend.h"
#include "kernels/attention/sage/sage_attention.h"

namespace wan {

Status SageCudaAttention::can_implement(const AttentionShape& shape) const {
  WAN_RETURN_IF_ERROR(check_cuda_self_attention_shape(shape, "sage"));
  WAN_RETURN_IF_ERROR(check_sage_head_dim(shape));
  const std::string reason = sage_attention_unsupported_reason(shape_attention_params(shape));
  if (!reason.empty()) return unimplemented("sage CUDA attention cannot run " + shape.describe() + ": " + reason);
  return Status();
}

size_t SageCudaAttention::workspace_bytes(const AttentionShape& shape) const {
  return sage_attention_workspace_bytes(shape_attention_params(shape));
}

Status SageCudaAttention::plan(const AttentionShape& shape, AttentionWorkspace workspace, Stream) {
  WAN_RETURN_IF_ERROR(can_implement(shape));
  if (workspace.bytes < workspace_bytes(shape))
    return internal_error("sage CUDA attention: workspace of " + std::to_string(workspace.bytes) + " bytes, needs " +
                          std::to_string(workspace_bytes(shape)));
  shape_ = shape;
  workspace_ = workspace;
  planned_ = true;
  return Status();
}

std::string SageCudaAttention::implementation() const {
  return "sage -> " + sage_attention_kernels(shape_attention_params(shape_));
}

Status SageCudaAttention::run(const AttentionArgs& a, Stream stream) {
  if (!planned_) return failed_precondition("sage CUDA attention: run() before plan()");
  WAN_ASSIGN_OR_RETURN(FlashAttentionParams p, cuda_attention_params(a, shape_, "sage"));
  const std::string reason = sage_attention_unsupported_reason(p);
  if (!reason.empty()) return invalid_argument("sage CUDA attention cannot run these tensors: " + reason);
  launch_sage_attention(p, workspace_.data, static_cast<cudaStream_t>(stream));
  return Status();
}

}  // namespace wan
