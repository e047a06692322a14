#include "kernels/attention/video_sparse/video_sparse_attention.h"

#include <cuda_bf16.h>

#include "kernels/attention/block_sparse/block_sparse_attention_sm90.h"
#include "kernels/attention/video_sparse/video_sparse_numerics.h"
#include "kernels/common/cuda_check.h"
#include "kernels/common/float16.h"
#include "kernels/common/portable_math.h"

namespace wan {
namespace {

constexpr int kSelectThreads = 256;
constexpr int kSelectRows = 4;  // query tiles per CTA of the selection kernel (k_c read once per 4)
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
// block head_dim threads (one channel each; rows read in order).
__global__ void video_sparse_tile_means_kernel(const FlashAttentionParams a, const int32_t* __restrict__ tile_start,
                                               int tiles, uint16_t* __restrict__ qc, uint16_t* __restrict__ kc,
                                               uint16_t* __restrict__ vc) {
  const int tile = blockIdx.x, head = blockIdx.y, batch = blockIdx.z, c = threadIdx.x;
  const int first = tile_start[tile], rows = tile_start[tile + 1] - first;
  const uint16_t* q = a.q + batch * a.q_batch_stride + static_cast<int64_t>(first) * a.q_token_stride + head * a.head_dim + c;
  const uint16_t* k = a.k + batch * a.kv_batch_stride + static_cast<int64_t>(first) * a.kv_token_stride + head * a.head_dim + c;
  const uint16_t* v = a.v + batch * a.kv_batch_stride + static_cast<int64_t>(first) * a.kv_token_stride + head * a.head_dim + c;
  const int64_t out = ((static_cast<int64_t>(batch) * a.heads + head) * tiles + tile) * a.head_dim + c;
  qc[out] = f32_to_bf16_bits(vsa::tile_mean([&](int r) { return bf16_at(q + r * a.q_token_stride); }, rows));
  kc[out] = f32_to_bf16_bits(vsa::tile_mean([&](int r) { return bf16_at(k + r * a.kv_token_stride); }, rows));
  vc[out] = f32_to_bf16_bits(vsa::tile_mean([&](int r) { return bf16_at(v + r * a.kv_token_stride); }, rows));
}

// Block-wide integer sum / exclusive scan and float max / sum over kSelectThreads threads, in a
// fixed order (warp shuffles, then warp totals in order): deterministic.
__device__ int block_sum(int x, int* scratch) {
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  __syncthreads();
  if (threadIdx.x % 32 == 0) scratch[threadIdx.x / 32] = x;
  __syncthreads();
  int total = 0;
  for (int w = 0; w < kSelectThreads / 32; ++w) total += scratch[w];
  return total;
}
__device__ int block_exclusive_scan(int x, int* scratch) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  int inclusive = x;
  for (int o = 1; o < 32; o <<= 1) {
    const int y = __shfl_up_sync(0xffffffffu, inclusive, o);
    if (lane >= o) inclusive += y;
  }
  __syncthreads();
  if (lane == 31) scratch[warp] = inclusive;
  __syncthreads();
  int before = 0;
  for (int w = 0; w < warp; ++w) before += scratch[w];
  return before + inclusive - x;
}
__device__ float block_max(float x, float* scratch) {
  for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
  __syncthreads();
  if (threadIdx.x % 32 == 0) scratch[threadIdx.x / 32] = x;
  __syncthreads();
  float m = scratch[0];
  for (int w = 1; w < kSelectThreads / 32; ++w) m = fmaxf(m, scratch[w]);
  return m;
}
__device__ float block_fsum(float x, float* scratch) {
  for (int o = 16; o > 0; o >>= 1) x = __fadd_rn(x, __shfl_xor_sync(0xffffffffu, x, o));
  __syncthreads();
  if (threadIdx.x % 32 == 0) scratch[threadIdx.x / 32] = x;
  __syncthreads();
  float s = scratch[0];
  for (int w = 1; w < kSelectThreads / 32; ++w) s = __fadd_rn(s, scratch[w]);
  return s;
}

// Coarse scores, top-k kv tiles and (with a gate) the coarse output for kSelectRows query tiles
// of one (batch, head). grid (ceil(tiles / kSelectRows), heads, batch), block kSelectThreads.
// Thread t owns kv tiles [t * per, (t + 1) * per), so index order = thread order.
// dynamic smem: q rows f32 [kSelectRows][head_dim], scores f32 [kSelectRows][tiles], scratch.
__global__ void __launch_bounds__(kSelectThreads)
    video_sparse_select_kernel(const uint16_t* __restrict__ qc, const uint16_t* __restrict__ kc,
                               const uint16_t* __restrict__ vc, int heads, int head_dim, int tiles, int topk,
                               float scale, bool coarse_output, int32_t* __restrict__ kv_index,
                               uint16_t* __restrict__ out_c) {
  extern __shared__ float smem_f[];
  float* q_rows = smem_f;                                   // [kSelectRows][head_dim]
  float* scores = smem_f + kSelectRows * kMaxHeadDim;       // [kSelectRows][tiles]
  int* scratch = reinterpret_cast<int*>(scores + kSelectRows * tiles);  // [32]
  float* fscratch = reinterpret_cast<float*>(scratch + 32);             // [32]
  const int head = blockIdx.y, batch = blockIdx.z, row0 = blockIdx.x * kSelectRows;
  const int64_t bh = static_cast<int64_t>(batch) * heads + head;
  const uint16_t* qc_bh = qc + bh * tiles * head_dim;
  const uint16_t* kc_bh = kc + bh * tiles * head_dim;
  const uint16_t* vc_bh = vc + bh * tiles * head_dim;
  const int rows = min(kSelectRows, tiles - row0);
  for (int i = threadIdx.x; i < kSelectRows * head_dim; i += kSelectThreads) {
    const int r = i / head_dim, c = i % head_dim;
    q_rows[r * kMaxHeadDim + c] = r < rows ? bf16_at(qc_bh + static_cast<int64_t>(row0 + r) * head_dim + c) : 0.0f;
  }
  __syncthreads();
  const int per = (tiles + kSelectThreads - 1) / kSelectThreads;
  const int j0 = min(tiles, threadIdx.x * per), j1 = min(tiles, j0 + per);
  // 1. Coarse scores (the dot products in channel order, as on the CPU).
  for (int j = j0; j < j1; ++j) {
    float dot[kSelectRows] = {};
    const uint16_t* krow = kc_bh + static_cast<int64_t>(j) * head_dim;
    for (int c = 0; c < head_dim; ++c) {
      const float kv = bf16_at(krow + c);
#pragma unroll
      for (int r = 0; r < kSelectRows; ++r) dot[r] = vsa::coarse_dot_step(dot[r], q_rows[r * kMaxHeadDim + c], kv);
    }
#pragma unroll
    for (int r = 0; r < kSelectRows; ++r) scores[r * tiles + j] = vsa::coarse_score_from_dot(dot[r], scale);
  }
  __syncthreads();
  for (int r = 0; r < rows; ++r) {
    const float* s = scores + r * tiles;
    // 2. The threshold key T: the largest with count(key >= T) >= topk (16 bisection steps).
    uint32_t threshold = 0;
    for (int bit = 15; bit >= 0; --bit) {
      const uint32_t candidate = threshold | (1u << bit);
      int n = 0;
      for (int j = j0; j < j1; ++j) n += vsa::score_key(s[j]) >= candidate;
      if (block_sum(n, scratch) >= topk) threshold = candidate;
    }
    int greater = 0, equal = 0;
    for (int j = j0; j < j1; ++j) {
      const uint32_t key = vsa::score_key(s[j]);
      greater += key > threshold;
      equal += key == threshold;
    }
    const int need = topk - block_sum(greater, scratch);  // ties at T: the lowest indices
    int eq_rank = block_exclusive_scan(equal, scratch);
    int selected = 0;
    for (int j = j0; j < j1; ++j) {
      const uint32_t key = vsa::score_key(s[j]);
      selected += key > threshold || (key == threshold && eq_rank++ < need);
    }
    int pos = block_exclusive_scan(selected, scratch);
    eq_rank -= equal;
    int32_t* out_list = kv_index + (bh * tiles + row0 + r) * topk;
    for (int j = j0; j < j1; ++j) {
      const uint32_t key = vsa::score_key(s[j]);
      if (key > threshold || (key == threshold && eq_rank++ < need)) out_list[pos++] = j;
    }
  }
  if (!coarse_output) return;
  // 3. Coarse output: fp32 softmax over tiles rounded to bf16 (scores replaced by P), then
  // out_c = bf16(sum_j P_j v_c[j]) with fp32 accumulation in tile order.
  for (int r = 0; r < rows; ++r) {
    float* s = scores + r * tiles;
    float m = -INFINITY;
    for (int j = j0; j < j1; ++j) m = fmaxf(m, s[j]);
    m = block_max(m, fscratch);
    float l = 0.0f;
    for (int j = j0; j < j1; ++j) {
      s[j] = exp2f(__fmul_rn(__fsub_rn(s[j], m), portable::kLog2eF));
      l = __fadd_rn(l, s[j]);
    }
    l = block_fsum(l, fscratch);
    for (int j = j0; j < j1; ++j) s[j] = round_to_bf16(__fdiv_rn(s[j], l));
  }
  __syncthreads();
  for (int i = threadIdx.x; i < rows * head_dim; i += kSelectThreads) {
    const int r = i / head_dim, c = i % head_dim;
    const float* pr = scores + r * tiles;
    float acc = 0.0f;
    for (int j = 0; j < tiles; ++j) acc = __fadd_rn(acc, __fmul_rn(pr[j], bf16_at(vc_bh + static_cast<int64_t>(j) * head_dim + c)));
    out_c[(bh * tiles + row0 + r) * head_dim + c] = f32_to_bf16_bits(acc);
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

size_t select_smem_bytes(int tiles) { return (kSelectRows * kMaxHeadDim + kSelectRows * tiles + 64) * sizeof(float); }

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
           " rows of scores in shared memory; at most ~12,000 tiles are supported";
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
