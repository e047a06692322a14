// CPU reference of video-sparse attention (VSA, ATTENTION.md): per-tile means, coarse
// attention and its broadcast, top-k kv tiles per query tile (ties to the lowest index), the
// fine block-sparse attention over the selected tiles, out = out_c * gate + out_fine.
// Tokens are in the unpadded tile order of a TileLayout. Fixed orders, no FMA: the tile
// selection is bit-identical to the CUDA kernels' (video_sparse_numerics.h).
#pragma once

#include <cstdint>

namespace wan::cpu {

struct VideoSparseAttentionParams {
  const float* q = nullptr;     // [batch, tokens, heads, head_dim], tile order
  const float* k = nullptr;     // [batch, tokens, heads, head_dim]
  const float* v = nullptr;     // [batch, tokens, heads, head_dim]
  const float* gate = nullptr;  // [batch, tokens, heads, head_dim] or null (= 0: no coarse term)
  float* out = nullptr;         // [batch, tokens, heads, head_dim]
  int32_t* selected = nullptr;  // optional [batch, heads, tiles, topk] ascending kv tile indices
  const int32_t* tile_start = nullptr;   // [tiles + 1]
  const int32_t* tile_tokens = nullptr;  // [tiles], each in [1, 64]
  int64_t batch = 1, heads = 1, head_dim = 64, tiles = 0, topk = 1;
  float scale = 0.125f;
  // GPU rounding points: means, scores, P, out_c, out_c * gate and out rounded to bf16.
  bool round_to_bf16 = true;
};

void attention_video_sparse_f32(const VideoSparseAttentionParams& p);

}  // namespace wan::cpu
