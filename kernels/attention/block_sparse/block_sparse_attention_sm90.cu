#include "kernels/attention/block_sparse/block_sparse_attention_sm90.h"

#include <cuda.h>  // CUtensorMap and its encoder's signature (the encoder is found at run time)
#include <cuda_bf16.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <type_traits>

#include "kernels/attention/common/attention_device.cuh"
#include "kernels/attention/common/sm90_attention_tiles.cuh"
#include "kernels/common/cuda_check.h"

// The compute_90 PTX pass compiles the kernel body out (no wgmma there), leaving helpers unused.
#pragma nv_diag_suppress 177

namespace wan {
namespace {

using attn::cp_async_16;
using attn::cp_async_commit;
using attn::cp_async_wait_all;
using attn::cp_async_wait_all_and_fence;
using attn::mbar_arrive;
using attn::mbar_init;
using attn::mbar_wait;
using attn::swizzled_offset;

// Kernel traits: head_dim, consumer warpgroups per CTA (64 query rows each, one shared kv list),
// keys per kv block, and the consumer schedule: kOverlap runs block j's softmax while block
// j - 1's P V wgmma is in flight (FA3's intra-warpgroup overlap; same operations in the same
// order, so the same bits), else each block's QK, softmax and P V run one after the other.
// kPingPong (with kOverlap): the two consumer warpgroups also take turns issuing their GEMMs
// (named barriers 1 and 2, FA3's inter-warpgroup schedule), so one's softmax runs while the
// other's GEMMs hold the tensor cores. The overlapped schedules' producer is asynchronous: its
// copies land on the stage barriers by themselves (cp.async.mbarrier.arrive), several stages in
// flight, where the serial schedule's producer waits for each stage.
// kAblation: a MainLoopAblation bound measurement (wrong outputs), with the overlapped
// ping-pong schedule only. Every schedule scales the softmax as FA3 does (softmax_scores'
// kFusedScale: the raw scores' max, one FFMA per score).
template <int kHeadDim_, int kConsumers_, int kBlockN_, bool kOverlap_ = false, bool kPingPong_ = false,
          MainLoopAblation kAblation_ = MainLoopAblation::kNone>
struct Traits {
  static constexpr int kHeadDim = kHeadDim_, kConsumers = kConsumers_, kBlockN = kBlockN_;
  static constexpr bool kOverlap = kOverlap_, kPingPong = kOverlap_ && kPingPong_;
  // Loads through the tensor memory accelerator: one producer thread issues each tile as TMA
  // boxes completing on the stage barriers (the rest of the producer warpgroup exits). The
  // two-consumer serial schedule keeps 128 producer threads copying 16 bytes each with cp.async:
  // the same tiles and bits (the bit-exact check of the TMA path). H200, dense 12 x 32,760,
  // head_dim 128: 13.8 ms with cp.async, 11.9 ms with TMA (reports/2026-12-02-h200-tma).
  static constexpr bool kTma = kOverlap || kConsumers == 1;
  // setmaxnreg: the TMA producer needs few registers, which the consumers take.
  static constexpr int kProducerRegs = kTma ? 24 : 40, kConsumerRegs = kTma ? 240 : 232;
  static constexpr MainLoopAblation kAblation = kAblation_;
  static constexpr int kBlockM = 64 * kConsumers;
  static constexpr int kThreads = 128 * (1 + kConsumers);  // producer warpgroup + consumers
  // Serial: a 3-stage ring measured no faster on H100 (reports/2026-11-27-h100-engine). Overlapped:
  // a consumer holds two stages (block j's K, block j - 1's V), so the producer needs a third to
  // load ahead (128 x 128, head_dim 128: 224 KiB of tiles, inside the 227 KiB an SM allows).
  static constexpr int kStages = kOverlap ? 3 : 2;
  static constexpr int kQBytes = kBlockM * kHeadDim * 2;
  static constexpr int kKBytes = kBlockN * kHeadDim * 2;
  static constexpr int kVBytes = kHeadDim * kBlockN * 2;
  // Tiles, 1024 B alignment slack, then the barriers and each stage's kv block length.
  static constexpr int kSmemBytes = kQBytes + kStages * (kKBytes + kVBytes) + 1024 + 128;
  // One consumer: two CTAs per SM (their softmax and GEMMs interleave on the SM's schedulers).
  static constexpr int kMinBlocksPerSm = kConsumers == 1 ? 2 : 1;
  // K and V of a stage signalled separately (QK starts before V lands): on an H200, dense
  // 128x128 13.8 vs 14.0 ms at 12 x 32,760; VSA 64x64 fine loop 3.20 vs 2.89 ms at sparsity 0.9
  // (reports/2026-12-01-h200-attention-backends), so only the two-consumer tiling splits.
  static constexpr bool kSplitKv = kConsumers == 2;
};

// The TMA descriptors of a launch (unused by the cp.async instantiations): q and k as
// [batch, heads, tokens, head_dim] boxes of 64 channels x rows (one box per 64-channel half of
// the swizzled tile), v_t as [batch * heads, head_dim, vt_cols] boxes of 64 columns x head_dim
// rows; 128-byte swizzle, zeros outside the tensor.
struct MainLoopTensorMaps {
  CUtensorMap q, k, v_t;
};

// 128 producer threads copy a kRows x kCols bf16 tile (row-major source, row stride in
// elements) into the swizzled layout; rows >= valid_rows are zero-filled.
template <int kRows, int kCols>
__device__ __forceinline__ void produce_tile(char* tile, const uint16_t* base, int64_t row_stride, int valid_rows,
                                             int tid) {
  constexpr int kChunksPerRow = kCols / 8, kPerThread = kRows * kChunksPerRow / 128;
#pragma unroll 4
  for (int i = 0; i < kPerThread; ++i) {
    const int c = tid + i * 128;
    const int row = c / kChunksPerRow, chunk = c % kChunksPerRow;
    const bool valid = row < valid_rows;
    const uint16_t* src = base + (valid ? static_cast<int64_t>(row) * row_stride + chunk * 8 : 0);
    cp_async_16(tile + swizzled_offset<kRows>(row, chunk * 8), src, valid);
  }
}

// grid: (schedule.q_blocks, heads, batch); block: T::kThreads. q, k, out: [batch, tokens,
// heads, head_dim] with token strides; v_t: [batch, heads, head_dim, vt_cols] (kv block j at
// columns [j * kBlockN, (j + 1) * kBlockN), zero past its length).
// kRowMask: per-row chunk masks (p.row_chunk_mask); a separate instantiation, so the kernels
// without it compile exactly as before it existed.
template <class T, bool kRowMask = false>
__global__ void __launch_bounds__(T::kThreads, T::kMinBlocksPerSm)
    block_sparse_attention_sm90_kernel(const BlockSparseAttentionParams p, const uint16_t* __restrict__ v_t,
                                       int vt_cols, const __grid_constant__ MainLoopTensorMaps maps) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)  // wgmma exists only in sm_90a machine code
  constexpr int kHeadDim = T::kHeadDim, kBlockM = T::kBlockM, kBlockN = T::kBlockN, kStages = T::kStages;
  extern __shared__ char smem_raw[];
  char* smem = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(smem_raw) + 1023) & ~uintptr_t(1023));
  char* q_tile = smem;
  char* k_ring = smem + T::kQBytes;
  char* v_ring = k_ring + kStages * T::kKBytes;
  uint64_t* bars = reinterpret_cast<uint64_t*>(v_ring + kStages * T::kVBytes);
  uint64_t* q_full = bars;
  // With kSplitKv, K and V of a stage land separately (QK and the softmax start before V has
  // arrived); otherwise k_full covers both.
  uint64_t* k_full = bars + 1;                // [kStages]
  uint64_t* v_full = bars + 1 + kStages;      // [kStages], kSplitKv only
  uint64_t* empty = bars + 1 + 2 * kStages;   // [kStages]
  // The valid keys of the block in each stage, written by the producer before it arrives on
  // `k_full` (so consumers need no schedule state of their own).
  int* stage_len = reinterpret_cast<int*>(bars + 1 + 3 * kStages);  // [kStages]
  int* stage_mask = stage_len + kStages;                             // [kStages] warp masks (0: all)
  int* stage_chunk = stage_mask + kStages;                           // [kStages] chunk (row masks only)

  const FlashAttentionParams& a = p.attn;
  const BlockSchedule& s = p.schedule;
  const int wg = threadIdx.x / 128, tid = threadIdx.x % 128;
  const int qb = blockIdx.x, head = blockIdx.y, batch = blockIdx.z;
  const int q_first = s.q_block_start ? s.q_block_start[qb] : qb * kBlockM;
  const int q_len = s.q_block_start ? s.q_block_start[qb + 1] - q_first : min(kBlockM, a.q_tokens - q_first);
  const int32_t* list = nullptr;
  int entries = s.kv_blocks;
  if (s.kv_index) {
    const int64_t group = s.head_group ? __ldg(s.head_group + head) : static_cast<int64_t>(batch) * a.heads + head;
    if (s.kv_list_start) {
      const int32_t* bounds = s.kv_list_start + group * (s.q_blocks + 1) + qb;
      list = s.kv_index + __ldg(bounds);
      entries = __ldg(bounds + 1) - __ldg(bounds);
    } else {
      list = s.kv_index + (group * s.q_blocks + qb) * s.kv_count;
      entries = s.kv_list_len ? __ldg(s.kv_list_len + group * s.q_blocks + qb) : s.kv_count;
    }
  }
  constexpr uint32_t kBlockMaskBits = (1u << kKvBlockBits) - 1;
  auto kv_entry_at = [&](int e) { return list ? static_cast<uint32_t>(__ldg(list + e)) : static_cast<uint32_t>(e); };
  auto kv_first = [&](int j) { return s.kv_block_start ? __ldg(s.kv_block_start + j) : j * kBlockN; };
  auto kv_len = [&](int j) {
    return s.kv_block_start ? __ldg(s.kv_block_start + j + 1) - __ldg(s.kv_block_start + j)
                            : min(kBlockN, a.kv_tokens - j * kBlockN);
  };

  if (threadIdx.x == 0) {
    // TMA: one arrival (the producer thread's, arming the bytes). cp.async: the 128 copying
    // threads' arrivals (overlapped: plus thread 0's after it wrote the stage's metadata).
    mbar_init(q_full, T::kTma ? 1 : 128);
    for (int st = 0; st < kStages; ++st) {
      mbar_init(&k_full[st], T::kTma ? 1 : T::kOverlap ? 129 : 128);
      mbar_init(&v_full[st], T::kTma ? 1 : 128);
      mbar_init(&empty[st], 128 * T::kConsumers);
    }
    if constexpr (T::kTma) attn::fence_mbarrier_init();
  }
  __syncthreads();

  if (wg == 0 && T::kTma) {  // producer warpgroup, TMA: thread 0 alone
    if constexpr (T::kConsumers == 2) asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(T::kProducerRegs));
    if (tid != 0) return;
    attn::prefetch_tensor_map(&maps.q);
    attn::prefetch_tensor_map(&maps.k);
    attn::prefetch_tensor_map(&maps.v_t);
    constexpr int kHalves = kHeadDim / 64;  // 64-channel halves of a q or k tile
    attn::mbar_arrive_expect_tx(q_full, T::kQBytes);
