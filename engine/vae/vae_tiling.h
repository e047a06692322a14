// The decoder's spatial tiling option (--vae-tiling TILE,STRIDE), parsed and printed; the
// tiled decode itself is VaeDecoder::decode.
#pragma once

#include <cstdint>
#include <string>

#include "engine/core/status.h"

namespace wan {

// Spatial tiling for small cards, as diffusers' AutoencoderKLWan.tiled_decode: overlapping
// tiles of tile_px output pixels every stride_px pixels (diffusers: 256 and 192), each decoded
// alone (its own caches, every latent frame), blended linearly over the overlap with the tile
// above and the tile to the left (tiles blended in place, in row order, as diffusers does),
// cropped to stride_px, stitched, then clamped. Not bit-equal to an untiled decode (tiles see
// zero padding at their edges; the blend hides the seams). Used only when the latents are
// larger than one tile, as diffusers does.
struct VaeTiling {
  int64_t tile_px = 0;    // 0: no tiling
  int64_t stride_px = 0;  // < tile_px, both multiples of the spatial scale
  bool enabled() const { return tile_px > 0; }
  static Result<VaeTiling> parse(const std::string& text);  // "" (off), "256,192"
  std::string to_string() const;                             // "" or "256,192"
};

}  // namespace wan
