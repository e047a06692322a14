// Sliding-tile attention (STA, ATTENTION.md) as block lists for the block-sparse main loop.
// Tokens are in the tile order of a TileLayout with any tile shape (FastVideo: 6x8x8) on any
// canvas; edge tiles may be partial. A query tile attends to kv tile kv iff on each axis a:
//   center_a = clamp(q_a, k_a / 2, (n_a - 1) - k_a / 2);  |center_a - kv_a| <= k_a / 2
// (window clamped inside the canvas, not truncated; integer halves). Applied as Triton's STA
// kernel does: the upper bound is taken first, so a window at least as wide as the axis covers
// the whole axis, and an even window k < n covers k + 1 tiles. The full window equals dense.
// Host-only: the schedule is built once per shape (plan) and uploaded.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/attention/common/tile_layout.h"

namespace wan {

// A window in tiles per axis (t, h, w), each >= 1.
struct TileWindow {
  int32_t t = 1, h = 1, w = 1;
  bool operator==(const TileWindow& o) const { return t == o.t && h == o.h && w == o.w; }
  bool operator!=(const TileWindow& o) const { return !(*this == o); }
  std::string text() const;  // "3x3x5"
};

// The kv tiles [lo, hi) on one axis seen by query tile index q, for window k on an axis of n tiles.
void sliding_tile_axis_range(int64_t q, int64_t k, int64_t n, int64_t* lo, int64_t* hi);

// Whether query tile q_tile attends to kv tile kv_tile (flat (t, h, w) tile indices).
bool sliding_tile_allows(const TileLayout& layout, const TileWindow& window, int64_t q_tile, int64_t kv_tile);

// The kv tiles of query tile q_tile, ascending flat index.
std::vector<int32_t> sliding_tile_kv_tiles(const TileLayout& layout, const TileWindow& window, int64_t q_tile);

// The main loop's view: every tile cut into blocks of at most `block_tokens` tokens (the same
// blocks for queries and keys), and per window one CSR list group whose query block b lists
// the kv blocks of its tile's window, ascending.
struct SlidingTileSchedule {
  int32_t blocks = 0;                 // query blocks == kv blocks
  std::vector<int32_t> block_start;   // [blocks + 1] token offsets in tile order
  std::vector<int32_t> block_tile;    // [blocks] tile of each block
  std::vector<int32_t> list_start;    // [windows * (blocks + 1)] CSR offsets into kv_index
  std::vector<int32_t> kv_index;      // concatenated kv block lists
  int64_t visited_pairs = 0;          // sum over windows of (query block, kv block) pairs
};
SlidingTileSchedule make_sliding_tile_schedule(const TileLayout& layout, const std::vector<TileWindow>& windows,
                                               int block_tokens);

// Fraction of (query, key) token pairs a window keeps on this layout (1 = dense).
double sliding_tile_density(const TileLayout& layout, const TileWindow& window);

}  // namespace wan
