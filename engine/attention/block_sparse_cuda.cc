#include "engine/attention/block_sparse_cuda.h"

#include <cuda_runtime_api.h>

#include "engine/attention/dense_cuda.h"
#include "engine/attention/tiled_backend.h"
#include "kernels/attention/bsa/bsa_numerics.h"
#include "kernels/common/cuda_check.h"

namespace wan {

BsaAttentionParams BlockSparseCudaAttention::shape_params(const AttentionShape& s, const TileLayout& l) const {
  BsaAttentionParams p;
  p.attn = shape_attention_params(s);
  p.tile_start = reinterpret_cast<const int32_t*>(256);
  p.tiles = static_cast<int>(l.tile_count);
  int max_keep = 1;
  for (int32_t n : l.tile_tokens) max_keep = std::max(max_keep, bsa::keep_count(n, select_.keep_ratio));
  p.max_keep = max_keep;
  p.keep_ratio = select_.keep_ratio;
  p.threshold = static_cast<float>(select_.threshold);
  p.min_tiles = static_cast<int>(select_.min_tiles);
  // 128-row query blocks: faster than 64 from ~4% kept density up on an H200
  // (reports/2026-12-01-h200-sliding-tile/bsa), slightly slower below.
  p.block_rows = 128;
  return p;
}

Status BlockSparseCudaAttention::can_implement(const AttentionShape& shape) const {
  WAN_RETURN_IF_ERROR(check_cuda_bf16(shape, "block_sparse"));
  WAN_RETURN_IF_ERROR(check_shape(shape));
  const TokenOrder order = token_order(shape);
  const std::string reason = bsa_attention_unsupported_reason(shape_params(shape, order.layout));
  if (!reason.empty()) return unimplemented("block_sparse CUDA attention cannot run " + shape.describe() + ": " + reason);
  return Status();
}

size_t BlockSparseCudaAttention::workspace_bytes(const AttentionShape& shape) const {
  const TokenOrder order = token_order(shape);
  return tile_start_bytes(order.layout) + bsa_attention_workspace_bytes(shape_params(shape, order.layout));
}

Status BlockSparseCudaAttention::plan(const AttentionShape& shape, AttentionWorkspace workspace, Stream stream) {
  WAN_RETURN_IF_ERROR(can_implement(shape));
  WAN_RETURN_IF_ERROR(plan_layout(shape));
  if (workspace.bytes < workspace_bytes(shape)) return internal_error("block_sparse CUDA attention: workspace too small");
  tile_start_ = static_cast<int32_t*>(workspace.data);
  kernel_workspace_ = static_cast<char*>(workspace.data) + tile_start_bytes(layout_);
  WAN_RETURN_IF_ERROR(upload_tile_start(layout_, tile_start_, stream));
  planned_ = true;
  return Status();
}

std::string BlockSparseCudaAttention::implementation() const {
  return "block_sparse (" + describe_options() + ") -> " + bsa_attention_kernels(shape_params(shape_, layout_));
}

Status BlockSparseCudaAttention::run(const AttentionArgs& a, Stream stream) {
  if (!planned_) return failed_precondition("block_sparse CUDA attention: run() before plan()");
  BsaAttentionParams p = shape_params(shape_, layout_);
  WAN_ASSIGN_OR_RETURN(p.attn, cuda_attention_params(a, shape_, "block_sparse"));
  p.tile_start = tile_start_;
  launch_bsa_attention(p, kernel_workspace_, static_cast<cudaStream_t>(stream));
  return Status();
}

}  // namespace wan
