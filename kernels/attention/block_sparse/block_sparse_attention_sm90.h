// The ONE block-sparse flash-attention main loop on Hopper (sm_90a), reused by every backend:
// dense is its all-blocks schedule, video_sparse (and later block_sparse, sliding_tile,
// sparse_linear's sparse branch) give a schedule. A producer warpgroup streams K and V^T
// blocks through an mbarrier ring (TMA boxes from one thread in the overlapped schedules,
// cp.async from 128 threads in the serial one) to consumer warpgroups of 64 query rows each (wgmma, fp32
// online softmax, P in registers). bf16 in/out, fp32 accumulation, head_dim 64 or 128, no
// atomics: bit-identical run to run. The softmax is scaled as FA3 scales it: the max over the raw
// scores, P = exp2(fma(s, scale log2 e, -max scale log2 e)), so the scale must not be negative.
// Optional log-sum-exp output for merging partial attentions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <cuda_runtime_api.h>

#include "kernels/attention/flash/flash_attention_fwd.h"

namespace wan {

// Tile shapes of the main loop (kernel traits), chosen per backend.
enum class BlockSparseTiling {
  // 128 query rows per CTA (two consumer warpgroups sharing one kv list) x 128-key blocks:
  // the dense schedule, 11.3 ms at 12 heads x 32,760 tokens on an H200 (random inputs, TMA loads;
  // cuDNN 11.7 ms; reports/2026-12-02-h200-tma).
  kRows128Keys128,
  // 64 query rows per CTA (one consumer warpgroup, two CTAs per SM) x 64-key blocks: one
  // (4,4,4) tile per block, for the tile-ordered backends whose query tiles select
  // their own kv tiles.
  kRows64Keys64,
  // 128 query rows (two consumer warpgroups) x 64-key blocks: (4,4,4) kv tiles for query blocks
  // that pack several query tiles (block_sparse), with the 128-row tiling's throughput.
  kRows128Keys64,
};
int block_sparse_rows(BlockSparseTiling t);  // query rows per query block
int block_sparse_keys(BlockSparseTiling t);  // keys per kv block

// Which kv blocks each query block visits. Query block b covers tokens
// [q_block_start[b], q_block_start[b + 1]) (null: [b * rows, min((b + 1) * rows, q_tokens)));
// kv block j covers [kv_block_start[j], kv_block_start[j + 1]) (null: uniform blocks of
// `keys`). Each block holds at most rows / keys tokens; columns past a kv block's length are
// masked to -inf, rows past a query block's length are not stored.
struct BlockSchedule {
  int q_blocks = 0, kv_blocks = 0;
  const int32_t* q_block_start = nullptr;   // device [q_blocks + 1] or null
  const int32_t* kv_block_start = nullptr;  // device [kv_blocks + 1] or null
  // null: every kv block in ascending order. Else each query block b of (batch, head) visits
  // a list of kv block indices (visited in list order; non-empty) of its list group g:
  //   g = head_group ? head_group[head] : batch * heads + head
  //   fixed length (kv_list_start null): kv_count entries at kv_index[(g * q_blocks + b) * kv_count]
  //     (only the first kv_list_len[g * q_blocks + b] of them when kv_list_len is given)
  //   variable (CSR): kv_index[kv_list_start[g * (q_blocks + 1) + b] .. kv_list_start[g * (q_blocks + 1) + b + 1])
  // head_group lets heads (of every batch) share lists: sliding_tile's per-head windows.
  // An entry is a kv block index in bits 0..23 and a warp mask in bits 24..31: 0 = every query
  // row attends to the block; else bit w lets consumer warp w (query rows 16w .. 16w + 15 of
  // the block) attend to it and the other rows skip it (block_sparse packs several query tiles,
  // each with its own kv tiles, into one query block). Every row needs >= 1 block it attends.
  const int32_t* kv_index = nullptr;
  int kv_count = 0;
  const int32_t* kv_list_start = nullptr;  // device [groups * (q_blocks + 1)] or null
  const int32_t* kv_list_len = nullptr;    // device [groups * q_blocks] or null (fixed-length lists)
  const int32_t* head_group = nullptr;     // device [heads] or null
};
constexpr int kKvBlockBits = 24;  // kv block index bits of a list entry; the rest: warp mask
inline int32_t kv_entry(int32_t block, uint32_t warp_mask) {
  return static_cast<int32_t>(static_cast<uint32_t>(block) | (warp_mask << kKvBlockBits));
}

// How the consumer warpgroups order each kv block's work. All give the same bits (the same
// operations in the same order on every value; tested); the choice is a speed measurement
// (H200, 12 x 32,760, head_dim 128, random inputs, FA3's fused softmax scale: 11.3 / 11.4 ms with
// TMA loads, serial 14.4 ms with cp.async; reports/2026-12-02-h200-tma).
enum class ConsumerSchedule {
  // Block j's softmax runs while block j - 1's P V wgmma is in flight (FA3's intra-warpgroup
  // overlap, a 3-stage ring), and the two consumer warpgroups take turns issuing their GEMMs
  // (FA3's inter-warpgroup ping-pong through named barriers). The default.
  kOverlappedPingPong,
  // The intra-warpgroup overlap without the ping-pong.
  kOverlapped,
  // QK, softmax, P V of each block one after the other (2-stage ring, a producer waiting for
  // each stage). The one-consumer 64 x 64 tiling always runs this (its 128-register budget has
  // no room for the overlap).
  kSerial,
};

// Bound measurements for the benchmark; the outputs are WRONG. kNoLoads: the producer copies
// the first blocks only (one pass of the ring) and then hands out stages without copying: the
// loop without its global-memory traffic. kNoSoftmax: P = the raw scores, no max, exponent or
// sum: the GEMMs and the pipeline alone. Built for the dense 128 x 128 ping-pong schedule only.
enum class MainLoopAblation { kNone, kNoLoads, kNoSoftmax };

struct BlockSparseAttentionParams {
  FlashAttentionParams attn;  // q, k, v, out, strides, scale (q_tokens/kv_tokens: totals)
  BlockSparseTiling tiling = BlockSparseTiling::kRows128Keys128;
  ConsumerSchedule consumer_schedule = ConsumerSchedule::kOverlappedPingPong;
  MainLoopAblation ablation = MainLoopAblation::kNone;
  BlockSchedule schedule;
  float* lse = nullptr;  // optional [batch, heads, q_tokens] f32: ln sum exp(scale * q.k)
  // Optional per-row key sets (video_moba): kv block j belongs to chunk kv_block_chunk[j], and
  // query token t of (batch, head) attends it only when bit c % 32 of word c / 32 of its mask
  //   row_chunk_mask[((batch * heads + head) * q_tokens + t) * mask_words + c / 32]
  // is set (else its scores in the block are -inf). Every row needs >= 1 block it attends.
  // Built for the 128 x 128 tiling only (its own instantiation; the others are unchanged).
  const uint32_t* row_chunk_mask = nullptr;  // device [batch * heads, q_tokens, mask_words] or null
  const int32_t* kv_block_chunk = nullptr;   // device [kv_blocks]; with row_chunk_mask
  int mask_words = 0;
};

// The schedule visiting every kv block (dense) for these token counts and tiling.
BlockSchedule all_blocks_schedule(int q_tokens, int kv_tokens, BlockSparseTiling tiling);
// Dense attention as the main loop runs it: p with the all-blocks schedule of `tiling`.
BlockSparseAttentionParams dense_block_sparse_params(const FlashAttentionParams& p,
                                                     BlockSparseTiling tiling = BlockSparseTiling::kRows128Keys128);

// Bytes of device workspace a launch needs (V transposed to [batch, heads, head_dim,
// kv_blocks * keys], each kv block zero-padded to `keys` columns).
size_t block_sparse_attention_sm90_workspace_bytes(const BlockSparseAttentionParams& p);

// Empty if the main loop can run p on the current device, else the reason.
std::string block_sparse_attention_sm90_unsupported_reason(const BlockSparseAttentionParams& p);

// Kernel name of the launch for p, for reports ("block_sparse_attention_sm90<hd128,128x128>").
std::string block_sparse_attention_sm90_name(const BlockSparseAttentionParams& p);

// v [batch, kv_tokens, heads, head_dim] -> v_t [batch, heads, head_dim, kv_blocks * keys] as
// the main loop reads it (kv block j at columns [j * keys, (j + 1) * keys), zero-padded).
// Also used by the plain dense sm90 kernel. Asynchronous; v_t holds the workspace bytes above.
void launch_transpose_v_blocks(const BlockSparseAttentionParams& p, uint16_t* v_t, cudaStream_t stream);

// Asynchronous on `stream`: the V transpose, then the main loop. Allocates nothing.
void launch_block_sparse_attention_sm90(const BlockSparseAttentionParams& p, void* workspace, cudaStream_t stream);

}  // namespace wan
