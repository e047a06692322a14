#include "kernels/attention/common/tile_layout.h"

#include <algorithm>
#include <limits>

namespace wan {

std::string TileLayout::describe() const {
  return "tiles " + std::to_string(tiles_per_axis[0]) + "x" + std::to_string(tiles_per_axis[1]) + "x" +
         std::to_string(tiles_per_axis[2]) + " = " + std::to_string(tile_count) + " of " + std::to_string(tile[0]) +
         "x" + std::to_string(tile[1]) + "x" + std::to_string(tile[2]) + ", " + std::to_string(tokens) + " tokens (" +
         std::to_string(padded_tokens()) + " padded)";
}

std::string make_tile_layout(int64_t frames, int64_t height, int64_t width, const int64_t (&tile)[3],
                             TileLayout* out) {
  if (frames < 1 || height < 1 || width < 1)
    return "the token grid " + std::to_string(frames) + "x" + std::to_string(height) + "x" + std::to_string(width) +
           " is empty; tile-ordered attention needs a video token grid";
  for (int a = 0; a < 3; ++a)
    if (tile[a] < 1 || tile[a] > 64) return "tile extents must be in [1, 64], got " + std::to_string(tile[a]);
  const int64_t tokens = frames * height * width;
  if (tokens > std::numeric_limits<int32_t>::max() / 2) return "the token grid is too large for 32-bit indices";
  TileLayout l;
  l.frames = frames;
  l.height = height;
  l.width = width;
  const int64_t grid[3] = {frames, height, width};
  for (int a = 0; a < 3; ++a) {
    l.tile[a] = tile[a];
    l.tiles_per_axis[a] = (grid[a] + tile[a] - 1) / tile[a];
  }
  l.tile_count = l.tiles_per_axis[0] * l.tiles_per_axis[1] * l.tiles_per_axis[2];
  l.tokens = tokens;
  l.max_tile_tokens = tile[0] * tile[1] * tile[2];
  l.tile_start.assign(static_cast<size_t>(l.tile_count + 1), 0);
  l.tile_tokens.assign(static_cast<size_t>(l.tile_count), 0);
  l.raster_of_tiled.resize(static_cast<size_t>(tokens));
  l.tiled_of_raster.resize(static_cast<size_t>(tokens));
  int64_t pos = 0, index = 0;
  for (int64_t ti = 0; ti < l.tiles_per_axis[0]; ++ti) {
    for (int64_t hi = 0; hi < l.tiles_per_axis[1]; ++hi) {
      for (int64_t wi = 0; wi < l.tiles_per_axis[2]; ++wi, ++index) {
        const int64_t t0 = ti * tile[0], h0 = hi * tile[1], w0 = wi * tile[2];
        const int64_t t1 = std::min(frames, t0 + tile[0]), h1 = std::min(height, h0 + tile[1]),
                      w1 = std::min(width, w0 + tile[2]);
        l.tile_start[static_cast<size_t>(index)] = static_cast<int32_t>(pos);
        for (int64_t t = t0; t < t1; ++t)
          for (int64_t h = h0; h < h1; ++h)
            for (int64_t w = w0; w < w1; ++w, ++pos) {
              const int64_t raster = (t * height + h) * width + w;
              l.raster_of_tiled[static_cast<size_t>(pos)] = static_cast<int32_t>(raster);
              l.tiled_of_raster[static_cast<size_t>(raster)] = static_cast<int32_t>(pos);
            }
        l.tile_tokens[static_cast<size_t>(index)] = static_cast<int32_t>(pos - l.tile_start[static_cast<size_t>(index)]);
      }
    }
  }
  l.tile_start[static_cast<size_t>(l.tile_count)] = static_cast<int32_t>(pos);
  *out = std::move(l);
  return "";
}

}  // namespace wan