#pragma unroll
    for (int h = 0; h < kHalves; ++h)
      attn::tma_load_4d(q_tile + h * (kBlockM * 128), &maps.q, h * 64, q_first, head, batch, q_full);
    const int vt_plane = batch * a.heads + head;
    for (int e = 0; e < entries; ++e) {
      const uint32_t entry = kv_entry_at(e);
      const int stage = e % kStages, j = static_cast<int>(entry & kBlockMaskBits);
      mbar_wait(&empty[stage], ((e / kStages) & 1) ^ 1);  // first pass: free
      stage_len[stage] = kv_len(j);
      stage_mask[stage] = static_cast<int>(entry >> kKvBlockBits);
      if constexpr (kRowMask) stage_chunk[stage] = __ldg(p.kv_block_chunk + j);
      if constexpr (T::kAblation == MainLoopAblation::kNoLoads) {
        if (e >= kStages) {  // the stage keeps an earlier block's tiles: arrive without copying
          mbar_arrive(&k_full[stage]);
          mbar_arrive(&v_full[stage]);
          continue;
        }
      }
      // kSplitKv: K and V land on their own barriers; else both on k_full.
      uint64_t* v_bar = T::kSplitKv ? &v_full[stage] : &k_full[stage];
      char* k_tile = k_ring + stage * T::kKBytes;
      attn::mbar_arrive_expect_tx(&k_full[stage], T::kSplitKv ? T::kKBytes : T::kKBytes + T::kVBytes);  // releases the metadata
#pragma unroll
      for (int h = 0; h < kHalves; ++h)
        attn::tma_load_4d(k_tile + h * (kBlockN * 128), &maps.k, h * 64, kv_first(j), head, batch, &k_full[stage]);
      char* v_tile = v_ring + stage * T::kVBytes;
      if constexpr (T::kSplitKv) attn::mbar_arrive_expect_tx(v_bar, T::kVBytes);
#pragma unroll
      for (int c = 0; c < kBlockN / 64; ++c)  // 64-column halves of the V^T tile
        attn::tma_load_3d(v_tile + c * (kHeadDim * 128), &maps.v_t, j * kBlockN + c * 64, 0, vt_plane, v_bar);
    }
    return;
  }
  if (wg == 0) {  // producer warpgroup, cp.async
    if constexpr (T::kConsumers == 2) asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(T::kProducerRegs));
    const uint16_t* q = a.q + batch * a.q_batch_stride + head * kHeadDim;
    const uint16_t* k = a.k + batch * a.kv_batch_stride + head * kHeadDim;
    const uint16_t* vt = v_t + (static_cast<int64_t>(batch) * a.heads + head) * kHeadDim * vt_cols;
    produce_tile<kBlockM, kHeadDim>(q_tile, q + static_cast<int64_t>(q_first) * a.q_token_stride, a.q_token_stride,
                                    q_len, tid);
    cp_async_commit();
    cp_async_wait_all_and_fence();
    mbar_arrive(q_full);
    for (int e = 0; e < entries; ++e) {
      const uint32_t entry = kv_entry_at(e);
      const int stage = e % kStages, j = static_cast<int>(entry & kBlockMaskBits), len = kv_len(j);
      mbar_wait(&empty[stage], ((e / kStages) & 1) ^ 1);  // first pass: free
      if (tid == 0) {
        stage_len[stage] = len;
        stage_mask[stage] = static_cast<int>(entry >> kKvBlockBits);
        if constexpr (kRowMask) stage_chunk[stage] = __ldg(p.kv_block_chunk + j);
      }
      if constexpr (T::kAblation == MainLoopAblation::kNoLoads) {
        if (e >= kStages) {  // the stage keeps an earlier block's tiles: arrive without copying
          mbar_arrive(&k_full[stage]);
          if (tid == 0) mbar_arrive(&k_full[stage]);
          mbar_arrive(&v_full[stage]);
          continue;
        }
      }
      produce_tile<kBlockN, kHeadDim>(k_ring + stage * T::kKBytes, k + static_cast<int64_t>(kv_first(j)) * a.kv_token_stride,
                                      a.kv_token_stride, len, tid);
      if constexpr (T::kOverlap) {  // asynchronous (kSplitKv holds: two consumers)
        attn::cp_async_arrive_on(&k_full[stage]);
        if (tid == 0) mbar_arrive(&k_full[stage]);  // release: the metadata above
        produce_tile<kHeadDim, kBlockN>(v_ring + stage * T::kVBytes, vt + static_cast<int64_t>(j) * kBlockN, vt_cols,
                                        kHeadDim, tid);
        attn::cp_async_arrive_on(&v_full[stage]);
        continue;
      }
      if constexpr (T::kSplitKv) cp_async_commit();
      produce_tile<kHeadDim, kBlockN>(v_ring + stage * T::kVBytes, vt + static_cast<int64_t>(j) * kBlockN, vt_cols,
                                      kHeadDim, tid);
      cp_async_commit();
      if constexpr (T::kSplitKv) {
        attn::cp_async_wait_one_and_fence();  // K of this stage
        mbar_arrive(&k_full[stage]);
        cp_async_wait_all_and_fence();        // V of this stage
        mbar_arrive(&v_full[stage]);
      } else {
        cp_async_wait_all_and_fence();  // K and V of this stage
        mbar_arrive(&k_full[stage]);
      }
    }
    cp_async_wait_all();  // nothing in flight when the producer leaves
    return;
  }

  if constexpr (T::kConsumers == 2) asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(T::kConsumerRegs));
  const int cg = wg - 1;  // consumer group: query rows cg*64 .. cg*64+63 of the block
  const int warp = tid / 32, lane = tid % 32, quad = lane % 4;
  const float scale_log2 = a.scale * attn::kLog2e;
  float o_acc[kHeadDim / 2];
