#include "engine/attention/dense_cuda.h"

#include <cuda_runtime_api.h>

#include "kernels/attention/block_sparse/block_sparse_attention_sm90.h"
#include "kernels/attention/flash/flash_attention_fwd_sm90.h"

namespace wan {

FlashAttentionParams shape_attention_params(const AttentionShape& s) {
  uint16_t* placeholder = reinterpret_cast<uint16_t*>(256);
  return packed_attention_params(static_cast<int>(s.batch), static_cast<int>(s.heads), static_cast<int>(s.head_dim),
                                 static_cast<int>(s.q_tokens), static_cast<int>(s.kv_tokens), placeholder,
                                 placeholder, placeholder, placeholder, 0.125f);
}

Result<FlashAttentionParams> cuda_attention_params(const AttentionArgs& a, const AttentionShape& shape,
                                                   const char* backend) {
  const Shape q_shape = {shape.batch, shape.q_tokens, shape.heads, shape.head_dim};
  const Shape kv_shape = {shape.batch, shape.kv_tokens, shape.heads, shape.head_dim};
  for (const Tensor* t : {a.q, a.k, a.v, static_cast<const Tensor*>(a.out)}) {
    const Shape& want = (t == a.k || t == a.v) ? kv_shape : q_shape;
    if (!t || t->dtype() != DType::kBF16 || !t->device().is_cuda() || t->shape() != want || t->stride(3) != 1 ||
        t->stride(2) != shape.head_dim) {
      return invalid_argument(std::string(backend) + " CUDA attention needs bf16 CUDA tensors " +
                              shape_to_string(want) + " (the planned shape) with packed heads, got " +
                              (t ? t->describe() : std::string("null")));
    }
  }
  if (a.k->stride(1) != a.v->stride(1) || a.k->stride(0) != a.v->stride(0))
    return invalid_argument(std::string(backend) + " CUDA attention: k and v must share strides");
  FlashAttentionParams p;
  p.q = static_cast<const uint16_t*>(a.q->raw_data());
  p.k = static_cast<const uint16_t*>(a.k->raw_data());
  p.v = static_cast<const uint16_t*>(a.v->raw_data());
  p.out = static_cast<uint16_t*>(a.out->raw_data());
  p.batch = static_cast<int>(shape.batch);
  p.heads = static_cast<int>(shape.heads);
  p.head_dim = static_cast<int>(shape.head_dim);
  p.q_tokens = static_cast<int>(shape.q_tokens);
  p.kv_tokens = static_cast<int>(shape.kv_tokens);
  p.q_token_stride = a.q->stride(1);
  p.kv_token_stride = a.k->stride(1);
  p.out_token_stride = a.out->stride(1);
  p.q_batch_stride = a.q->stride(0);
  p.kv_batch_stride = a.k->stride(0);
  p.out_batch_stride = a.out->stride(0);
  p.scale = a.scale;
  return p;
}

Status DenseCudaAttention::can_implement(const AttentionShape& shape) const {
  if (!shape.device.is_cuda())
    return unimplemented("dense CUDA attention cannot run on " + shape.device.to_string());
  if (shape.precision != AttentionPrecision::kBf16)
    return unimplemented("dense CUDA attention computes in bf16 only; use --precision bf16 on CUDA");
  if (shape.head_dim != 64 && shape.head_dim != 128)
    return unimplemented("dense CUDA attention supports head_dim 64 and 128, not " +
                         std::to_string(shape.head_dim) + " (" + shape.describe() + ")");
  if (shape.heads < 1 || shape.q_tokens < 1 || shape.kv_tokens < 1 || shape.batch < 1)
    return invalid_argument("attention shape must be positive: " + shape.describe());
  return choose(shape).status();
}

Result<DenseCudaAttention::Kernel> DenseCudaAttention::choose(const AttentionShape& shape) const {
  const FlashAttentionParams p = shape_attention_params(shape);
  const std::string ws_reason = block_sparse_attention_sm90_unsupported_reason(dense_block_sparse_params(p));
  const std::string& k = kernel_option_;
  if (k == "auto") return ws_reason.empty() && shape.head_dim == 128 ? Kernel::kSm90Ws : Kernel::kMmaSync;
  if (k == "sm90_ws") {
    if (!ws_reason.empty()) return unimplemented("dense:kernel=sm90_ws cannot run " + shape.describe() + ": " + ws_reason);
    return Kernel::kSm90Ws;
  }
  if (k == "sm90_plain") {
    const std::string reason = flash_attention_fwd_sm90_plain_unsupported_reason(p);
    if (!reason.empty()) return unimplemented("dense:kernel=sm90_plain cannot run " + shape.describe() + ": " + reason);
    return Kernel::kSm90Plain;
  }
  if (k == "mma_sync" || k.empty()) return Kernel::kMmaSync;
  return invalid_argument("dense: unknown kernel '" + k + "'");
}

size_t DenseCudaAttention::workspace_bytes(const AttentionShape& shape) const {
  const Result<Kernel> k = choose(shape);
  if (!k.ok()) return 0;
  const FlashAttentionParams p = shape_attention_params(shape);
  switch (k.value()) {
    case Kernel::kSm90Ws: return block_sparse_attention_sm90_workspace_bytes(dense_block_sparse_params(p));
    case Kernel::kSm90Plain: return flash_attention_fwd_sm90_plain_workspace_bytes(p);
    case Kernel::kMmaSync: return 0;
  }
  return 0;
}

Status DenseCudaAttention::plan(const AttentionShape& shape, AttentionWorkspace workspace, Stream) {
  WAN_RETURN_IF_ERROR(can_implement(shape));
  WAN_ASSIGN_OR_RETURN(kernel_, choose(shape));
  if (workspace.bytes < workspace_bytes(shape))
    return internal_error("dense CUDA attention: workspace of " + std::to_string(workspace.bytes) + " bytes, needs " +
                          std::to_string(workspace_bytes(shape)));
  shape_ = shape;
  workspace_ = workspace;
  planned_ = true;
  return Status();
}

std::string DenseCudaAttention::implementation() const {
  const FlashAttentionParams p = shape_attention_params(shape_);
  switch (kernel_) {
    case Kernel::kSm90Ws: return "dense:kernel=sm90_ws -> " + block_sparse_attention_sm90_name(dense_block_sparse_params(p));
    case Kernel::kSm90Plain: return "dense:kernel=sm90_plain -> flash_attention_fwd_sm90_plain (wgmma, plain schedule)";
    case Kernel::kMmaSync: return "dense:kernel=mma_sync -> flash_attention_fwd (mma.sync)";
  }
  return "?";
}

Status DenseCudaAttention::run(const AttentionArgs& a, Stream stream) {
  if (!planned_) return failed_precondition("dense CUDA attention: run() before plan()");
  WAN_ASSIGN_OR_RETURN(FlashAttentionParams p, cuda_attention_params(a, shape_, "dense"));
  const std::string reason = flash_attention_fwd_unsupported_reason(p);
  if (!reason.empty()) return unimplemented("dense CUDA attention: " + reason);
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  switch (kernel_) {
    case Kernel::kSm90Ws: launch_block_sparse_attention_sm90(dense_block_sparse_params(p), workspace_.data, s); break;
    case Kernel::kSm90Plain: launch_flash_attention_fwd_sm90_plain(p, workspace_.data, s); break;
    case Kernel::kMmaSync: launch_flash_attention_fwd(p, s); break;
  }
  return Status();
}

}  // namespace wan
