// The parts of block-sparse attention (BSA, ATTENTION.md) whose bits decide WHICH queries are
// kept and WHICH kv tiles each query tile attends to. Compiled for host and device from this
// one header, so the CPU reference and the CUDA kernels select identically (fixed summation
// orders, no FMA contraction, bf16 round-to-nearest-even, exp from portable double math).
//
// Per (batch, head, tile of n valid tokens, n <= 64; FastVideo needs n = 64 everywhere):
//  1. keep = max(1, floor(n * keep_ratio)) queries with the LOWEST cosine similarity to the
//     tile's centre token (valid index n / 2; index 32 of a whole tile), ties to the lower
//     index; kept in ascending position. cos = q.c / (max(|q|, 1e-12) * max(|c|, 1e-12)).
//  2. q_bar = bf16(mean of the kept rows), k_bar = bf16(mean of the tile's n keys).
//  3. s_j = bf16(bf16(q_bar . k_bar_j) / sqrt(d)); e_j = exp(s_j - max s) in fp32 (the
//     softmax numerators; softmax_j = e_j / sum e).
//  4. Tiles sorted by e descending (ties to the lower index); keep the r-th while the exclusive
//     cumulative mass (in that order) is < threshold of the total; at least min(min_tiles,
//     tiles); a threshold >= 1 keeps every tile. Kept tiles in ascending index order. The mass
//     is EXACT: e_j on a 2^-32 fixed-point grid (floor; e_j < 2^-32 weighs 0), sums in 64-bit
//     integers and the threshold as thr16 = round(threshold * 2^16): keep while
//     prefix * 2^16 < thr16 * total. Integer sums do not depend on the order of addition, so
//     the GPU's parallel scans give the CPU reference's bits. (FastVideo: bf16 softmax, sort,
//     bf16 cumsum; the same rule up to rounding.)
//  5. Pruned rows copy the output of the nearest kept position (distance in the tile's token
//     order, ties to the lower position), as FastVideo's _reconstruct_pruned does.
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/common/float16.h"
#include "kernels/common/host_device.h"
#include "kernels/common/portable_math.h"

namespace wan::bsa {

constexpr int kTileTokens = 64;  // tile (4, 4, 4)

// floor(n * keep_ratio) in double, at least 1 and at most n.
WAN_HD int keep_count(int n, double keep_ratio) {
  int k = static_cast<int>(portable::mul(static_cast<double>(n), keep_ratio));
  if (k > n) k = n;
  return k < 1 ? 1 : k;
}

WAN_HD float sqrt_f32(float x) { return static_cast<float>(portable::sqrt(static_cast<double>(x))); }

// Cosine similarity from the fp32 sums dot = q.c, qq = q.q, cc = c.c (channel order).
WAN_HD float cosine_from_sums(float dot, float qq, float cc) {
  float nq = sqrt_f32(qq), nc = sqrt_f32(cc);
  nq = nq > 1e-12f ? nq : 1e-12f;
  nc = nc > 1e-12f ? nc : 1e-12f;
  return portable::div(dot, portable::mul(nq, nc));
}

// True when row a ranks before row b for keeping (lower similarity first, then lower index).
WAN_HD bool keeps_before(float sim_a, int a, float sim_b, int b) { return sim_a < sim_b || (sim_a == sim_b && a < b); }

// Block score from the fp32 dot q_bar . k_bar_j (channel order).
WAN_HD float block_score(float dot, float sqrt_d) { return round_to_bf16(portable::div(round_to_bf16(dot), sqrt_d)); }

// exp(s - max) for the block softmax.
// exp(s - max) for the block softmax (0 below e^-700, where portable::exp's range ends).
WAN_HD float softmax_numerator(float s, float max) {
  const double x = static_cast<double>(portable::sub(s, max));
  return x < -700.0 ? 0.0f : static_cast<float>(portable::exp(x));
}

// The fixed-point mass of a numerator e in [0, 1]: floor(e * 2^32), exact.
WAN_HD uint64_t mass_fixed(float e) {
  return static_cast<uint64_t>(portable::mul(static_cast<double>(e), 4294967296.0));
}
// round(threshold * 2^16) for a threshold in [0, 1).
WAN_HD uint64_t threshold_fixed(double threshold) {
  return static_cast<uint64_t>(portable::add(portable::mul(threshold, 65536.0), 0.5));
}
// Whether the tile at sorted rank r (exclusive prefix mass `prefix`) is kept by the mass rule.
WAN_HD bool mass_keeps(int rank, uint64_t prefix, uint64_t total, uint64_t thr16) {
  return rank == 0 || prefix * 65536u < thr16 * total;
}
// Sort key: larger = earlier; e >= 0 (fp32 bits order it), then the LOWER index first.
WAN_HD uint64_t mass_sort_key(float e, int index) {
  uint32_t bits;
  memcpy(&bits, &e, 4);
  return (static_cast<uint64_t>(bits) << 32) | (0xffffffffu - static_cast<uint32_t>(index));
}
WAN_HD int sort_key_index(uint64_t key) { return static_cast<int>(0xffffffffu - static_cast<uint32_t>(key)); }
WAN_HD float sort_key_value(uint64_t key) {
  const uint32_t bits = static_cast<uint32_t>(key >> 32);
  float e;
  memcpy(&e, &bits, 4);
  return e;
}

}  // namespace wan::bsa