#pragma unroll
  for (int i = 0; i < kHeadDim / 2; ++i) o_acc[i] = 0.0f;
  float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.0f, 0.0f};
  // Row masks: this thread's rows lane/4 and lane/4 + 8 of its warp (rows past q_len: none).
  const uint32_t* row_mask[2] = {nullptr, nullptr};
  if constexpr (kRowMask) {
    const int64_t group = static_cast<int64_t>(batch) * a.heads + head;
    for (int r = 0; r < 2; ++r) {
      const int local = cg * 64 + warp * 16 + lane / 4 + r * 8;
      if (local < q_len) row_mask[r] = p.row_chunk_mask + (group * a.q_tokens + q_first + local) * p.mask_words;
    }
  }
  mbar_wait(q_full, 0);
  auto stage_parity = [](int e) { return static_cast<uint32_t>((e / kStages) & 1); };
  // Row masks of video_moba: which of this thread's two rows skip the block in `stage`.
  auto masked_rows_of = [&](int stage) {
    uint32_t masked_rows = 0u;
    if constexpr (kRowMask) {
      const int chunk = stage_chunk[stage];
#pragma unroll
      for (int r = 0; r < 2; ++r)
        if (row_mask[r] && !((__ldg(row_mask[r] + chunk / 32) >> (chunk % 32)) & 1u)) masked_rows |= 1u << r;
    }
    return masked_rows;
  };
  // Whether this warp's rows attend to the block in `stage` (else P = 0 adds nothing and the row
  // state is untouched).
  auto warp_attends = [&](int stage) {
    const uint32_t mask = static_cast<uint32_t>(stage_mask[stage]);
    return mask == 0 || ((mask >> (cg * 4 + warp)) & 1u);
  };
  float s_acc[kBlockN / 2];
  uint32_t p_frag[kBlockN / 16][4];
  // The softmax of the block in `stage` (nothing in flight), or P = 0 for a warp that skips it.
  auto softmax_or_skip = [&](int stage) {
    if constexpr (T::kAblation == MainLoopAblation::kNoSoftmax) {
      const float ones[2] = {1.0f, 1.0f};
      attn::rescale_and_pack<kHeadDim, kBlockN>(ones, o_acc, s_acc, p_frag);
    } else if (warp_attends(stage)) {
      attn::online_softmax<kHeadDim, kBlockN, true>(s_acc, stage_len[stage], scale_log2, quad, row_max,
                                                              row_sum, o_acc, p_frag, masked_rows_of(stage));
    } else {
#pragma unroll
      for (int c = 0; c < kBlockN / 16; ++c) p_frag[c][0] = p_frag[c][1] = p_frag[c][2] = p_frag[c][3] = 0u;
    }
  };
  if constexpr (!T::kOverlap) {
    for (int e = 0; e < entries; ++e) {
      const int stage = e % kStages;
      mbar_wait(&k_full[stage], stage_parity(e));
      attn::qk_tile<kHeadDim, kBlockM, kBlockN>(s_acc, q_tile, cg * 64, k_ring + stage * T::kKBytes);
      softmax_or_skip(stage);
      if constexpr (T::kSplitKv) mbar_wait(&v_full[stage], stage_parity(e));
      attn::pv_tile<kHeadDim, kBlockN>(o_acc, p_frag, v_ring + stage * T::kVBytes);
      mbar_arrive(&empty[stage]);  // this thread is done with the stage
    }
  } else {
    // Block 0: QK and softmax with nothing to overlap. Then per block e >= 1: issue QK(e) and
    // P V(e - 1); when QK(e) lands, the softmax of block e runs under P V(e - 1); once that is
    // done, release stage e - 1, rescale O and pack P(e). Last: P V of the last block.
    // Ping-pong turns: warpgroup cg waits on barrier 1 + cg and hands the turn to the other on
    // its barrier (256 threads: 128 syncing, 128 arriving); consumer 1 gives consumer 0 the first
    // turn, and leaves out its last hand-over (consumer 0 takes no turn after it), so every
    // barrier phase started also completes.
    auto wait_turn = [&] {
      if constexpr (T::kPingPong) asm volatile("bar.sync %0, 256;\n" ::"r"(1 + cg) : "memory");
    };
    auto pass_turn = [&] {
      if constexpr (T::kPingPong) asm volatile("bar.arrive %0, 256;\n" ::"r"(2 - cg) : "memory");
    };
    if (cg == 1) pass_turn();
    mbar_wait(&k_full[0], 0);
    if constexpr (!T::kTma) attn::fence_proxy_async();  // cp.async copies (generic proxy) -> wgmma
    wait_turn();
    attn::qk_tile_issue<kHeadDim, kBlockM, kBlockN>(s_acc, q_tile, cg * 64, k_ring);
    pass_turn();
    sm90::wgmma_wait<0>();
    sm90::fence_operands(s_acc);
    softmax_or_skip(0);
    for (int e = 1; e < entries; ++e) {
      const int stage = e % kStages, prev = (e - 1) % kStages;
      // The producer arrives on v_full(e - 1) before k_full(e): waiting for both first costs
      // nothing and keeps the two wgmma groups back to back (no loop between them).
      if constexpr (T::kSplitKv) mbar_wait(&v_full[prev], stage_parity(e - 1));
      mbar_wait(&k_full[stage], stage_parity(e));
      if constexpr (!T::kTma) attn::fence_proxy_async();
      // Everything with branches (the row masks' loads) before the wgmmas: control flow while
      // one is in flight makes ptxas serialise them (C7513). A warp that skips the block runs the
      // softmax with both rows masked: P = 0, correction 1 (or 0 on a row still at -inf, whose
      // O and sum are 0), so its row state and O keep their bits.
      const uint32_t masked_rows = warp_attends(stage) ? masked_rows_of(stage) : 3u;
      const int valid = stage_len[stage];
      // One step with the softmax's selects chosen at compile time; which one runs is decided
      // per block by a branch uniform over the warpgroup (each has its own wgmma instructions):
      // masking only on ragged blocks (dense: the last), rows only where a warp or row skips.
      auto step = [&](auto ragged, auto masked) {
        sm90::fence_operands(o_acc);  // O's rescale and P's pack stay above the wgmmas
        sm90::fence_operands(p_frag);
        wait_turn();
        attn::qk_tile_issue<kHeadDim, kBlockM, kBlockN>(s_acc, q_tile, cg * 64, k_ring + stage * T::kKBytes);
        attn::pv_tile_issue<kHeadDim, kBlockN>(o_acc, p_frag, v_ring + prev * T::kVBytes);
        pass_turn();
        sm90::wgmma_wait<1>();  // QK(e) done, P V(e - 1) may still run
        sm90::fence_operands(s_acc);  // the softmax reads S only from here
        float correction[2] = {1.0f, 1.0f};
        if constexpr (T::kAblation != MainLoopAblation::kNoSoftmax) {
          attn::softmax_scores<kBlockN, decltype(ragged)::value, decltype(masked)::value, true>(
              s_acc, valid, scale_log2, quad, row_max, row_sum, correction, s_acc, masked_rows);
        }
        sm90::wgmma_wait<0>();  // P V(e - 1) done
        sm90::fence_operands(o_acc);  // O and P change only from here
        sm90::fence_operands(p_frag);
        mbar_arrive(&empty[prev]);
        attn::rescale_and_pack<kHeadDim, kBlockN>(correction, o_acc, s_acc, p_frag);
      };
      using Yes = std::true_type;
      using No = std::false_type;
      // Uniform over the warpgroup: the block's length and its warp mask (row masks: always).
      const bool any_masked = kRowMask || stage_mask[stage] != 0;
      if (valid < kBlockN) {
        if (any_masked) step(Yes{}, Yes{}); else step(Yes{}, No{});
      } else {
        if (any_masked) step(No{}, Yes{}); else step(No{}, No{});
      }
    }
    const int last = (entries - 1) % kStages;
    if constexpr (T::kSplitKv) mbar_wait(&v_full[last], stage_parity(entries - 1));
    if constexpr (!T::kTma) attn::fence_proxy_async();
    sm90::fence_operands(o_acc);
    sm90::fence_operands(p_frag);
    wait_turn();
    attn::pv_tile_issue<kHeadDim, kBlockN>(o_acc, p_frag, v_ring + last * T::kVBytes);
    if (cg == 0) pass_turn();
    sm90::wgmma_wait<0>();
    sm90::fence_operands(o_acc);
    mbar_arrive(&empty[last]);
  }
  // The raw scores' max (kFusedScale) -> the log2-domain max store_rows takes.
  row_max[0] *= scale_log2;
  row_max[1] *= scale_log2;
  float* lse = p.lse ? p.lse + (static_cast<int64_t>(batch) * a.heads + head) * a.q_tokens : nullptr;
  attn::store_rows<kHeadDim>(o_acc, row_sum, row_max, a.out + batch * a.out_batch_stride + head * kHeadDim,
                             a.out_token_stride, q_first, cg * 64 + warp * 16, q_len, lane, lse);
