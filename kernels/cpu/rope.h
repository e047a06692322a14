// Wan 3D rotary position embedding on the CPU: tables for a (frames, height, width) token grid
// and the interleaved-pair rotation. head_dim d splits into [d - 4(d/6), 2(d/6), 2(d/6)]
// channels for (t, h, w); angles pos * 10000^(-2i/d_axis) are computed in double with the
// portable math (same bits everywhere), then cos/sin rounded to f32.
#pragma once

#include <cstdint>
#include <vector>

namespace wan::cpu {

struct RopeTable {
  int64_t tokens = 0;
  int64_t pairs = 0;       // head_dim / 2
  std::vector<float> cos;  // [tokens, pairs]
  std::vector<float> sin;  // [tokens, pairs]
};

// Tokens in raster order (t, h, w).
RopeTable make_rope_table(int64_t frames, int64_t height, int64_t width, int64_t head_dim,
                          double theta = 10000.0);

// The table with its rows reordered: row i of the result is row source_row[i] of `table`
// (source_row: a permutation of [0, tokens), e.g. TileLayout::raster_of_tiled for tokens
// stored in tile order).
RopeTable reorder_rope_rows(const RopeTable& table, const std::vector<int32_t>& source_row);

// Rows [first, first + count) of `table`: the global positions of a token shard (Ulysses
// sequence parallelism slices RoPE to its shard, engine/parallel/ulysses.h).
RopeTable rope_rows(const RopeTable& table, int64_t first, int64_t count);

// x: [tokens, heads, head_dim] f32, rotated in place: for pair j,
// out[2j] = x[2j] cos - x[2j+1] sin, out[2j+1] = x[2j] sin + x[2j+1] cos (f32, no FMA).
void apply_rope_inplace(float* x, int64_t tokens, int64_t heads, int64_t head_dim,
                        const RopeTable& table);

}  // namespace wan::cpu
