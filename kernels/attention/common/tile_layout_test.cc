// The tile layout on full and partial grids: a permutation, tiles in (t, h, w) order, valid
// tokens of a tile in raster order, the 480p 1.3B grid's 624 tiles (39,936 padded tokens).
#include "kernels/attention/common/tile_layout.h"

#include <algorithm>

#include <gtest/gtest.h>

namespace wan {
namespace {

TEST(TileLayout, Wan13B480pGrid) {
  TileLayout l;
  ASSERT_EQ(make_tile_layout(21, 30, 52, {4, 4, 4}, &l), "");
  EXPECT_EQ(l.tile_count, 624);
  EXPECT_EQ(l.padded_tokens(), 39936);
  EXPECT_EQ(l.tokens, 32760);
  EXPECT_EQ(l.tile_start.back(), 32760);
  // Last tile: frames 20 (1), rows 28..29 (2), columns 48..51 (4) = 8 tokens.
  EXPECT_EQ(l.tile_tokens.back(), 8);
}

TEST(TileLayout, PartialTilesArePermutationInRasterOrder) {
  TileLayout l;
  ASSERT_EQ(make_tile_layout(5, 6, 7, {4, 4, 4}, &l), "");
  EXPECT_EQ(l.tile_count, 2 * 2 * 2);
  std::vector<int32_t> sorted = l.raster_of_tiled;
  std::sort(sorted.begin(), sorted.end());
  for (int32_t i = 0; i < static_cast<int32_t>(sorted.size()); ++i) ASSERT_EQ(sorted[i], i);
  for (int64_t i = 0; i < l.tokens; ++i) ASSERT_EQ(l.tiled_of_raster[l.raster_of_tiled[i]], i);
  // Tile 0 is the full 4x4x4 corner; its 2nd token is raster (0, 0, 1), its 5th (0, 1, 0).
  EXPECT_EQ(l.tile_tokens[0], 64);
  EXPECT_EQ(l.raster_of_tiled[1], 1);
  EXPECT_EQ(l.raster_of_tiled[4], 7);
  // Tile 1 (t 0, h 0, w 1): columns 4..6 -> 4 * 4 * 3 tokens; the last tile 1 * 2 * 3.
  EXPECT_EQ(l.tile_tokens[1], 48);
  EXPECT_EQ(l.tile_tokens[7], 6);
  EXPECT_EQ(l.raster_of_tiled[l.tile_start[1]], 4);
}

TEST(TileLayout, RejectsEmptyGrids) {
  TileLayout l;
  EXPECT_NE(make_tile_layout(0, 4, 4, {4, 4, 4}, &l).find("empty"), std::string::npos);
}

}  // namespace
}  // namespace wan
