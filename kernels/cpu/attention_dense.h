// CPU reference dense attention: softmax(q k^T * scale) v per (batch, head), f32 with a fixed
// order: scores by sequential dot products, p = 2^((s - max) * scale * log2e) (portable exp2),
// l = sum of p in key order, o = sum_j p_j v_j / l. Optionally rounds p to bf16 before P*V,
// as the GPU flash kernel does. Not tiled: this is the reference the GPU kernels are tested on.
#pragma once

#include <cstdint>

namespace wan::cpu {

struct DenseAttentionParams {
  const float* q = nullptr;  // [batch, q_tokens, heads, head_dim]
  const float* k = nullptr;  // [batch, kv_tokens, heads, head_dim]
  const float* v = nullptr;  // [batch, kv_tokens, heads, head_dim]
  float* out = nullptr;      // [batch, q_tokens, heads, head_dim]
  int64_t batch = 1, heads = 1, head_dim = 64, q_tokens = 0, kv_tokens = 0;
  float scale = 0.125f;      // usually head_dim^-0.5
  bool round_p_to_bf16 = false;
};

// Allocates a per-thread workspace of kv_tokens * (head_dim + 1) floats per call.
void attention_dense_f32(const DenseAttentionParams& p);

}  // namespace wan::cpu
