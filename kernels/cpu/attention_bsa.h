// CPU reference of block-sparse attention (BSA, ATTENTION.md and kernels/attention/bsa/
// bsa_numerics.h): per (4,4,4) tile, query pruning by cosine similarity to the centre token,
// kv-tile selection by cumulative block-softmax mass, attention of the kept queries over the
// selected tiles (ascending), pruned rows copied from the nearest kept position. Tokens in
// the unpadded tile order of a TileLayout (partial edge tiles allowed). Fixed orders, no FMA:
// the selections are bit-identical to the CUDA kernels'.
#pragma once

#include <cstdint>

namespace wan::cpu {

struct BlockSparseSelectionParams {
  double keep_ratio = 0.5;
  double threshold = 0.9;
  int64_t min_tiles = 4;
};

struct BsaAttentionParams {
  const float* q = nullptr;  // [batch, tokens, heads, head_dim], tile order
  const float* k = nullptr;
  const float* v = nullptr;
  float* out = nullptr;      // [batch, tokens, heads, head_dim]
  const int32_t* tile_start = nullptr;   // [tiles + 1]
  const int32_t* tile_tokens = nullptr;  // [tiles], each 1..64
  int64_t batch = 1, heads = 1, head_dim = 64, tiles = 0;
  float scale = 0.125f;
  BlockSparseSelectionParams select;
  bool round_to_bf16 = true;  // GPU rounding points (P and out)
  // Optional outputs for tests: per (batch, head, tile) the kept positions (tile-local,
  // ascending, [.., 64], count in kept_count) and the selected kv tiles ([.., tiles], count in
  // selected_count); and per token the tile-local position whose output it carries.
  int32_t* kept = nullptr;
  int32_t* kept_count = nullptr;
  int32_t* selected = nullptr;
  int32_t* selected_count = nullptr;
  int32_t* source_position = nullptr;  // [batch, heads, tokens]
};

void attention_bsa_f32(const BsaAttentionParams& p);

}  // namespace wan::cpu
