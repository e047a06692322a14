// The per-tile steps of the sm90 attention kernels, shared by the block-sparse main loop and
// the plain dense kernel: S = Q K^T on wgmma, the online softmax with masking of columns past a
// block's valid length, O += P V with P from registers, and the normalised store (optionally
// with the log-sum-exp). One warpgroup owns 64 query rows. Device-only, sm_90a.
#pragma once

#include <cstdint>

#include "kernels/attention/common/attention_device.cuh"
#include "kernels/attention/common/wgmma.cuh"

namespace wan::attn {

// One warpgroup's S = Q K^T for a kBlockN-key block: 64 query rows from q_row0 of a
// kBlockM-row Q tile, head_dim/16 k-steps, issued and committed as one wgmma group without
// waiting for it (the caller waits with sm90::wgmma_wait before reading s_acc). s_acc: the
// m64nN accumulator (layout: wgmma.cuh).
template <int kHeadDim, int kBlockM, int kBlockN>
__device__ __forceinline__ void qk_tile_issue(float (&s_acc)[kBlockN / 2], const char* q_tile, int q_row0,
                                              const char* k_tile) {
#pragma unroll
  for (int i = 0; i < kBlockN / 2; ++i) s_acc[i] = 0.0f;
  sm90::fence_operands(s_acc);  // the zeros are written before the wgmmas start
  sm90::wgmma_fence();
#pragma unroll
  for (int s = 0; s < kHeadDim / 16; ++s) {
    sm90::wgmma_ss<kBlockN>(s_acc, desc_at<kBlockM>(q_tile, q_row0, s), desc_at<kBlockN>(k_tile, 0, s));
  }
  sm90::wgmma_commit();
}
// The same, waited for.
template <int kHeadDim, int kBlockM, int kBlockN>
__device__ __forceinline__ void qk_tile(float (&s_acc)[kBlockN / 2], const char* q_tile, int q_row0,
                                        const char* k_tile) {
  qk_tile_issue<kHeadDim, kBlockM, kBlockN>(s_acc, q_tile, q_row0, k_tile);
  sm90::wgmma_wait_all();
}

// Online softmax (log2 domain) of one block's raw scores for this thread's rows lane/4 and
// lane/4 + 8, in two parts so a caller can run the first while a P V wgmma of the previous block
// still accumulates into o_acc. softmax_scores masks columns >= valid_cols (kRagged only) and
// every column of row r when bit r of masked_rows is set (kMasked only: warps skipping a block,
// per-row key sets of video_moba), updates the row state, leaves P = exp2(score - row max)
// (fp32) in p_acc (which may be s_acc) and each row's rescale factor in correction. Without
// kRagged / kMasked those selects are left out (callers pick the instantiation by a uniform
// branch); with them, a block that masks nothing gives the same bits. A row with no unmasked
// score yet keeps row_max = -inf and gets P = 0 (the subtraction uses 0 for it, not -inf - -inf).
// kFusedScale (FA3's scaling, other bits): row_max holds the max of the raw scores, and
// P = exp2(fma(s, scale_log2, -row_max * scale_log2)), one FFMA per score where the default
// rounds s * scale_log2 first and subtracts the scaled max (FMUL + FADD); the caller scales
// row_max by scale_log2 before store_rows. scale_log2 must be positive.
template <int kBlockN, bool kRagged = true, bool kMasked = true, bool kFusedScale = false>
__device__ __forceinline__ void softmax_scores(const float (&s_acc)[kBlockN / 2], int valid_cols, float scale_log2,
                                               int quad, float (&row_max)[2], float (&row_sum)[2],
                                               float (&correction)[2], float (&p_acc)[kBlockN / 2],
                                               uint32_t masked_rows = 0u) {
  if constexpr (!kMasked) masked_rows = 0u;
  const bool ragged = kRagged && valid_cols < kBlockN;
  float tile_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
  for (int i = 0; i < kBlockN / 2; ++i) {
    float x = kFusedScale ? s_acc[i] : s_acc[i] * scale_log2;
    if constexpr (kRagged) {
      if (ragged && (i / 4) * 8 + quad * 2 + (i & 1) >= valid_cols) x = -INFINITY;
    }
    if constexpr (kMasked) {
      if ((masked_rows >> ((i / 2) & 1)) & 1u) x = -INFINITY;
    }
    p_acc[i] = x;
    tile_max[(i / 2) & 1] = fmaxf(tile_max[(i / 2) & 1], x);
  }
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    tile_max[r] = fmaxf(tile_max[r], __shfl_xor_sync(0xffffffffu, tile_max[r], 1));
    tile_max[r] = fmaxf(tile_max[r], __shfl_xor_sync(0xffffffffu, tile_max[r], 2));
    const float new_max = fmaxf(row_max[r], tile_max[r]);
    // The exponent computed unconditionally and then selected: no branch here, which would make
    // ptxas serialise a P V wgmma in flight around this code (C7513).
    const float rescale = fast_exp2(kFusedScale ? (row_max[r] - new_max) * scale_log2 : row_max[r] - new_max);
    correction[r] = row_max[r] == -INFINITY ? 0.0f : rescale;
    row_max[r] = new_max;
    row_sum[r] *= correction[r];
  }
  // Without masked rows every row has a valid column by now, so row_max is finite; a masked row
  // may still be at -inf (then P = exp2(-inf - 0) = 0 instead of NaN).
  const float subtract[2] = {masked_rows && row_max[0] == -INFINITY ? 0.0f : row_max[0],
                             masked_rows && row_max[1] == -INFINITY ? 0.0f : row_max[1]};
  const float neg_scaled_max[2] = {-subtract[0] * scale_log2, -subtract[1] * scale_log2};  // kFusedScale
#pragma unroll
  for (int i = 0; i < kBlockN / 2; ++i) {  // n8 chunk i / 4, element i % 4
    const float pr = kFusedScale ? fast_exp2(__fmaf_rn(p_acc[i], scale_log2, neg_scaled_max[(i % 4) / 2]))
                                 : fast_exp2(p_acc[i] - subtract[(i % 4) / 2]);
    row_sum[(i % 4) / 2] += pr;
    p_acc[i] = pr;
  }
}

