// What every tile-ordered backend (video_sparse, sliding_tile, block_sparse) checks and builds
// the same way: self-attention over a video token grid cut into tiles, the declared token
// order, the CUDA/bf16 preconditions and the tile map uploaded into the workspace.
#pragma once

#include <string_view>

#include "engine/attention/attention_backend.h"

namespace wan {

// Tiles of `tile` tokens over the shape's grid (tiles (t, h, w), raster inside a tile).
TokenOrder tiled_token_order(const AttentionShape& shape, const int64_t (&tile)[3]);

// OK, or why `backend` cannot serve the shape: not self-attention over a video grid
// (Unimplemented), non-positive sizes (InvalidArgument), or a grid the tiles cannot cut.
Status check_tiled_self_attention(const AttentionShape& shape, std::string_view backend, const int64_t (&tile)[3]);

// OK, or why `backend`'s CUDA implementation cannot run the shape (another device, fp32).
Status check_cuda_bf16(const AttentionShape& shape, std::string_view backend);

// check_cuda_bf16, then check_self_attention_sizes: the raster-order self-attention backends on
// CUDA (sparse_linear, sage).
Status check_cuda_self_attention_shape(const AttentionShape& shape, std::string_view backend);

// The tile map (TileLayout::tile_start, [tiles + 1] int32) at the start of a CUDA workspace:
// its size rounded to 256 bytes, and the upload (synchronous: plan() runs once per shape).
size_t tile_start_bytes(const TileLayout& layout);
Status upload_tile_start(const TileLayout& layout, void* device_dst, Stream stream);

}  // namespace wan
