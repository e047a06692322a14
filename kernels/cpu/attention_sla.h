// CPU reference sparse-linear attention (SLA, ATTENTION.md "sparse_linear"; FastVideo's
// fastvideo/attention/backends/sla.py, numerics in reports/2026-12-01-sla-vmoba-reference-numerics.md).
// Raster token order, no 3D tiling. Per (batch, head):
//   1. smooth-k: k~ = k - mean over tokens of k;
//   2. block means of q (block_q rows) and k~ (block_k rows), a tail block over its true count;
//   3. pooled scores q_b . k~_b (unscaled); per query block the top
//      max(1, min(K, floor(ratio * K))) key blocks, ties to the LOWER index, visited in
//      ascending index order (FastVideo's torch.topk(sorted=False) leaves order and ties
//      unspecified; at ratio * K < 1 it selects none and returns NaN: ours keeps one block);
//   4. sparse part: softmax(q k^T * scale) v over the selected key blocks (raw k, not k~);
//   5. linear part over ALL keys: phi = softmax over head_dim | elu + 1 | relu of q and k,
//      o_l = phi(q) (phi(k)^T v) / (1e-5 + phi(q) . sum_tokens phi(k)), then
//      proj_l(o_l) = o_l W^T + b (Linear(head_dim, head_dim), shared across heads; absent = zero,
//      so the linear part vanishes and out = o_sparse);
//   6. out = o_sparse + proj_l(o_l).
// Steps 1-3 (which blocks are selected) follow kernels/attention/sla/sla_numerics.h, shared with
// the CUDA kernels: fp32 sums in fixed orders, so both select identical blocks. Steps 4-6: sums
// in double, in fixed orders. round_to_bf16 puts FastVideo's bf16 rounding points in (bf16
// k~, pooled means, scores, P before P*V, phi, phi(k)^T v, phi(q)(phi(k)^T v), proj_l input,
// weights and output, the sum); otherwise all fp32.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/attention/sla/sla_numerics.h"

namespace wan::cpu {

using SlaFeatureMap = sla::FeatureMap;  // softmax | elu + 1 | relu

struct SlaAttentionParams {
  const float* q = nullptr;  // [batch, tokens, heads, head_dim]
  const float* k = nullptr;  // [batch, tokens, heads, head_dim]
  const float* v = nullptr;  // [batch, tokens, heads, head_dim]
  float* out = nullptr;      // [batch, tokens, heads, head_dim]
  int64_t batch = 1, heads = 1, head_dim = 64, tokens = 0;
  float scale = 0.125f;      // head_dim^-0.5
  double ratio = 0.1;        // fraction of key blocks each query block attends, (0, 1]
  int64_t block_q = 128, block_k = 64;
  SlaFeatureMap feature_map = SlaFeatureMap::kSoftmax;
  const float* proj_weight = nullptr;  // [head_dim (out), head_dim (in)], nn.Linear layout; null = zero
  const float* proj_bias = nullptr;    // [head_dim]; null = zero
  bool round_to_bf16 = false;
};

// Key blocks attended per query block: max(1, min(K, floor(ratio * K))).
int64_t sla_topk(int64_t key_blocks, double ratio);

// Steps 1-3 for one (batch, head): the selected key blocks of each query block, ascending.
// lut: [query_blocks][topk].
std::vector<std::vector<int64_t>> sla_select_blocks(const SlaAttentionParams& p, int64_t b, int64_t h);

void attention_sla_f32(const SlaAttentionParams& p);

}  // namespace wan::cpu
