// Sparse-linear attention (SLA, ATTENTION.md "sparse_linear"; CPU reference
// kernels/cpu/attention_sla.h) on Hopper. Raster token order, self-attention. Kernels, all
// deterministic (fixed summation orders, no atomics):
//  1. selection (sla_numerics.h, bit-identical to the CPU reference): per-64-row key block sums,
//     the smooth-k mean, pooled block means of q (128 rows) and k - mean (64 rows), pooled
//     scores, top-k key blocks per query block (ties to the lower index, ascending);
//  2. the sparse branch on the block-sparse main loop (128-row query blocks x 64-key blocks,
//     the selected list per (batch, head, query block));
//  3. with a proj_l weight, the linear branch over all keys: phi(k) and per-chunk partial sums of
//     phi(k)^T v and phi(k) (fp32), summed over the chunks in order (kv rounded to bf16); then per
//     64-token block o_l = bf16(bf16(phi(q) kv) / (phi(q) . ks + 1e-5)) and
//     out = bf16(out + bf16(o_l W^T + b)) in place. Without proj_l the linear branch is zero and
//     not computed (out = the sparse branch).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <cuda_runtime_api.h>

#include "kernels/attention/flash/flash_attention_fwd.h"
#include "kernels/attention/sla/sla_numerics.h"

namespace wan {

struct SparseLinearAttentionParams {
  // q, k, v, out: [batch, tokens, heads, head_dim] bf16, raster order (q_tokens == kv_tokens).
  FlashAttentionParams attn;
  int topk = 1;  // sla::topk_count(key blocks, ratio)
  sla::FeatureMap feature_map = sla::FeatureMap::kSoftmax;
  const uint16_t* proj_weight = nullptr;  // bf16 [head_dim (out), head_dim (in)]; null: no linear branch
  const uint16_t* proj_bias = nullptr;    // bf16 [head_dim] or null (zero)
};

int sla_query_blocks(const SparseLinearAttentionParams& p);  // ceil(tokens / 128)
int sla_key_blocks(const SparseLinearAttentionParams& p);    // ceil(tokens / 64)

// Device workspace: block sums and means, the selected lists, the main loop's transposed V and the
// linear branch's partial sums (reserved with or without proj_l: batch * heads * ceil(tokens / 1024)
// * head_dim^2 * 4 bytes, 194 MB at 40 heads x 75,600 tokens).
size_t sla_attention_workspace_bytes(const SparseLinearAttentionParams& p);

// The selected key blocks of the last launch inside `workspace`: [batch, heads, query blocks,
// topk] int32, ascending.
const int32_t* sla_selected_blocks(const SparseLinearAttentionParams& p, const void* workspace);

// Empty if the kernels can run p on the current device, else the reason (call it with the real
// pointers and strides before a launch: alignment, strides and, with proj_l, overlaps are checked).
std::string sla_attention_unsupported_reason(const SparseLinearAttentionParams& p);

// Kernel names for reports.
std::string sla_attention_kernels(const SparseLinearAttentionParams& p);

// Asynchronous on `stream`; allocates nothing.
void launch_sla_attention(const SparseLinearAttentionParams& p, void* workspace, cudaStream_t stream);

}  // namespace wan