#else
  __trap();  // built without sm_90a machine code: block_sparse_attention_sm90_unsupported_reason says so
#endif
}

// v: [batch, tokens, heads, head_dim] (token stride) -> v_t: [batch, heads, head_dim, vt_cols],
// column c = kv block c / keys, row c % keys of it, zero past the block's length. 64 x 64 tiles
// through shared memory with 32-bit accesses both ways (a channel pair per load, a column pair
// per store; keys is even, so a column pair never straddles two blocks).
// grid: (vt_cols / 64, head_dim / 64, batch * heads), block (32, 8).
constexpr int kTransposeTile = 64;
__global__ void transpose_v_blocks_kernel(const uint16_t* __restrict__ v, int64_t token_stride, int64_t batch_stride,
                                          int heads, int head_dim, int tokens, const int32_t* __restrict__ block_start,
                                          int keys, int vt_cols, uint16_t* __restrict__ v_t) {
  __shared__ uint16_t tile[kTransposeTile][kTransposeTile + 2];  // [column][channel]
  const int bh = blockIdx.z, b = bh / heads, h = bh % heads;
  const int c0 = blockIdx.x * kTransposeTile, d0 = blockIdx.y * kTransposeTile;
  uint32_t loaded[kTransposeTile / 8];
#pragma unroll
  for (int k = 0; k < kTransposeTile / 8; ++k) {  // column c0 + i, channels d0 + 2 tx, + 1
    const int i = threadIdx.y + 8 * k, c = c0 + i, j = c / keys, r = c % keys;
    int token = c;
    bool valid = c < tokens;
    if (block_start) {
      token = __ldg(block_start + j) + r;
      valid = token < __ldg(block_start + j + 1);
    }
    loaded[k] = valid ? __ldg(reinterpret_cast<const uint32_t*>(v + b * batch_stride +
                                                                static_cast<int64_t>(token) * token_stride +
                                                                h * head_dim + d0 + 2 * threadIdx.x))
                      : 0u;
  }
#pragma unroll
  for (int k = 0; k < kTransposeTile / 8; ++k) {
    const int i = threadIdx.y + 8 * k;
    tile[i][2 * threadIdx.x] = static_cast<uint16_t>(loaded[k]);
    tile[i][2 * threadIdx.x + 1] = static_cast<uint16_t>(loaded[k] >> 16);
  }
  __syncthreads();
#pragma unroll
  for (int k = 0; k < kTransposeTile / 8; ++k) {  // channel d0 + i, columns c0 + 2 tx, + 1
    const int i = threadIdx.y + 8 * k;
    const uint32_t pair = static_cast<uint32_t>(tile[2 * threadIdx.x][i]) |
                          (static_cast<uint32_t>(tile[2 * threadIdx.x + 1][i]) << 16);
    *reinterpret_cast<uint32_t*>(v_t + (static_cast<int64_t>(bh) * head_dim + d0 + i) * vt_cols + c0 +
                                 2 * threadIdx.x) = pair;
  }
}

