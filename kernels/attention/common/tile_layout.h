// The 3D tile layout shared by the tile-ordered attention backends (video_sparse, and later
// block_sparse and sliding_tile): a (frames, height, width) token grid cut into tiles of
// (tile_t, tile_h, tile_w) tokens, tiles ordered (t, h, w), tokens inside a tile in raster
// order of its valid tokens. Edge tiles may be partial. Tokens are stored UNPADDED in tile
// order: tile i holds positions [tile_start[i], tile_start[i] + tile_tokens[i]).
// Host-only metadata, built once per shape (plan) and reused every step.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace wan {

struct TileLayout {
  int64_t frames = 0, height = 0, width = 0;  // token grid
  int64_t tile[3] = {4, 4, 4};                // tile extent (t, h, w) in tokens
  int64_t tiles_per_axis[3] = {0, 0, 0};      // ceil(grid / tile) per axis
  int64_t tile_count = 0;                     // product of tiles_per_axis
  int64_t tokens = 0;                         // frames * height * width
  int64_t max_tile_tokens = 0;                // tile[0] * tile[1] * tile[2]
  std::vector<int32_t> tile_start;            // [tile_count + 1] prefix sums of tile_tokens
  std::vector<int32_t> tile_tokens;           // [tile_count] variable block sizes (valid tokens)
  std::vector<int32_t> raster_of_tiled;       // [tokens] tiled position -> raster index
  std::vector<int32_t> tiled_of_raster;       // [tokens] raster index -> tiled position

  // Padded length of FastVideo's layout (tile_count * max_tile_tokens), for reports.
  int64_t padded_tokens() const { return tile_count * max_tile_tokens; }
  std::string describe() const;  // "tiles 6x8x13 = 624 of 4x4x4, 32760 tokens (39936 padded)"
};

// Builds the layout; an empty string on success, else why the grid cannot be tiled.
std::string make_tile_layout(int64_t frames, int64_t height, int64_t width, const int64_t (&tile)[3],
                             TileLayout* out);

}  // namespace wan
