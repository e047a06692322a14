#include "kernels/attention/video_sparse/video_sparse_attention.h"

#include <cuda_bf16.h>

#include "kernels/attention/block_sparse/block_sparse_attention_sm90.h"
#include "kernels/attention/common/warp_topk.cuh"
#include "kernels/attention/video_sparse/video_sparse_numerics.h"
#include "kernels/common/cuda_check.h"
#include "kernels/common/float16.h"
#include "kernels/common/portable_math.h"

namespace wan {
namespace {

constexpr int kSelectRows = 8;  // query tiles per CTA of the selection kernel, one warp each
constexpr int kSelectThreads = kSelectRows * 32;
constexpr int kScoreChunk = 32;  // k_c rows staged in shared memory at a time (one per lane)
constexpr int kMaxHeadDim = 128;

size_t align256(size_t x) { return (x + 255) / 256 * 256; }

struct WorkspaceLayout {
  size_t means_bytes, kv_index_offset, main_loop_offset, total;
};
WorkspaceLayout layout_of(const VideoSparseAttentionParams& p) {
  const FlashAttentionParams& a = p.attn;
  WorkspaceLayout l;
  l.means_bytes = align256(static_cast<size_t>(a.batch) * a.heads * p.tiles * a.head_dim * 2);
  l.kv_index_offset = 4 * l.means_bytes;  // q_c, k_c, v_c, out_c
  l.main_loop_offset = l.kv_index_offset + align256(static_cast<size_t>(a.batch) * a.heads * p.tiles * p.topk * 4);
  BlockSparseAttentionParams b;
  b.attn = a;
  b.tiling = BlockSparseTiling::kRows64Keys64;
  b.schedule.q_blocks = b.schedule.kv_blocks = p.tiles;
  l.total = l.main_loop_offset + block_sparse_attention_sm90_workspace_bytes(b);
  return l;
}

__device__ __forceinline__ float bf16_at(const uint16_t* p) { return bf16_bits_to_f32(*p); }

// Per-tile means of q, k, v -> [batch, heads, tiles, head_dim] bf16. grid (tiles, heads, batch),
// block head_dim threads (one channel each). Rows are loaded kMeanBatch at a time ahead of the
// adds (the load latency overlaps), and added in row order, as vsa::tile_mean does.
constexpr int kMeanBatch = 8;
__global__ void video_sparse_tile_means_kernel(const FlashAttentionParams a, const int32_t* __restrict__ tile_start,
                                               int tiles, uint16_t* __restrict__ qc, uint16_t* __restrict__ kc,
                                               uint16_t* __restrict__ vc) {
  const int tile = blockIdx.x, head = blockIdx.y, batch = blockIdx.z, c = threadIdx.x;
  const int first = tile_start[tile], rows = tile_start[tile + 1] - first;
  const uint16_t* q = a.q + batch * a.q_batch_stride + static_cast<int64_t>(first) * a.q_token_stride + head * a.head_dim + c;
  const uint16_t* k = a.k + batch * a.kv_batch_stride + static_cast<int64_t>(first) * a.kv_token_stride + head * a.head_dim + c;
  const uint16_t* v = a.v + batch * a.kv_batch_stride + static_cast<int64_t>(first) * a.kv_token_stride + head * a.head_dim + c;
  float sq = 0.0f, sk = 0.0f, sv = 0.0f;
  for (int r0 = 0; r0 < rows; r0 += kMeanBatch) {
    float bq[kMeanBatch], bk[kMeanBatch], bv[kMeanBatch];
#pragma unroll
    for (int i = 0; i < kMeanBatch; ++i) {
      const bool valid = r0 + i < rows;
      bq[i] = valid ? bf16_at(q + (r0 + i) * a.q_token_stride) : 0.0f;
      bk[i] = valid ? bf16_at(k + (r0 + i) * a.kv_token_stride) : 0.0f;
      bv[i] = valid ? bf16_at(v + (r0 + i) * a.kv_token_stride) : 0.0f;
    }
#pragma unroll
    for (int i = 0; i < kMeanBatch; ++i) {
      if (r0 + i >= rows) break;
      sq = portable::add(sq, bq[i]);
      sk = portable::add(sk, bk[i]);
      sv = portable::add(sv, bv[i]);
    }
  }
  const int64_t out = ((static_cast<int64_t>(batch) * a.heads + head) * tiles + tile) * a.head_dim + c;
  qc[out] = f32_to_bf16_bits(vsa::tile_mean_from_sum(sq, rows));
  kc[out] = f32_to_bf16_bits(vsa::tile_mean_from_sum(sk, rows));
  vc[out] = f32_to_bf16_bits(vsa::tile_mean_from_sum(sv, rows));
}

// Warp-level reductions in a fixed order (xor tree over the lanes): deterministic.
__device__ __forceinline__ float warp_max(float x) {
  for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
  return x;
}
__device__ __forceinline__ float warp_sum(float x) {
  for (int o = 16; o > 0; o >>= 1) x = __fadd_rn(x, __shfl_xor_sync(0xffffffffu, x, o));
  return x;
}

// Coarse scores, top-k kv tiles and (with a gate) the coarse output for kSelectRows query tiles
// of one (batch, head): warp w owns query tile row0 + w. grid (ceil(tiles / kSelectRows),
// heads, batch), block kSelectThreads (one warp per query tile).
// 1. Scores: k_c is staged through shared memory kScoreChunk rows at a time (coalesced 16-byte
//    loads, f32 rows padded to head_dim + 1 floats: conflict-free); thread (warp w, lane l)
//    computes the score of query tile w with kv tile chunk + l, channels in order.
// 2. Top-k per warp (warp_select_topk): ties to the lowest indices, kept tiles written ascending.
// dynamic smem: q rows f32 [kSelectRows][kMaxHeadDim], k chunk f32 [kScoreChunk][kMaxHeadDim + 1],
// scores f32 [kSelectRows][tiles].
__global__ void __launch_bounds__(kSelectThreads)
    video_sparse_select_kernel(const uint16_t* __restrict__ qc, const uint16_t* __restrict__ kc,
                               const uint16_t* __restrict__ vc, int heads, int head_dim, int tiles, int topk,
                               float scale, bool coarse_output, int32_t* __restrict__ kv_index,
                               uint16_t* __restrict__ out_c) {
  extern __shared__ float smem_f[];
  float* q_rows = smem_f;                                              // [kSelectRows][kMaxHeadDim]
  float* k_chunk = q_rows + kSelectRows * kMaxHeadDim;                 // [kScoreChunk][kMaxHeadDim + 1]
  float* scores = k_chunk + kScoreChunk * (kMaxHeadDim + 1);           // [kSelectRows][tiles]
  const int head = blockIdx.y, batch = blockIdx.z, row0 = blockIdx.x * kSelectRows;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t bh = static_cast<int64_t>(batch) * heads + head;
  const uint16_t* qc_bh = qc + bh * tiles * head_dim;
  const uint16_t* kc_bh = kc + bh * tiles * head_dim;
  const uint16_t* vc_bh = vc + bh * tiles * head_dim;
  const int rows = min(kSelectRows, tiles - row0);
  for (int i = threadIdx.x; i < kSelectRows * head_dim; i += kSelectThreads) {
    const int r = i / head_dim, c = i % head_dim;
    q_rows[r * kMaxHeadDim + c] = r < rows ? bf16_at(qc_bh + static_cast<int64_t>(row0 + r) * head_dim + c) : 0.0f;
  }
  // 1. Coarse scores (the dot products in channel order, as on the CPU).
  const int vectors_per_row = head_dim / 8;
  for (int chunk = 0; chunk < tiles; chunk += kScoreChunk) {
    __syncthreads();  // q_rows written / the previous chunk consumed
    const int chunk_rows = min(kScoreChunk, tiles - chunk);
    for (int i = threadIdx.x; i < chunk_rows * vectors_per_row; i += kSelectThreads) {
      const int j = i / vectors_per_row, c8 = (i % vectors_per_row) * 8;
      const uint4 raw = *reinterpret_cast<const uint4*>(kc_bh + static_cast<int64_t>(chunk + j) * head_dim + c8);
      const uint16_t* h = reinterpret_cast<const uint16_t*>(&raw);
      for (int e = 0; e < 8; ++e) k_chunk[j * (kMaxHeadDim + 1) + c8 + e] = bf16_bits_to_f32(h[e]);
    }
    __syncthreads();
    if (lane < chunk_rows && warp < rows) {
      const float* q = q_rows + warp * kMaxHeadDim;
      const float* k = k_chunk + lane * (kMaxHeadDim + 1);
      float dot = 0.0f;
      for (int c = 0; c < head_dim; ++c) dot = vsa::coarse_dot_step(dot, q[c], k[c]);
      scores[warp * tiles + chunk + lane] = vsa::coarse_score_from_dot(dot, scale);
    }
  }
  __syncwarp();
  if (warp >= rows) return;
  float* s = scores + warp * tiles;  // this warp's row; lane l holds tiles l, l + 32, ...
  // 2. Top-k (common/warp_topk.cuh): ties to the lowest indices, written ascending.
  auto key_at = [&](int j) { return vsa::score_key(s[j]); };
  warp_select_topk(key_at, tiles, topk, kv_index + (bh * tiles + row0 + warp) * topk);
  if (!coarse_output) return;
  // 3. Coarse output: fp32 softmax over tiles rounded to bf16 (the row replaced by P), then
  // out_c = bf16(sum_j P_j v_c[j]) with fp32 accumulation in tile order.
  float m = -INFINITY;
  for (int j = lane; j < tiles; j += 32) m = fmaxf(m, s[j]);
  m = warp_max(m);
  float l = 0.0f;
  for (int j = lane; j < tiles; j += 32) {
    s[j] = exp2f(__fmul_rn(__fsub_rn(s[j], m), portable::kLog2eF));
    l = __fadd_rn(l, s[j]);
  }
  l = warp_sum(l);
  for (int j = lane; j < tiles; j += 32) s[j] = round_to_bf16(__fdiv_rn(s[j], l));
  __syncwarp();
  for (int c = lane; c < head_dim; c += 32) {
    float acc = 0.0f;
    for (int j = 0; j < tiles; ++j) acc = __fadd_rn(acc, __fmul_rn(s[j], bf16_at(vc_bh + static_cast<int64_t>(j) * head_dim + c)));
    out_c[(bh * tiles + row0 + warp) * head_dim + c] = f32_to_bf16_bits(acc);
  }
}

// out = bf16(bf16(out_c * gate) + out_fine), in place. grid (tiles, heads, batch), block head_dim.
__global__ void video_sparse_combine_kernel(const VideoSparseAttentionParams p, const uint16_t* __restrict__ out_c) {
  const FlashAttentionParams& a = p.attn;
  const int tile = blockIdx.x, head = blockIdx.y, batch = blockIdx.z, c = threadIdx.x;
  const float coarse =
      bf16_at(out_c + ((static_cast<int64_t>(batch) * a.heads + head) * p.tiles + tile) * a.head_dim + c);
  for (int t = p.tile_start[tile]; t < p.tile_start[tile + 1]; ++t) {
    const float g = bf16_at(p.gate + batch * p.gate_batch_stride + static_cast<int64_t>(t) * p.gate_token_stride +
                            head * a.head_dim + c);
    uint16_t* o = a.out + batch * a.out_batch_stride + static_cast<int64_t>(t) * a.out_token_stride + head * a.head_dim + c;
    *o = f32_to_bf16_bits(__fadd_rn(round_to_bf16(__fmul_rn(coarse, g)), bf16_at(o)));
  }
}

BlockSparseAttentionParams fine_params(const VideoSparseAttentionParams& p, const int32_t* kv_index) {
  BlockSparseAttentionParams b;
  b.attn = p.attn;
  b.tiling = BlockSparseTiling::kRows64Keys64;
  b.schedule.q_blocks = b.schedule.kv_blocks = p.tiles;
  b.schedule.q_block_start = b.schedule.kv_block_start = p.tile_start;
  b.schedule.kv_index = kv_index;
  b.schedule.kv_count = p.topk;
  return b;
}

size_t select_smem_bytes(int tiles) {
  return (kSelectRows * kMaxHeadDim + kScoreChunk * (kMaxHeadDim + 1) + kSelectRows * tiles) * sizeof(float);
}

}  // namespace

size_t video_sparse_attention_workspace_bytes(const VideoSparseAttentionParams& p) { return layout_of(p).total; }

const int32_t* video_sparse_selected_tiles(const VideoSparseAttentionParams& p, const void* workspace) {
  return reinterpret_cast<const int32_t*>(static_cast<const char*>(workspace) + layout_of(p).kv_index_offset);
}

std::string video_sparse_attention_unsupported_reason(const VideoSparseAttentionParams& p) {
  if (p.attn.q_tokens != p.attn.kv_tokens) return "video-sparse attention is self-attention (q_tokens == kv_tokens)";
  if (p.tiles < 1 || !p.tile_start) return "video-sparse attention needs a tile layout";
  if (p.topk < 1 || p.topk > p.tiles) return "top-k must be in [1, tiles]";
  if (select_smem_bytes(p.tiles) > 200 * 1024)
    return "the selection kernel holds " + std::to_string(p.tiles) + " tiles x " + std::to_string(kSelectRows) +
           " rows of scores in shared memory; at most ~5,700 tiles are supported";
  if (p.gate && (p.gate_token_stride % 8 || reinterpret_cast<uintptr_t>(p.gate) % 16))
    return "the gate must have 16-byte aligned rows";
  return block_sparse_attention_sm90_unsupported_reason(fine_params(p, reinterpret_cast<const int32_t*>(256)));
}

std::string video_sparse_attention_kernels(const VideoSparseAttentionParams& p) {
  return std::string("video_sparse_tile_means + video_sparse_select (coarse scores, top-k") +
         (p.gate ? ", coarse output" : "") + ") + " +
         block_sparse_attention_sm90_name(fine_params(p, reinterpret_cast<const int32_t*>(256))) +
         (p.gate ? " + video_sparse_combine" : "");
}

void launch_video_sparse_attention(const VideoSparseAttentionParams& p, void* workspace, cudaStream_t stream) {
  const FlashAttentionParams& a = p.attn;
  const WorkspaceLayout l = layout_of(p);
  char* ws = static_cast<char*>(workspace);
  uint16_t* qc = reinterpret_cast<uint16_t*>(ws);
  uint16_t* kc = reinterpret_cast<uint16_t*>(ws + l.means_bytes);
  uint16_t* vc = reinterpret_cast<uint16_t*>(ws + 2 * l.means_bytes);
  uint16_t* out_c = reinterpret_cast<uint16_t*>(ws + 3 * l.means_bytes);
  int32_t* kv_index = reinterpret_cast<int32_t*>(ws + l.kv_index_offset);
  const dim3 tile_grid(p.tiles, a.heads, a.batch);
  video_sparse_tile_means_kernel<<<tile_grid, a.head_dim, 0, stream>>>(a, p.tile_start, p.tiles, qc, kc, vc);
  WAN_CUDA_CHECK_LAUNCH();
  static const bool configured = [] {
    WAN_CUDA_CHECK(cudaFuncSetAttribute(video_sparse_select_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        200 * 1024));
    return true;
  }();
  (void)configured;
  const dim3 select_grid((p.tiles + kSelectRows - 1) / kSelectRows, a.heads, a.batch);
  video_sparse_select_kernel<<<select_grid, kSelectThreads, select_smem_bytes(p.tiles), stream>>>(
      qc, kc, vc, a.heads, a.head_dim, p.tiles, p.topk, a.scale, p.gate != nullptr, kv_index, out_c);
  WAN_CUDA_CHECK_LAUNCH();
  launch_block_sparse_attention_sm90(fine_params(p, kv_index), ws + l.main_loop_offset, stream);
  if (p.gate) {
    video_sparse_combine_kernel<<<tile_grid, a.head_dim, 0, stream>>>(p, out_c);
    WAN_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace wan