int vt_columns(const BlockSparseAttentionParams& p) {
  return p.schedule.kv_blocks * block_sparse_keys(p.tiling);
}

// cuTensorMapEncodeTiled from the driver the runtime runs on (no link to libcuda).
using EncodeTiledFn = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*,
                                   const cuuint64_t*, const cuuint32_t*, const cuuint32_t*, CUtensorMapInterleave,
                                   CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill);
EncodeTiledFn encode_tiled_fn() {
  static const EncodeTiledFn fn = [] {
    void* f = nullptr;
    cudaDriverEntryPointQueryResult found{};
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000, cudaEnableDefault, &found) !=
            cudaSuccess ||
        found != cudaDriverEntryPointSuccess) {
      cudaGetLastError();
      return EncodeTiledFn{nullptr};
    }
    return reinterpret_cast<EncodeTiledFn>(f);
  }();
  return fn;
}

// A bf16 tiled map, 128-byte swizzle, zeros out of bounds; dims innermost first, strides in
// bytes of dims 1.. (rank - 1 of them). Empty on success, else what failed.
std::string encode_bf16_map(CUtensorMap* map, const void* base, int rank, const cuuint64_t* dims,
                            const cuuint64_t* strides, const cuuint32_t* box) {
  const EncodeTiledFn encode = encode_tiled_fn();
  if (!encode) return "the driver has no cuTensorMapEncodeTiled (the TMA loads need a CUDA 12 driver)";
  const cuuint32_t element_strides[5] = {1, 1, 1, 1, 1};
  const CUresult r = encode(map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, rank, const_cast<void*>(base), dims, strides, box,
                            element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                            CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS) return "cuTensorMapEncodeTiled failed (CUresult " + std::to_string(static_cast<int>(r)) + ")";
  return "";
}

