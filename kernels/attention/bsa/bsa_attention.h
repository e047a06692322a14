// Block-sparse attention (BSA, ATTENTION.md; numerics in bsa_numerics.h) on Hopper. Tokens in
// the unpadded tile order of a (4,4,4) TileLayout, any grid (partial edge tiles: see
// bsa_numerics.h). Kernels, all deterministic (fixed orders, integer counting, no atomics):
//  1. key means per tile; 2. query pruning per (batch, head, tile): cosine similarity to the
//     centre token, the kept rows gathered into slots of 16, 32 or 64 rows (the smallest that
//     holds the kept count), q_bar, and each row's nearest kept slot;
//  3. kv-tile selection per (batch, head, tile): softmax numerators of q_bar . k_bar, a
//     bitonic sort (mass descending, index ascending), the exact integer cumulative-mass cut
//     and ascending compaction by block scans;
//  4. per query block (block_rows / slot query tiles) the union of its tiles' kv tiles, each
//     entry with the warp mask of the tiles that selected it;
//  5. the block-sparse main loop (64- or 128-row query blocks x 64-key tiles, warps skip
//     blocks their tile did not select); 6. every row takes its nearest kept row's output.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <cuda_runtime_api.h>

#include "kernels/attention/flash/flash_attention_fwd.h"

namespace wan {

struct BsaAttentionParams {
  // q, k, v, out: [batch, tokens, heads, head_dim] bf16, tile order (q_tokens == kv_tokens).
  FlashAttentionParams attn;
  const int32_t* tile_start = nullptr;  // device [tiles + 1], tiles of 1..64 tokens
  int tiles = 0;
  int max_keep = 32;    // the largest kept count of any tile: bsa::keep_count(max tile tokens, keep_ratio)
  double keep_ratio = 0.5;
  float threshold = 0.9f;
  int min_tiles = 4;
  // Query rows per main-loop block: 64 (one consumer warpgroup, 64-row blocks x 64-key tiles)
  // or 128 (two consumers: more query tiles share one kv list, the union grows).
  int block_rows = 64;
};

// Rows per query tile slot (16, 32 or 64) and query blocks (block_rows each) of the main loop.
int bsa_slot_rows(const BsaAttentionParams& p);
int bsa_query_blocks(const BsaAttentionParams& p);

size_t bsa_attention_workspace_bytes(const BsaAttentionParams& p);

// Views into the workspace after a launch (device pointers), for tests:
struct BsaSelections {
  const int32_t* kept;            // [batch, heads, tiles, 64] tile-local positions, ascending
  const int32_t* selected;        // [batch, heads, tiles, tiles] kv tiles, ascending
  const int32_t* selected_count;  // [batch, heads, tiles]
  const int32_t* source_slot;     // [batch, heads, tokens] kept slot whose output a row takes
};
BsaSelections bsa_selections(const BsaAttentionParams& p, const void* workspace);

std::string bsa_attention_unsupported_reason(const BsaAttentionParams& p);
std::string bsa_attention_kernels(const BsaAttentionParams& p);

// Asynchronous on `stream`; allocates nothing.
void launch_bsa_attention(const BsaAttentionParams& p, void* workspace, cudaStream_t stream);

}  // namespace wan
