// Top-k selection by one warp over the 16-bit ranking keys of up to a few thousand scores
// (video_sparse's kv tiles, sparse_linear's key blocks). Deterministic: 16 bisection steps with
// ballots find the threshold key T (the largest with count(key >= T) >= topk), no block barrier;
// ties at T go to the LOWEST indices; the selected indices are written ascending.
#pragma once

#include <cstdint>

namespace wan {

// key_at(j): the ranking key of candidate j (0 <= j < n), a larger key ranks first. All 32 lanes
// of the warp call this together; out receives topk indices (topk <= n).
template <typename KeyAt>
__device__ __forceinline__ void warp_select_topk(KeyAt key_at, int n, int topk, int32_t* out) {
  const int lane = threadIdx.x % 32;
  uint32_t threshold = 0;
  for (int bit = 15; bit >= 0; --bit) {
    const uint32_t candidate = threshold | (1u << bit);
    int count = 0;
    for (int g = 0; g < n; g += 32)
      count += __popc(__ballot_sync(0xffffffffu, g + lane < n && key_at(g + lane) >= candidate));
    if (count >= topk) threshold = candidate;
  }
  int greater = 0;
  for (int g = 0; g < n; g += 32)
    greater += __popc(__ballot_sync(0xffffffffu, g + lane < n && key_at(g + lane) > threshold));
  const int need = topk - greater;  // ties at T: the lowest indices
  const uint32_t below = (1u << lane) - 1;
  int equal_before = 0, written = 0;
  for (int g = 0; g < n; g += 32) {
    const int j = g + lane;
    const bool valid = j < n;
    const uint32_t key = valid ? key_at(j) : 0u;
    const uint32_t eq = __ballot_sync(0xffffffffu, valid && key == threshold);
    const bool take = valid && (key > threshold || (key == threshold && equal_before + __popc(eq & below) < need));
    const uint32_t taken = __ballot_sync(0xffffffffu, take);
    if (take) out[written + __popc(taken & below)] = j;
    written += __popc(taken);
    equal_before += __popc(eq);
  }
}

}  // namespace wan