// The maps of a launch with kBlockM query rows and kBlockN keys per block. Empty on success.
std::string encode_main_loop_maps(const BlockSparseAttentionParams& p, const uint16_t* v_t, int vt_cols, int rows,
                                  int keys, MainLoopTensorMaps* maps) {
  const FlashAttentionParams& a = p.attn;
  const cuuint64_t d = static_cast<cuuint64_t>(a.head_dim);
  // [batch, tokens, heads, head_dim] with token and batch strides, as (channel, token, head, batch).
  auto token_major = [&](CUtensorMap* map, const uint16_t* base, int tokens, int64_t token_stride,
                         int64_t batch_stride, int box_rows) {
    const cuuint64_t dims[4] = {d, static_cast<cuuint64_t>(tokens), static_cast<cuuint64_t>(a.heads),
                                static_cast<cuuint64_t>(a.batch)};
    // A batch stride of a single batch is never used; any valid one stands in for it.
    const int64_t batch_bytes = a.batch > 1 ? batch_stride * 2 : static_cast<int64_t>(tokens) * token_stride * 2;
    const cuuint64_t strides[3] = {static_cast<cuuint64_t>(token_stride * 2), d * 2,
                                   static_cast<cuuint64_t>(batch_bytes)};
    const cuuint32_t box[4] = {64, static_cast<cuuint32_t>(box_rows), 1, 1};
    return encode_bf16_map(map, base, 4, dims, strides, box);
  };
  std::string failed = token_major(&maps->q, a.q, a.q_tokens, a.q_token_stride, a.q_batch_stride, rows);
  if (failed.empty()) failed = token_major(&maps->k, a.k, a.kv_tokens, a.kv_token_stride, a.kv_batch_stride, keys);
  if (failed.empty()) {
    const cuuint64_t dims[3] = {static_cast<cuuint64_t>(vt_cols), d, static_cast<cuuint64_t>(a.batch) * a.heads};
    const cuuint64_t strides[2] = {static_cast<cuuint64_t>(vt_cols) * 2, d * vt_cols * 2};
    const cuuint32_t box[3] = {64, static_cast<cuuint32_t>(d), 1};
    failed = encode_bf16_map(&maps->v_t, v_t, 3, dims, strides, box);
  }
  return failed;
}

