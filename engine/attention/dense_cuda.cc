#include "engine/attention/dense_cuda.h"

#include <cstdlib>

#include <cuda_runtime_api.h>

#include "kernels/attention/flash/flash_attention_fwd.h"
#include "kernels/attention/flash/flash_attention_fwd_sm90.h"

namespace wan {

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
  return Status();
}

namespace {
// Params with the shape only (pointers aligned placeholders), for capability checks.
FlashAttentionParams shape_params(const AttentionShape& s) {
  FlashAttentionParams p;
  p.batch = static_cast<int>(s.batch);
  p.heads = static_cast<int>(s.heads);
  p.head_dim = static_cast<int>(s.head_dim);
  p.q_tokens = static_cast<int>(s.q_tokens);
  p.kv_tokens = static_cast<int>(s.kv_tokens);
  p.q = p.k = p.v = p.out = reinterpret_cast<uint16_t*>(256);
  return p;
}
}  // namespace

size_t DenseCudaAttention::workspace_bytes(const AttentionShape& shape) const {
  const FlashAttentionParams p = shape_params(shape);
  return flash_attention_fwd_sm90_unsupported_reason(p).empty() ? flash_attention_fwd_sm90_workspace_bytes(p) : 0;
}

Status DenseCudaAttention::plan(const AttentionShape& shape, Stream) {
  WAN_RETURN_IF_ERROR(can_implement(shape));
  shape_ = shape;
  // Hopper: the wgmma kernel (WAN_ATTENTION_KERNEL=mma_sync forces the portable one).
  const char* forced = std::getenv("WAN_ATTENTION_KERNEL");
  use_sm90_ = flash_attention_fwd_sm90_unsupported_reason(shape_params(shape)).empty() &&
              !(forced && std::string(forced) == "mma_sync");
  if (use_sm90_) {
    const size_t bytes = workspace_bytes(shape);
    if (!workspace_.defined() || workspace_.nbytes() < bytes) {
      WAN_ASSIGN_OR_RETURN(workspace_, Tensor::empty({static_cast<int64_t>(bytes)}, DType::kU8, shape.device));
    }
  }
  planned_ = true;
  return Status();
}

Status DenseCudaAttention::run(const AttentionArgs& a, Stream stream) {
  if (!planned_) return failed_precondition("dense CUDA attention: run() before plan()");
  const Shape q_shape = {shape_.batch, shape_.q_tokens, shape_.heads, shape_.head_dim};
  const Shape kv_shape = {shape_.batch, shape_.kv_tokens, shape_.heads, shape_.head_dim};
  for (const Tensor* t : {a.q, a.k, a.v, static_cast<const Tensor*>(a.out)}) {
    const Shape& want = (t == a.k || t == a.v) ? kv_shape : q_shape;
    if (!t || t->dtype() != DType::kBF16 || !t->device().is_cuda() || t->shape() != want || t->stride(3) != 1 ||
        t->stride(2) != shape_.head_dim) {
      return invalid_argument("dense CUDA attention needs bf16 CUDA tensors " + shape_to_string(want) +
                              " (the planned shape) with packed heads, got " +
                              (t ? t->describe() : std::string("null")));
    }
  }
  FlashAttentionParams p;
  p.q = static_cast<const uint16_t*>(a.q->raw_data());
  p.k = static_cast<const uint16_t*>(a.k->raw_data());
  p.v = static_cast<const uint16_t*>(a.v->raw_data());
  p.out = static_cast<uint16_t*>(a.out->raw_data());
  p.batch = static_cast<int>(shape_.batch);
  p.heads = static_cast<int>(shape_.heads);
  p.head_dim = static_cast<int>(shape_.head_dim);
  p.q_tokens = static_cast<int>(shape_.q_tokens);
  p.kv_tokens = static_cast<int>(shape_.kv_tokens);
  p.q_token_stride = a.q->stride(1);
  p.kv_token_stride = a.k->stride(1);
  p.out_token_stride = a.out->stride(1);
  p.q_batch_stride = a.q->stride(0);
  p.kv_batch_stride = a.k->stride(0);
  p.out_batch_stride = a.out->stride(0);
  p.scale = a.scale;
  if (a.k->stride(1) != a.v->stride(1) || a.k->stride(0) != a.v->stride(0))
    return invalid_argument("dense CUDA attention: k and v must share strides");
  const std::string reason = flash_attention_fwd_unsupported_reason(p);
  if (!reason.empty()) return unimplemented("dense CUDA attention: " + reason);
  if (use_sm90_) {
    launch_flash_attention_fwd_sm90(p, workspace_.raw_data(), static_cast<cudaStream_t>(stream));
  } else {
    launch_flash_attention_fwd(p, static_cast<cudaStream_t>(stream));
  }
  return Status();
}

}  // namespace wan
