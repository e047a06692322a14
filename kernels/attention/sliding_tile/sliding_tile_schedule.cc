#include "kernels/attention/sliding_tile/sliding_tile_schedule.h"

#include <algorithm>

namespace wan {

std::string TileWindow::text() const { return std::to_string(t) + "x" + std::to_string(h) + "x" + std::to_string(w); }

void sliding_tile_axis_range(int64_t q, int64_t k, int64_t n, int64_t* lo, int64_t* hi) {
  const int64_t half = k / 2;
  // clamp as Triton's clamp_int does: the upper bound first, then the lower.
  int64_t center = std::min(q, (n - 1) - half);
  center = std::max(center, half);
  *lo = std::max<int64_t>(center - half, 0);
  *hi = std::min<int64_t>(center + half + 1, n);
}

namespace {
void tile_coords(const TileLayout& l, int64_t tile, int64_t (&c)[3]) {
  c[2] = tile % l.tiles_per_axis[2];
  c[1] = (tile / l.tiles_per_axis[2]) % l.tiles_per_axis[1];
  c[0] = tile / (l.tiles_per_axis[2] * l.tiles_per_axis[1]);
}
}  // namespace

bool sliding_tile_allows(const TileLayout& layout, const TileWindow& window, int64_t q_tile, int64_t kv_tile) {
  int64_t q[3], kv[3];
  tile_coords(layout, q_tile, q);
  tile_coords(layout, kv_tile, kv);
  const int64_t k[3] = {window.t, window.h, window.w};
  for (int a = 0; a < 3; ++a) {
    int64_t lo, hi;
    sliding_tile_axis_range(q[a], k[a], layout.tiles_per_axis[a], &lo, &hi);
    if (kv[a] < lo || kv[a] >= hi) return false;
  }
  return true;
}

std::vector<int32_t> sliding_tile_kv_tiles(const TileLayout& layout, const TileWindow& window, int64_t q_tile) {
  int64_t q[3], lo[3], hi[3];
  tile_coords(layout, q_tile, q);
  const int64_t k[3] = {window.t, window.h, window.w};
  for (int a = 0; a < 3; ++a) sliding_tile_axis_range(q[a], k[a], layout.tiles_per_axis[a], &lo[a], &hi[a]);
  std::vector<int32_t> tiles;
  for (int64_t t = lo[0]; t < hi[0]; ++t)
    for (int64_t h = lo[1]; h < hi[1]; ++h)
      for (int64_t w = lo[2]; w < hi[2]; ++w)
        tiles.push_back(static_cast<int32_t>((t * layout.tiles_per_axis[1] + h) * layout.tiles_per_axis[2] + w));
  return tiles;  // (t, h, w) nested loops: ascending flat index
}

SlidingTileSchedule make_sliding_tile_schedule(const TileLayout& layout, const std::vector<TileWindow>& windows,
                                               int block_tokens) {
  SlidingTileSchedule s;
  std::vector<int32_t> first_block(static_cast<size_t>(layout.tile_count + 1));
  for (int64_t tile = 0; tile < layout.tile_count; ++tile) {
    first_block[tile] = s.blocks;
    const int32_t begin = layout.tile_start[tile], n = layout.tile_tokens[tile];
    for (int32_t off = 0; off < n; off += block_tokens) {
      s.block_start.push_back(begin + off);
      s.block_tile.push_back(static_cast<int32_t>(tile));
      ++s.blocks;
    }
  }
  first_block[layout.tile_count] = s.blocks;
  s.block_start.push_back(layout.tile_start[layout.tile_count]);
  for (const TileWindow& window : windows) {
    // The kv block list of each query tile, shared by the tile's query blocks.
    std::vector<std::vector<int32_t>> tile_lists(static_cast<size_t>(layout.tile_count));
    for (int64_t tile = 0; tile < layout.tile_count; ++tile)
      for (int32_t kv_tile : sliding_tile_kv_tiles(layout, window, tile))
        for (int32_t j = first_block[kv_tile]; j < first_block[kv_tile + 1]; ++j) tile_lists[tile].push_back(j);
    for (int32_t b = 0; b < s.blocks; ++b) {
      s.list_start.push_back(static_cast<int32_t>(s.kv_index.size()));
      const std::vector<int32_t>& list = tile_lists[s.block_tile[b]];
      s.kv_index.insert(s.kv_index.end(), list.begin(), list.end());
      s.visited_pairs += static_cast<int64_t>(list.size());
    }
    s.list_start.push_back(static_cast<int32_t>(s.kv_index.size()));
  }
  return s;
}

double sliding_tile_density(const TileLayout& layout, const TileWindow& window) {
  double kept = 0;
  for (int64_t tile = 0; tile < layout.tile_count; ++tile) {
    int64_t keys = 0;
    for (int32_t kv_tile : sliding_tile_kv_tiles(layout, window, tile)) keys += layout.tile_tokens[kv_tile];
    kept += static_cast<double>(keys) * layout.tile_tokens[tile];
  }
  return kept / (static_cast<double>(layout.tokens) * static_cast<double>(layout.tokens));
}

}  // namespace wan
