#include "engine/attention/video_sparse_cuda.h"

#include <cuda_runtime_api.h>

#include "engine/attention/dense_cuda.h"
#include "engine/attention/tiled_backend.h"
#include "kernels/attention/video_sparse/video_sparse_numerics.h"
#include "kernels/common/cuda_check.h"

namespace wan {

VideoSparseAttentionParams VideoSparseCudaAttention::shape_params(const AttentionShape& s, const TileLayout& l) const {
  VideoSparseAttentionParams p;
  p.attn = shape_attention_params(s);
  p.tile_start = reinterpret_cast<const int32_t*>(256);
  p.tiles = static_cast<int>(l.tile_count);
  p.topk = static_cast<int>(vsa::topk_count(l.tile_count, sparsity_));
  return p;
}

Status VideoSparseCudaAttention::can_implement(const AttentionShape& shape) const {
  WAN_RETURN_IF_ERROR(check_cuda_bf16(shape, "video_sparse"));
  WAN_RETURN_IF_ERROR(check_shape(shape));
  const TokenOrder order = token_order(shape);
  const std::string reason = video_sparse_attention_unsupported_reason(shape_params(shape, order.layout));
  if (!reason.empty()) return unimplemented("video_sparse CUDA attention cannot run " + shape.describe() + ": " + reason);
  return Status();
}

size_t VideoSparseCudaAttention::workspace_bytes(const AttentionShape& shape) const {
  const TokenOrder order = token_order(shape);
  return tile_start_bytes(order.layout) + video_sparse_attention_workspace_bytes(shape_params(shape, order.layout));
}

Status VideoSparseCudaAttention::plan(const AttentionShape& shape, AttentionWorkspace workspace, Stream stream) {
  WAN_RETURN_IF_ERROR(can_implement(shape));
  WAN_RETURN_IF_ERROR(plan_layout(shape));
  if (workspace.bytes < workspace_bytes(shape))
    return internal_error("video_sparse CUDA attention: workspace too small");
  tile_start_ = static_cast<int32_t*>(workspace.data);
  kernel_workspace_ = static_cast<char*>(workspace.data) + tile_start_bytes(layout_);
  // Per-shape metadata, uploaded once (synchronous: the host vector is temporary).
  WAN_RETURN_IF_ERROR(upload_tile_start(layout_, tile_start_, stream));
  planned_ = true;
  return Status();
}

std::string VideoSparseCudaAttention::implementation() const {
  VideoSparseAttentionParams p = shape_params(shape_, layout_);
  if (with_gate_) p.gate = reinterpret_cast<const uint16_t*>(256);
  return "video_sparse:sparsity=" + sparsity_text_ + " (top-" + std::to_string(topk_) + " of " +
         layout_.describe() + ") -> " + video_sparse_attention_kernels(p);
}

Status VideoSparseCudaAttention::run(const AttentionArgs& a, Stream stream) {
  if (!planned_) return failed_precondition("video_sparse CUDA attention: run() before plan()");
  VideoSparseAttentionParams p;
  WAN_ASSIGN_OR_RETURN(p.attn, cuda_attention_params(a, shape_, "video_sparse"));
  if (a.gate) {
    const Tensor& g = *a.gate;
    if (g.dtype() != DType::kBF16 || !g.device().is_cuda() || g.shape() != a.q->shape() || g.stride(3) != 1 ||
        g.stride(2) != shape_.head_dim)
      return invalid_argument("video_sparse CUDA attention: the gate must be bf16 like q, got " + g.describe());
    p.gate = static_cast<const uint16_t*>(g.raw_data());
    p.gate_token_stride = g.stride(1);
    p.gate_batch_stride = g.stride(0);
  }
  with_gate_ = a.gate != nullptr;
  p.tile_start = tile_start_;
  p.tiles = static_cast<int>(layout_.tile_count);
  p.topk = static_cast<int>(topk_);
  launch_video_sparse_attention(p, kernel_workspace_, static_cast<cudaStream_t>(stream));
  return Status();
}

}  // namespace wan