// The second part: rescales o_acc by the rows' correction and packs P (bf16) from s_acc as the
// A fragments of the P V wgmma. A warp none of whose 16 rows changed its max (correction 1
// everywhere: most blocks once a row has seen a few) skips the multiplies, which would leave
// every value as it is (x * 1 = x): the same bits, 64 instructions fewer per thread at head_dim
// 128. Call it with no wgmma in flight (the branch would serialise one).
template <int kHeadDim, int kBlockN>
__device__ __forceinline__ void rescale_and_pack(const float (&correction)[2], float (&o_acc)[kHeadDim / 2],
                                                 const float (&s_acc)[kBlockN / 2],
                                                 uint32_t (&p_frag)[kBlockN / 16][4]) {
  if (!__all_sync(0xffffffffu, correction[0] == 1.0f && correction[1] == 1.0f)) {
#pragma unroll
    for (int i = 0; i < kHeadDim / 2; ++i) o_acc[i] *= correction[(i / 2) & 1];
  }
#pragma unroll
  for (int c = 0; c < kBlockN / 8; ++c) {  // n8 chunks
    p_frag[c / 2][(c % 2) * 2 + 0] = pack_bf16(s_acc[c * 4 + 0], s_acc[c * 4 + 1]);
    p_frag[c / 2][(c % 2) * 2 + 1] = pack_bf16(s_acc[c * 4 + 2], s_acc[c * 4 + 3]);
  }
}

// Both parts at once (nothing in flight).
template <int kHeadDim, int kBlockN, bool kFusedScale = false>
__device__ __forceinline__ void online_softmax(float (&s_acc)[kBlockN / 2], int valid_cols, float scale_log2,
                                               int quad, float (&row_max)[2], float (&row_sum)[2],
                                               float (&o_acc)[kHeadDim / 2],
                                               uint32_t (&p_frag)[kBlockN / 16][4], uint32_t masked_rows = 0u) {
  float correction[2];
  softmax_scores<kBlockN, true, true, kFusedScale>(s_acc, valid_cols, scale_log2, quad, row_max, row_sum, correction,
                                                   s_acc, masked_rows);
  rescale_and_pack<kHeadDim, kBlockN>(correction, o_acc, s_acc, p_frag);
}

// O += P V for one block: A = P from registers, B = the V^T tile (head_dim rows, K-major over
// the block's keys), issued and committed as one wgmma group without waiting (o_acc and p_frag
// must not be touched until sm90::wgmma_wait says the group is done).
template <int kHeadDim, int kBlockN>
__device__ __forceinline__ void pv_tile_issue(float (&o_acc)[kHeadDim / 2], const uint32_t (&p_frag)[kBlockN / 16][4],
                                              const char* v_tile) {
  sm90::wgmma_fence();
#pragma unroll
  for (int s = 0; s < kBlockN / 16; ++s) sm90::wgmma_rs<kHeadDim>(o_acc, p_frag[s], desc_at<kHeadDim>(v_tile, 0, s));
  sm90::wgmma_commit();
}
// The same, waited for.
template <int kHeadDim, int kBlockN>
__device__ __forceinline__ void pv_tile(float (&o_acc)[kHeadDim / 2], const uint32_t (&p_frag)[kBlockN / 16][4],
                                        const char* v_tile) {
  pv_tile_issue<kHeadDim, kBlockN>(o_acc, p_frag, v_tile);
  sm90::wgmma_wait_all();
}

// Normalises and stores this thread's two rows local_row0 + lane/4 (+8) of a query block whose
// row 0 is token q_first and which has valid_rows rows. out_head: the (batch, head) base of the
// output; lse_head (optional): [tokens] natural-log LSE of the scaled scores, f32.
template <int kHeadDim>
__device__ __forceinline__ void store_rows(const float (&o_acc)[kHeadDim / 2], const float (&row_sum)[2],
                                           const float (&row_max)[2], uint16_t* out_head, int64_t token_stride,
                                           int q_first, int local_row0, int valid_rows, int lane, float* lse_head) {
  const int quad = lane % 4;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float total = row_sum[r];
    total += __shfl_xor_sync(0xffffffffu, total, 1);
    total += __shfl_xor_sync(0xffffffffu, total, 2);
    const float inv = 1.0f / total;
    const int local = local_row0 + lane / 4 + r * 8;
    if (local >= valid_rows) continue;
    const int row = q_first + local;
    uint16_t* out = out_head + static_cast<int64_t>(row) * token_stride;
#pragma unroll
    for (int c = 0; c < kHeadDim / 8; ++c) {
      *reinterpret_cast<uint32_t*>(out + c * 8 + quad * 2) =
          pack_bf16(o_acc[c * 4 + r * 2] * inv, o_acc[c * 4 + r * 2 + 1] * inv);
    }
    if (lse_head && quad == 0) lse_head[row] = (row_max[r] + __log2f(total)) * kLn2;
  }
}

}  // namespace wan::attn
