// Video-sparse attention (VSA, ATTENTION.md) on Hopper: per-tile means, coarse attention with
// top-k kv tiles per query tile (ties to the lowest index; bits shared with the CPU reference
// through video_sparse_numerics.h), the fine branch on the block-sparse main loop (64-row query
// tiles x 64-key kv tiles, kv tiles ascending, partial tiles masked), and
// out = out_c * gate + out_fine. Tokens in the unpadded tile order of a TileLayout (any grid,
// partial edge tiles). Deterministic: fixed orders, integer-only counting, no atomics.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <cuda_runtime_api.h>

#include "kernels/attention/flash/flash_attention_fwd.h"

namespace wan {

struct VideoSparseAttentionParams {
  // q, k, v, out: [batch, tokens, heads, head_dim] bf16, tile order (q_tokens == kv_tokens).
  FlashAttentionParams attn;
  const uint16_t* gate = nullptr;  // optional, like q (gate_compress); null: no coarse term
  int64_t gate_token_stride = 0, gate_batch_stride = 0;
  const int32_t* tile_start = nullptr;  // device [tiles + 1], tiles of 1..64 tokens
  int tiles = 0;
  int topk = 1;  // vsa::topk_count(tiles, sparsity)
};

// Device workspace: tile means, coarse output, kv lists, the main loop's transposed V.
size_t video_sparse_attention_workspace_bytes(const VideoSparseAttentionParams& p);

// The kv lists of the last launch inside `workspace`: [batch, heads, tiles, topk] int32 ascending.
const int32_t* video_sparse_selected_tiles(const VideoSparseAttentionParams& p, const void* workspace);

// Empty if the kernels can run p on the current device, else the reason.
std::string video_sparse_attention_unsupported_reason(const VideoSparseAttentionParams& p);

// Kernel names for reports.
std::string video_sparse_attention_kernels(const VideoSparseAttentionParams& p);

// Asynchronous on `stream`; allocates nothing.
void launch_video_sparse_attention(const VideoSparseAttentionParams& p, void* workspace, cudaStream_t stream);

}  // namespace wan
