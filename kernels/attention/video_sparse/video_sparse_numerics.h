// The parts of video-sparse attention (VSA) whose bits decide WHICH kv tiles a query tile
// attends to: per-tile means, coarse scores, the top-k count and the selection order. Compiled
// for host and device from this one header, so the CPU reference and the CUDA kernels select
// identical tiles (fixed summation orders, no FMA contraction, bf16 round-to-nearest-even).
#pragma once

#include <cstdint>

#include "kernels/common/float16.h"
#include "kernels/common/host_device.h"
#include "kernels/common/portable_math.h"

namespace wan::vsa {

constexpr int kTileTokens = 64;  // tile (4, 4, 4)

// topk = max(1, min(ceil((1 - sparsity) * tiles), tiles)) in double (ATTENTION.md).
inline int64_t topk_count(int64_t tiles, double sparsity) {
  const double keep = (1.0 - sparsity) * static_cast<double>(tiles);
  int64_t k = static_cast<int64_t>(keep);
  if (static_cast<double>(k) < keep) ++k;  // ceil without libm
  if (k > tiles) k = tiles;
  return k < 1 ? 1 : k;
}

// Mean of one channel over a tile's valid rows: fp32 sum in row order / valid rows, -> bf16.
// rows: pointer to the channel of the tile's first row, stride between rows in elements.
// The final step, for callers that sum the rows themselves (in row order, with portable::add).
WAN_HD float tile_mean_from_sum(float sum, int valid_rows) {
  return round_to_bf16(portable::div(sum, static_cast<float>(valid_rows)));
}
template <typename Load>
WAN_HD float tile_mean(Load load, int valid_rows) {
  float sum = 0.0f;
  for (int r = 0; r < valid_rows; ++r) sum = portable::add(sum, load(r));
  return tile_mean_from_sum(sum, valid_rows);
}

// Coarse score of (q tile i, kv tile j): bf16(bf16(q_c . k_c) * scale), the dot product an
// fp32 sum over channels in order. The value top-k ranks and the coarse softmax reads.
// FastVideo: a bf16 GEMM (rounded), then a bf16 multiply by the scale (rounded again).
WAN_HD float coarse_score_from_dot(float dot, float scale) {
  return round_to_bf16(portable::mul(round_to_bf16(dot), scale));
}
// Accumulates one channel into a coarse dot product (callers loop c = 0 .. head_dim - 1).
WAN_HD float coarse_dot_step(float dot, float q, float k) { return portable::add(dot, portable::mul(q, k)); }
template <typename LoadQ, typename LoadK>
WAN_HD float coarse_score(LoadQ q, LoadK k, int head_dim, float scale) {
  float dot = 0.0f;
  for (int c = 0; c < head_dim; ++c) dot = coarse_dot_step(dot, q(c), k(c));
  return coarse_score_from_dot(dot, scale);
}

// Ranking key of a score: larger key = selected first; equal keys are ordered by the LOWER
// tile index (callers break ties by index). -0 ranks as +0. bf16 values map monotonically to
// 16-bit keys.
WAN_HD uint32_t score_key(float bf16_value) {
  uint32_t bits = f32_to_bf16_bits(bf16_value);
  if (bits == 0x8000u) bits = 0;  // -0 == +0
  return (bits & 0x8000u) ? (~bits & 0xffffu) : (bits | 0x8000u);
}

}  // namespace wan::vsa
