// Dense flash-attention forward on NVIDIA GPUs (sm_80+ mma.sync path): bf16 q/k/v, fp32
// online softmax (exp2 with scale*log2e) and accumulation, P rounded to bf16 before P*V,
// head_dim 64 or 128, any token counts. No atomics: bit-identical run to run.
// Layout: token-major [batch, tokens, heads, head_dim] with explicit token strides, so the
// DiT's fused QKV projection output is consumed in place.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>

#include <cuda_runtime_api.h>

namespace wan {

struct FlashAttentionParams {
  const uint16_t* q = nullptr;  // bf16 bits, [batch, q_tokens, heads, head_dim] with strides
  const uint16_t* k = nullptr;  // [batch, kv_tokens, heads, head_dim]
  const uint16_t* v = nullptr;
  uint16_t* out = nullptr;      // [batch, q_tokens, heads, head_dim]
  int batch = 1, heads = 0, head_dim = 0, q_tokens = 0, kv_tokens = 0;
  // Elements between consecutive tokens (heads * head_dim when packed) and between batches.
  int64_t q_token_stride = 0, kv_token_stride = 0, out_token_stride = 0;
  int64_t q_batch_stride = 0, kv_batch_stride = 0, out_batch_stride = 0;
  float scale = 0.0f;  // softmax scale, usually head_dim^-0.5
};

// Params for packed tensors [batch, tokens, heads, head_dim]: token stride heads * head_dim,
// batch stride tokens * token stride.
inline FlashAttentionParams packed_attention_params(int batch, int heads, int head_dim, int q_tokens, int kv_tokens,
                                                    const uint16_t* q, const uint16_t* k, const uint16_t* v,
                                                    uint16_t* out, float scale) {
  FlashAttentionParams p;
  p.q = q;
  p.k = k;
  p.v = v;
  p.out = out;
  p.batch = batch;
  p.heads = heads;
  p.head_dim = head_dim;
  p.q_tokens = q_tokens;
  p.kv_tokens = kv_tokens;
  p.q_token_stride = p.kv_token_stride = p.out_token_stride = static_cast<int64_t>(heads) * head_dim;
  p.q_batch_stride = p.out_batch_stride = q_tokens * p.q_token_stride;
  p.kv_batch_stride = kv_tokens * p.kv_token_stride;
  p.scale = scale;
  return p;
}

// Empty if q, k, v and out are 16-byte aligned and every token and batch stride is a multiple of
// 8 elements (rows of whole 16-byte pieces: what the sm90 kernels' copies need), else the reason.
inline std::string rows_of_16_bytes_unsupported_reason(const FlashAttentionParams& p) {
  if (p.q_token_stride % 8 || p.kv_token_stride % 8 || p.out_token_stride % 8 || p.q_batch_stride % 8 ||
      p.kv_batch_stride % 8 || p.out_batch_stride % 8)
    return "token and batch strides must be multiples of 8 elements (16-byte rows)";
  for (const void* ptr : {static_cast<const void*>(p.q), static_cast<const void*>(p.k),
                          static_cast<const void*>(p.v), static_cast<const void*>(p.out)})
    if (reinterpret_cast<uintptr_t>(ptr) % 16) return "q, k, v and out must be 16-byte aligned";
  return "";
}

// Empty if the kernel can run these params, else the reason (head_dim, alignment, sizes).
std::string flash_attention_fwd_unsupported_reason(const FlashAttentionParams& p);

// Asynchronous on `stream`; allocates nothing. Call only when the reason above is empty.
void launch_flash_attention_fwd(const FlashAttentionParams& p, cudaStream_t stream);

}  // namespace wan