template <class T, bool kRowMask = false>
void launch_traits(const BlockSparseAttentionParams& p, const uint16_t* v_t, cudaStream_t stream) {
  static const bool configured = [] {
    WAN_CUDA_CHECK(cudaFuncSetAttribute(block_sparse_attention_sm90_kernel<T, kRowMask>,
                                        cudaFuncAttributeMaxDynamicSharedMemorySize, T::kSmemBytes));
    return true;
  }();
  (void)configured;
  const dim3 grid(p.schedule.q_blocks, p.attn.heads, p.attn.batch);
  MainLoopTensorMaps maps{};
  if constexpr (T::kTma) {
    const std::string failed = encode_main_loop_maps(p, v_t, vt_columns(p), T::kBlockM, T::kBlockN, &maps);
    if (!failed.empty()) {  // unsupported_reason encoded the same maps: a broken invariant
      std::fprintf(stderr, "block_sparse_attention_sm90: %s\n", failed.c_str());
      std::abort();
    }
  }
  block_sparse_attention_sm90_kernel<T, kRowMask>
      <<<grid, T::kThreads, T::kSmemBytes, stream>>>(p, v_t, vt_columns(p), maps);
  WAN_CUDA_CHECK_LAUNCH();
}

template <int kHeadDim, bool kOverlap, bool kPingPong>
void launch_schedule(const BlockSparseAttentionParams& p, const uint16_t* v_t, cudaStream_t stream) {
  if (p.row_chunk_mask) {  // unsupported_reason: 128 x 128 only
    launch_traits<Traits<kHeadDim, 2, 128, kOverlap, kPingPong>, true>(p, v_t, stream);
  } else if (p.tiling == BlockSparseTiling::kRows128Keys128) {
    launch_traits<Traits<kHeadDim, 2, 128, kOverlap, kPingPong>>(p, v_t, stream);
  } else {
    launch_traits<Traits<kHeadDim, 2, 64, kOverlap, kPingPong>>(p, v_t, stream);
  }
}

// The bound measurements of the dense 128 x 128 ping-pong schedule (unsupported_reason
// refuses them elsewhere).
template <int kHeadDim>
void launch_ablation(const BlockSparseAttentionParams& p, const uint16_t* v_t, cudaStream_t stream) {
  using A = MainLoopAblation;
  if (p.ablation == A::kNoLoads) {
    launch_traits<Traits<kHeadDim, 2, 128, true, true, A::kNoLoads>>(p, v_t, stream);
  } else {
    launch_traits<Traits<kHeadDim, 2, 128, true, true, A::kNoSoftmax>>(p, v_t, stream);
  }
}

template <int kHeadDim>
void launch_head_dim(const BlockSparseAttentionParams& p, const uint16_t* v_t, cudaStream_t stream) {
  if (p.ablation != MainLoopAblation::kNone) {
    launch_ablation<kHeadDim>(p, v_t, stream);
  } else if (p.tiling == BlockSparseTiling::kRows64Keys64) {
    launch_traits<Traits<kHeadDim, 1, 64>>(p, v_t, stream);
  } else if (p.consumer_schedule == ConsumerSchedule::kOverlapped) {
    launch_schedule<kHeadDim, true, false>(p, v_t, stream);
  } else if (p.consumer_schedule == ConsumerSchedule::kOverlappedPingPong) {
    launch_schedule<kHeadDim, true, true>(p, v_t, stream);
  } else {
    launch_schedule<kHeadDim, false, false>(p, v_t, stream);
  }
}

}  // namespace

int block_sparse_rows(BlockSparseTiling t) { return t == BlockSparseTiling::kRows64Keys64 ? 64 : 128; }
int block_sparse_keys(BlockSparseTiling t) { return t == BlockSparseTiling::kRows128Keys128 ? 128 : 64; }

BlockSchedule all_blocks_schedule(int q_tokens, int kv_tokens, BlockSparseTiling tiling) {
  BlockSchedule s;
  s.q_blocks = (q_tokens + block_sparse_rows(tiling) - 1) / block_sparse_rows(tiling);
  s.kv_blocks = (kv_tokens + block_sparse_keys(tiling) - 1) / block_sparse_keys(tiling);
  return s;
}

BlockSparseAttentionParams dense_block_sparse_params(const FlashAttentionParams& p, BlockSparseTiling tiling) {
  BlockSparseAttentionParams b;
  b.attn = p;
  b.tiling = tiling;
  b.schedule = all_blocks_schedule(p.q_tokens, p.kv_tokens, tiling);
  return b;
}

size_t block_sparse_attention_sm90_workspace_bytes(const BlockSparseAttentionParams& p) {
  return static_cast<size_t>(p.attn.batch) * p.attn.heads * p.attn.head_dim * vt_columns(p) * 2;
}

