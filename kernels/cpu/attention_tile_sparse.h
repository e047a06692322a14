// One query row attending to the valid keys of a list of kv tiles: the fine attention of every
// tile-ordered CPU backend (video_sparse's fine branch, sliding_tile, block_sparse). Fixed
// order, fp32 portable math (no FMA): s_j = q . k_j in channel order, p_j = 2^((s_j - max) *
// scale * log2e), l = sum p_j in key order (tiles in list order, rows ascending), out =
// (sum p_j v_j) / l, with p_j rounded to bf16 before P*V when round_p (the GPU's rounding point).
#pragma once

#include <cstdint>
#include <vector>

namespace wan::cpu {

struct TileSparseRowArgs {
  const float* k = nullptr;  // [tokens, row_stride] keys of one (batch), head offset applied
  const float* v = nullptr;  // like k
  int64_t row_stride = 0;    // elements between tokens (heads * head_dim)
  int64_t head_dim = 0;
  const int32_t* tile_start = nullptr;  // [tiles + 1] token offsets of the tiles
  float scale = 0.0f;
  bool round_p = true;
};

// out[0..head_dim) = attention of q_row over tiles[0..n_tiles); `scores` is caller scratch.
void attend_row_over_tiles_f32(const TileSparseRowArgs& a, const float* q_row, const int32_t* tiles, int64_t n_tiles,
                               std::vector<float>* scores, float* out);

}  // namespace wan::cpu