std::string block_sparse_attention_sm90_name(const BlockSparseAttentionParams& p) {
  const int rows = block_sparse_rows(p.tiling), keys = block_sparse_keys(p.tiling);
  return "block_sparse_attention_sm90 (wgmma, head_dim " + std::to_string(p.attn.head_dim) + ", " +
         std::to_string(rows) + "-row query blocks x " + std::to_string(keys) + "-key blocks, " +
         (rows == 128 ? (p.consumer_schedule == ConsumerSchedule::kOverlapped
                             ? "2 consumer warpgroups, softmax overlapping P V"
                             : p.consumer_schedule == ConsumerSchedule::kOverlappedPingPong
                                   ? "2 consumer warpgroups, softmax overlapping P V, ping-pong"
                                   : "2 consumer warpgroups, serial")
                      : "1 consumer warpgroup, 2 CTAs/SM") +
         ", " +
         (p.schedule.kv_index ? "scheduled kv lists" : "all kv blocks") +
         (p.ablation == MainLoopAblation::kNoLoads     ? ", ABLATION: no loads"
          : p.ablation == MainLoopAblation::kNoSoftmax ? ", ABLATION: no softmax"
                                                       : "") +
         ")";
}

std::string block_sparse_attention_sm90_unsupported_reason(const BlockSparseAttentionParams& p) {
  const FlashAttentionParams& a = p.attn;
  if (a.head_dim != 64 && a.head_dim != 128)
    return "the sm90 main loop supports head_dim 64 and 128, not " + std::to_string(a.head_dim);
  if (a.batch < 1 || a.heads < 1 || a.q_tokens < 1 || a.kv_tokens < 1) return "attention sizes must be positive";
  const std::string rows = rows_of_16_bytes_unsupported_reason(a);
  if (!rows.empty()) return rows;
  const BlockSchedule& s = p.schedule;
  if (s.q_blocks < 1 || s.kv_blocks < 1) return "the block schedule is empty";
  if (s.kv_index && !s.kv_list_start && (s.kv_count < 1 || s.kv_count > s.kv_blocks))
    return "a fixed-length kv list must hold 1 to kv_blocks entries";
  if ((s.kv_list_start || s.head_group || s.kv_list_len) && !s.kv_index)
    return "kv_list_start, kv_list_len and head_group need kv_index";
  if (s.kv_list_start && s.kv_list_len) return "kv_list_len applies to fixed-length lists, not to CSR lists";
  if (s.kv_blocks >= (1 << kKvBlockBits)) return "more than 2^24 kv blocks";
  if (p.row_chunk_mask && (!p.kv_block_chunk || p.mask_words < 1))
    return "row_chunk_mask needs kv_block_chunk and mask_words >= 1";
  if (p.row_chunk_mask && p.tiling != BlockSparseTiling::kRows128Keys128)
    return "row_chunk_mask is built for the 128 x 128 tiling only";
  if (p.ablation != MainLoopAblation::kNone &&
      (p.tiling != BlockSparseTiling::kRows128Keys128 || p.consumer_schedule != ConsumerSchedule::kOverlappedPingPong ||
       p.row_chunk_mask))
    return "the ablations are built for the 128 x 128 ping-pong schedule without row masks";
  if (!(a.scale >= 0.0f) || !std::isfinite(a.scale))
    return "the main loop needs a non-negative finite scale (the softmax max is taken over the raw scores)";
  if (!s.q_block_start && s.q_blocks * block_sparse_rows(p.tiling) < a.q_tokens)
    return "the schedule's query blocks do not cover q_tokens";
  int device = 0, major = 0;
  cudaGetDevice(&device);
  cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
  if (major != 9) return "the sm90 main loop needs a Hopper GPU (compute capability 9.x)";
  cudaFuncAttributes attr{};
  if (cudaFuncGetAttributes(&attr, block_sparse_attention_sm90_kernel<Traits<128, 2, 128>>) != cudaSuccess ||
      attr.binaryVersion != 90) {
    cudaGetLastError();
    return "the sm90 main loop was not built as sm_90a machine code (--//tools/cuda:archs must include 90a)";
  }
  if (p.tiling == BlockSparseTiling::kRows64Keys64 || p.consumer_schedule != ConsumerSchedule::kSerial) {
    // The TMA loads (every schedule but the two-consumer serial one): the maps must encode (dimensions below 2^32, strides
    // below 2^40 bytes); the v_t address stands in for the workspace's (any 256-byte aligned one).
    MainLoopTensorMaps maps{};
    const std::string failed = encode_main_loop_maps(p, reinterpret_cast<const uint16_t*>(uintptr_t{256}),
                                                     vt_columns(p), block_sparse_rows(p.tiling),
                                                     block_sparse_keys(p.tiling), &maps);
    if (!failed.empty()) return "the main loop's TMA loads: " + failed;
  }
  return "";
}

void launch_transpose_v_blocks(const BlockSparseAttentionParams& p, uint16_t* v_t, cudaStream_t stream) {
  const FlashAttentionParams& a = p.attn;
  const int cols = vt_columns(p);
  const dim3 tgrid(cols / kTransposeTile, a.head_dim / kTransposeTile, a.batch * a.heads);
  transpose_v_blocks_kernel<<<tgrid, dim3(32, 8), 0, stream>>>(a.v, a.kv_token_stride, a.kv_batch_stride, a.heads,
                                                              a.head_dim, a.kv_tokens, p.schedule.kv_block_start,
                                                              block_sparse_keys(p.tiling), cols, v_t);
  WAN_CUDA_CHECK_LAUNCH();
}

void launch_block_sparse_attention_sm90(const BlockSparseAttentionParams& p, void* workspace, cudaStream_t stream) {
  const FlashAttentionParams& a = p.attn;
  uint16_t* v_t = static_cast<uint16_t*>(workspace);
  launch_transpose_v_blocks(p, v_t, stream);
  if (a.head_dim == 128) {
    launch_head_dim<128>(p, v_t, stream);
  } else {
    launch_head_dim<64>(p, v_t, stream);
  }
}

}  // namespace wan
