#include "kernels/attention/sla/sla_attention.h"

#include <cstdint>
#include <utility>

#include "kernels/attention/block_sparse/block_sparse_attention_sm90.h"
#include "kernels/attention/common/attention_device.cuh"
#include "kernels/attention/common/warp_topk.cuh"
#include "kernels/attention/video_sparse/video_sparse_numerics.h"
#include "kernels/common/cuda_check.h"
#include "kernels/common/float16.h"
#include "kernels/common/portable_math.h"

namespace wan {
namespace {

constexpr int kMaxHeadDim = 128;
constexpr int kLoadBatch = 8;     // rows loaded ahead of their (ordered) adds
constexpr int kSelectRows = 8;    // query blocks per CTA of the selection kernel, one warp each
constexpr int kSelectThreads = kSelectRows * 32;
constexpr int kScoreChunk = 32;   // key-block means staged in shared memory at a time (one per lane)
constexpr int kLinearChunk = 512;  // tokens per partial sum of phi(k)^T v (768 CTAs at 12 x 32,760: 2.9 waves, not 1.45)
constexpr int kLinearRows = 64;     // tokens staged per step (partial sums) / per CTA (output)
constexpr int kLinearThreads = 256;  // 8 warps

size_t align256(size_t x) { return (x + 255) / 256 * 256; }
int ceil_div(int a, int b) { return (a + b - 1) / b; }
int linear_chunks(const SparseLinearAttentionParams& p) { return ceil_div(p.attn.kv_tokens, kLinearChunk); }

BlockSparseAttentionParams main_loop_params(const SparseLinearAttentionParams& p, const int32_t* lists) {
  BlockSparseAttentionParams b;
  b.attn = p.attn;
  b.tiling = BlockSparseTiling::kRows128Keys64;
  b.schedule.q_blocks = sla_query_blocks(p);
  b.schedule.kv_blocks = sla_key_blocks(p);
  b.schedule.kv_index = lists;
  b.schedule.kv_count = p.topk;
  return b;
}

struct WorkspaceLayout {
  size_t block_sums, key_mean, q_means, k_means, lists, main_loop, kv_partial, ks_partial, kv, ks, total;
};
WorkspaceLayout layout_of(const SparseLinearAttentionParams& p) {
  const size_t bh = static_cast<size_t>(p.attn.batch) * p.attn.heads, d = p.attn.head_dim;
  const size_t qb = sla_query_blocks(p), kb = sla_key_blocks(p), chunks = linear_chunks(p);
  WorkspaceLayout l;
  size_t off = 0;
  auto take = [&](size_t bytes) {
    const size_t at = off;
    off += align256(bytes);
    return at;
  };
  l.block_sums = take(bh * kb * d * 4);
  l.key_mean = take(bh * d * 4);
  l.q_means = take(bh * qb * d * 4);
  l.k_means = take(bh * kb * d * 4);
  l.lists = take(bh * qb * static_cast<size_t>(p.topk) * 4);
  l.main_loop = take(block_sparse_attention_sm90_workspace_bytes(main_loop_params(p, nullptr)));
  // The linear branch's buffers are reserved with or without proj_l: the size never depends on
  // whether a checkpoint has the weight.
  l.kv_partial = take(bh * chunks * d * d * 4);
  l.ks_partial = take(bh * chunks * d * 4);
  l.kv = take(bh * d * d * 2);
  l.ks = take(bh * d * 4);
  l.total = off;
  return l;
}

__device__ __forceinline__ float bf16_at(const uint16_t* p) { return bf16_bits_to_f32(*p); }

// Warp-level reductions in a fixed order (xor tree over the lanes): deterministic.
__device__ __forceinline__ float warp_max(float x) {
  for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
  return x;
}
__device__ __forceinline__ float warp_sum(float x) {
  for (int o = 16; o > 0; o >>= 1) x = __fadd_rn(x, __shfl_xor_sync(0xffffffffu, x, o));
  return x;
}

// Sum of `rows` values x(0..rows-1) in row order (sla::sum_step), loads kBatch ahead.
template <int kBatch = kLoadBatch, typename Load>
__device__ __forceinline__ float ordered_sum(Load load, int rows) {
  float s = 0.0f;
  for (int r0 = 0; r0 < rows; r0 += kBatch) {
    float x[kBatch];
#pragma unroll
    for (int i = 0; i < kBatch; ++i) x[i] = r0 + i < rows ? load(r0 + i) : 0.0f;
#pragma unroll
    for (int i = 0; i < kBatch; ++i)
      if (r0 + i < rows) s = sla::sum_step(s, x[i]);
  }
  return s;
}

// 1a. S_j[c]: k summed over key block j's rows. grid (key_blocks, heads, batch), block head_dim.
__global__ void sla_key_block_sums_kernel(const FlashAttentionParams a, int key_blocks, float* __restrict__ block_sums) {
  const int j = blockIdx.x, head = blockIdx.y, batch = blockIdx.z, c = threadIdx.x;
  const int first = j * sla::kBlockK, rows = min(sla::kBlockK, a.kv_tokens - first);
  const uint16_t* k = a.k + batch * a.kv_batch_stride + static_cast<int64_t>(first) * a.kv_token_stride +
                      head * a.head_dim + c;
  const float s = ordered_sum([&](int r) { return bf16_at(k + static_cast<int64_t>(r) * a.kv_token_stride); }, rows);
  block_sums[((static_cast<int64_t>(batch) * a.heads + head) * key_blocks + j) * a.head_dim + c] = s;
}

// 1b. The smooth-k mean m[c] = bf16(sum over blocks of S_j[c] / tokens). grid (heads, batch).
__global__ void sla_key_mean_kernel(const float* __restrict__ block_sums, int key_blocks, int heads, int head_dim,
                                    int tokens, float* __restrict__ key_mean) {
  const int64_t bh = static_cast<int64_t>(blockIdx.y) * heads + blockIdx.x;
  const int c = threadIdx.x;
  const float* s = block_sums + bh * key_blocks * head_dim + c;
  // One CTA per (batch, head) walks every key block: 32 loads in flight per step (latency-bound).
  const float total = ordered_sum<32>([&](int j) { return s[static_cast<int64_t>(j) * head_dim]; }, key_blocks);
  key_mean[bh * head_dim + c] = sla::mean_from_sum(total, tokens, true);
}

// 1c. Pooled means: blockIdx.x < key_blocks: km_j = bf16(mean of bf16(k - m)) over key block j;
// else qm_i = bf16(mean of q) over query block i = blockIdx.x - key_blocks.
// grid (key_blocks + query_blocks, heads, batch), block head_dim.
__global__ void sla_pooled_means_kernel(const FlashAttentionParams a, int key_blocks, int query_blocks,
                                        const float* __restrict__ key_mean, float* __restrict__ q_means,
                                        float* __restrict__ k_means) {
  const int head = blockIdx.y, batch = blockIdx.z, c = threadIdx.x;
  const int64_t bh = static_cast<int64_t>(batch) * a.heads + head;
  const bool is_key = static_cast<int>(blockIdx.x) < key_blocks;
  const int block = is_key ? blockIdx.x : blockIdx.x - key_blocks;
  const int size = is_key ? sla::kBlockK : sla::kBlockQ;
  const int first = block * size, rows = min(size, (is_key ? a.kv_tokens : a.q_tokens) - first);
  const int64_t stride = is_key ? a.kv_token_stride : a.q_token_stride;
  const uint16_t* x = (is_key ? a.k + batch * a.kv_batch_stride : a.q + batch * a.q_batch_stride) +
                      static_cast<int64_t>(first) * stride + head * a.head_dim + c;
  const float mean = is_key ? key_mean[bh * a.head_dim + c] : 0.0f;
  const float s = ordered_sum(
      [&](int r) {
        const float v = bf16_at(x + static_cast<int64_t>(r) * stride);
        return is_key ? sla::smooth_key(v, mean, true) : v;
      },
      rows);
  float* out = is_key ? k_means + (bh * key_blocks + block) * a.head_dim : q_means + (bh * query_blocks + block) * a.head_dim;
  out[c] = sla::mean_from_sum(s, rows, true);
}

// 1d. Pooled scores and top-k key blocks for kSelectRows query blocks of one (batch, head): warp
// w owns query block row0 + w. Key-block means are staged kScoreChunk at a time (rows padded to
// kMaxHeadDim + 1 floats: conflict-free); lane l scores key block chunk + l, channels in order.
// grid (ceil(query_blocks / kSelectRows), heads, batch), block kSelectThreads.
// dynamic smem: q rows [kSelectRows][kMaxHeadDim], key chunk [kScoreChunk][kMaxHeadDim + 1],
// scores [kSelectRows][key_blocks], all f32.
__global__ void __launch_bounds__(kSelectThreads)
    sla_select_kernel(const float* __restrict__ q_means, const float* __restrict__ k_means, int heads, int head_dim,
                      int query_blocks, int key_blocks, int topk, int32_t* __restrict__ lists) {
  extern __shared__ float smem_f[];
  float* q_rows = smem_f;
  float* k_chunk = q_rows + kSelectRows * kMaxHeadDim;
  float* scores = k_chunk + kScoreChunk * (kMaxHeadDim + 1);
  const int head = blockIdx.y, batch = blockIdx.z, row0 = blockIdx.x * kSelectRows;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t bh = static_cast<int64_t>(batch) * heads + head;
  const float* qm = q_means + bh * query_blocks * head_dim;
  const float* km = k_means + bh * key_blocks * head_dim;
  const int rows = min(kSelectRows, query_blocks - row0);
  for (int i = threadIdx.x; i < kSelectRows * head_dim; i += kSelectThreads) {
    const int r = i / head_dim, c = i % head_dim;
    q_rows[r * kMaxHeadDim + c] = r < rows ? qm[static_cast<int64_t>(row0 + r) * head_dim + c] : 0.0f;
  }
  for (int chunk = 0; chunk < key_blocks; chunk += kScoreChunk) {
    __syncthreads();  // q_rows written / the previous chunk consumed
    const int chunk_rows = min(kScoreChunk, key_blocks - chunk);
    for (int i = threadIdx.x; i < chunk_rows * head_dim; i += kSelectThreads) {
      const int j = i / head_dim, c = i % head_dim;
      k_chunk[j * (kMaxHeadDim + 1) + c] = km[static_cast<int64_t>(chunk + j) * head_dim + c];
    }
    __syncthreads();
    if (lane < chunk_rows && warp < rows) {
      const float* q = q_rows + warp * kMaxHeadDim;
      const float* k = k_chunk + lane * (kMaxHeadDim + 1);
      float dot = 0.0f;
      for (int c = 0; c < head_dim; ++c) dot = sla::score_step(dot, q[c], k[c]);
      scores[warp * key_blocks + chunk + lane] = sla::score_from_dot(dot, true);
    }
  }
  __syncwarp();
  if (warp >= rows) return;
  const float* s = scores + warp * key_blocks;
  warp_select_topk([&](int j) { return vsa::score_key(s[j]); }, key_blocks, topk,
                   lists + (bh * query_blocks + row0 + warp) * topk);
}

// The linear branch's transcendentals as FastVideo's Triton kernel computes them: tl.exp(x) is
// ex2.approx(x * log2 e) and fp32 `/` is div.full.f32 (2 ulp, full range), not the IEEE forms
// (the CPU reference uses portable exp and IEEE division: within its stated bounds).
__device__ __forceinline__ float triton_exp(float x) {
  float y;
  asm("ex2.approx.f32 %0, %1;\n" : "=f"(y) : "f"(__fmul_rn(x, attn::kLog2e)));
  return y;
}
__device__ __forceinline__ float triton_div(float a, float b) {
  float q;
  asm("div.full.f32 %0, %1, %2;\n" : "=f"(q) : "f"(a), "f"(b));
  return q;
}

// phi of rows [0, rows) of x (token stride `stride`), bf16-rounded, handed to store(r, c, value)
// for r < kLinearRows (rows past `rows` are zero). One warp per row (8 warps: rows w, w + 8, ...),
// lane channels lane, lane + 32, ...; the softmax's max and sum are xor-tree reductions (fixed
// order). With `ks` (f32 [D]) also dot[r] = phi(x_r) . ks, the output kernel's denominators.
template <int D, typename Store>
__device__ void stage_phi_rows(const uint16_t* x, int64_t stride, int rows, sla::FeatureMap map, Store store,
                               const float* ks = nullptr, float* dot = nullptr) {
  constexpr int kPerLane = D / 32, kWarps = kLinearThreads / 32, kRowsPerWarp = kLinearRows / kWarps;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  // Every load of this warp's rows in flight at once (one memory latency per call, not per row).
  float loaded[kRowsPerWarp][kPerLane];
#pragma unroll
  for (int k = 0; k < kRowsPerWarp; ++k) {
    const int r = warp + k * kWarps;
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) loaded[k][i] = r < rows ? bf16_at(x + r * stride + lane + 32 * i) : 0.0f;
  }
#pragma unroll
  for (int k = 0; k < kRowsPerWarp; ++k) {
    const int r = warp + k * kWarps;
    float (&v)[kPerLane] = loaded[k];
    if (r < rows) {
      if (map == sla::FeatureMap::kSoftmax) {
        float m = v[0];
#pragma unroll
        for (int i = 1; i < kPerLane; ++i) m = fmaxf(m, v[i]);
        m = warp_max(m);
        float l = 0.0f;
#pragma unroll
        for (int i = 0; i < kPerLane; ++i) l = __fadd_rn(l, v[i] = triton_exp(__fsub_rn(v[i], m)));
        l = warp_sum(l);
#pragma unroll
        for (int i = 0; i < kPerLane; ++i) v[i] = round_to_bf16(triton_div(v[i], l));
      } else if (map == sla::FeatureMap::kElu) {
#pragma unroll
        for (int i = 0; i < kPerLane; ++i) v[i] = round_to_bf16(v[i] > 0.0f ? __fadd_rn(v[i], 1.0f) : triton_exp(v[i]));
      } else {
#pragma unroll
        for (int i = 0; i < kPerLane; ++i) v[i] = round_to_bf16(fmaxf(v[i], 0.0f));
      }
    }
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) store(r, lane + 32 * i, v[i]);
    if (dot) {
      float s = 0.0f;
#pragma unroll
      for (int i = 0; i < kPerLane; ++i) s = __fadd_rn(s, __fmul_rn(v[i], ks[lane + 32 * i]));
      s = warp_sum(s);
      if (lane == 0) dot[r] = s;
    }
  }
}

// bf16 tiles in shared memory with rows padded by 8 elements: the 32-bit fragment loads of the
// 8 rows a quad of lanes reads fall in distinct banks.
__device__ __forceinline__ uint32_t pair_at(const uint16_t* tile, int stride, int row, int col) {
  return *reinterpret_cast<const uint32_t*>(tile + row * stride + col);
}
// mma.sync fragments (attention_device.cuh) of a row-major tile: A rows r0.., k columns k0..;
// B "col" operand stored as [n][k]: n rows n0.., k columns k0...
__device__ __forceinline__ void load_a(uint32_t (&a)[4], const uint16_t* tile, int stride, int r0, int k0) {
  const int g = (threadIdx.x % 32) / 4, q = threadIdx.x % 4;
  a[0] = pair_at(tile, stride, r0 + g, k0 + 2 * q);
  a[1] = pair_at(tile, stride, r0 + g + 8, k0 + 2 * q);
  a[2] = pair_at(tile, stride, r0 + g, k0 + 2 * q + 8);
  a[3] = pair_at(tile, stride, r0 + g + 8, k0 + 2 * q + 8);
}
__device__ __forceinline__ void load_b(uint32_t (&b)[2], const uint16_t* tile, int stride, int n0, int k0) {
  const int g = (threadIdx.x % 32) / 4, q = threadIdx.x % 4;
  b[0] = pair_at(tile, stride, n0 + g, k0 + 2 * q);
  b[1] = pair_at(tile, stride, n0 + g, k0 + 2 * q + 8);
}

// acc[j] += A B over k < D for one warp: A the 16 rows row_base.. of a [rows][D + 8] tile, B stored
// [n][k] ([D][D + 8]), columns col_base + 8 j (j < D / 16).
template <int D>
__device__ __forceinline__ void warp_mma_16_rows(float (&acc)[D / 16][4], const uint16_t* a_tile, const uint16_t* b_tile,
                                                 int row_base, int col_base) {
  constexpr int kS = D + 8;
#pragma unroll
  for (int k0 = 0; k0 < D; k0 += 16) {
    uint32_t af[4];
    load_a(af, a_tile, kS, row_base, k0);
#pragma unroll
    for (int j = 0; j < D / 16; ++j) {
      uint32_t bf[2];
      load_b(bf, b_tile, kS, col_base + 8 * j, k0);
      attn::mma_bf16_16816(acc[j], af, bf[0], bf[1]);
    }
  }
}

// 3a. Partial sums over one chunk of kLinearChunk tokens on the tensor cores (bf16 mma.sync,
// fp32 accumulation): kv[c1][c2] = sum_t phi(k_t)[c1] v_t[c2], written transposed (kv^T[c2][c1],
// the layout the output kernel's B operand reads), and ks[c1] = sum_t phi(k_t)[c1] (tokens in
// order, fp32). Per step kLinearRows tokens are staged transposed, phi(k)^T and v^T
// [D][kLinearRows] bf16, so both operands are k(token)-contiguous. Warp w owns kv rows
// (w % 4) * D/4 .. and columns (w / 4) * D/2 ... grid (chunks, heads, batch), block kLinearThreads.
template <int D>
__global__ void __launch_bounds__(kLinearThreads)
    sla_linear_kv_partial_kernel(const FlashAttentionParams a, sla::FeatureMap map, int chunks,
                                 float* __restrict__ kv_partial, float* __restrict__ ks_partial) {
  constexpr int kS = kLinearRows + 8;                    // row stride of the staged tiles
  constexpr int kMTiles = D / 64, kNTiles = D / 16;      // 16-row and 8-column mma tiles per warp
  __shared__ __align__(16) uint16_t phi_t[D * kS];       // [c1][t]
  __shared__ __align__(16) uint16_t v_t[D * kS];         // [c2][t]
  const int chunk = blockIdx.x, head = blockIdx.y, batch = blockIdx.z;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int row_base = (warp % 4) * (D / 4), col_base = (warp / 4) * (D / 2);
  const int64_t bh = static_cast<int64_t>(batch) * a.heads + head;
  const int first = chunk * kLinearChunk, last = min(a.kv_tokens, first + kLinearChunk);
  float acc[kMTiles][kNTiles][4];
#pragma unroll
  for (int i = 0; i < kMTiles; ++i)
#pragma unroll
    for (int j = 0; j < kNTiles; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;
  float ks = 0.0f;
  for (int t0 = first; t0 < last; t0 += kLinearRows) {
    const int rows = min(kLinearRows, last - t0);
    __syncthreads();  // the previous rows consumed
    const int64_t row0 = static_cast<int64_t>(t0) * a.kv_token_stride + head * a.head_dim;
    stage_phi_rows<D>(a.k + batch * a.kv_batch_stride + row0, a.kv_token_stride, rows, map,
                      [&](int r, int c, float x) { phi_t[c * kS + r] = f32_to_bf16_bits(x); });
    {  // v^T: 16-byte loads (all in flight), then the transposed stores
      constexpr int kVectors = D / 8, kPerThread = kLinearRows * kVectors / kLinearThreads;
      uint4 raw[kPerThread];
#pragma unroll
      for (int k = 0; k < kPerThread; ++k) {
        const int i = tid + k * kLinearThreads, r = i / kVectors, c = (i % kVectors) * 8;
        raw[k] = r < rows ? *reinterpret_cast<const uint4*>(a.v + batch * a.kv_batch_stride + row0 +
                                                            r * a.kv_token_stride + c)
                          : make_uint4(0u, 0u, 0u, 0u);
      }
#pragma unroll
      for (int k = 0; k < kPerThread; ++k) {
        const int i = tid + k * kLinearThreads, r = i / kVectors, c = (i % kVectors) * 8;
        const uint32_t w[4] = {raw[k].x, raw[k].y, raw[k].z, raw[k].w};
#pragma unroll
        for (int e = 0; e < 8; ++e) v_t[(c + e) * kS + r] = static_cast<uint16_t>(w[e / 2] >> (16 * (e % 2)));
      }
    }
    __syncthreads();
#pragma unroll
    for (int k0 = 0; k0 < kLinearRows; k0 += 16) {
      uint32_t af[kMTiles][4];
#pragma unroll
      for (int i = 0; i < kMTiles; ++i) load_a(af[i], phi_t, kS, row_base + 16 * i, k0);
#pragma unroll
      for (int j = 0; j < kNTiles; ++j) {
        uint32_t bf[2];
        load_b(bf, v_t, kS, col_base + 8 * j, k0);
#pragma unroll
        for (int i = 0; i < kMTiles; ++i) attn::mma_bf16_16816(acc[i][j], af[i], bf[0], bf[1]);
      }
    }
    if (tid < D)
      for (int r = 0; r < rows; ++r) ks = __fadd_rn(ks, bf16_bits_to_f32(phi_t[tid * kS + r]));
  }
  float* out = kv_partial + (bh * chunks + chunk) * D * D;
  const int g = lane / 4, q = lane % 4;
#pragma unroll
  for (int i = 0; i < kMTiles; ++i)
#pragma unroll
    for (int j = 0; j < kNTiles; ++j) {
      const int r = row_base + 16 * i + g, c = col_base + 8 * j + 2 * q;  // kv[r][c], stored as kv^T[c][r]
      out[c * D + r] = acc[i][j][0];
      out[(c + 1) * D + r] = acc[i][j][1];
      out[c * D + r + 8] = acc[i][j][2];
      out[(c + 1) * D + r + 8] = acc[i][j][3];
    }
  if (tid < D) ks_partial[(bh * chunks + chunk) * D + tid] = ks;
}

// 3b. kv^T = bf16(sum of the chunks' partials, in chunk order), ks = the same sum in f32.
// grid (ceil(head_dim^2 / 256), heads * batch), block 256: one element per thread.
__global__ void sla_linear_kv_reduce_kernel(const float* __restrict__ kv_partial, const float* __restrict__ ks_partial,
                                            int chunks, int head_dim, uint16_t* __restrict__ kv, float* __restrict__ ks) {
  const int64_t bh = blockIdx.y;
  const int e = blockIdx.x * blockDim.x + threadIdx.x, dd = head_dim * head_dim;
  if (e < dd) {
    const float* src = kv_partial + bh * chunks * dd + e;
    const float s = ordered_sum([&](int c) { return src[static_cast<int64_t>(c) * dd]; }, chunks);
    kv[bh * dd + e] = f32_to_bf16_bits(s);
  }
  if (e < head_dim) {
    const float* src = ks_partial + bh * chunks * head_dim + e;
    ks[bh * head_dim + e] = ordered_sum([&](int c) { return src[static_cast<int64_t>(c) * head_dim]; }, chunks);
  }
}

// 3c. The linear branch's output, added in place, on the tensor cores (bf16 mma.sync, fp32
// accumulation), for kOutRows tokens of one (batch, head) in blocks of kLinearRows (kv^T and W
// staged once per CTA):
//   o_l = bf16(bf16(phi(q) kv) / (phi(q) . ks + 1e-5)),  out = bf16(out + bf16(o_l W^T + b)).
// Warp w owns token rows (w % 4) * 16 .. + 16 of a block and channels (w / 4) * D/2 ... grid
// (ceil(tokens / kOutRows), heads, batch), block kLinearThreads. dynamic smem (bf16, rows padded
// by 8): phi(q) [kLinearRows][D], reused for o_l; kv^T [c2][c1]; W [out][in]; then f32
// denominators [kLinearRows].
constexpr int kOutRows = kLinearRows;  // 4 * kLinearRows (kv^T and W staged once for 4 blocks) measured 3% slower on an H200
template <int D>
__global__ void __launch_bounds__(kLinearThreads)
    sla_linear_out_kernel(const SparseLinearAttentionParams p, const uint16_t* __restrict__ kv_t_global,
                          const float* __restrict__ ks) {
  constexpr int kS = D + 8, kNTiles = D / 16, kVectors = D / 8;
  extern __shared__ __align__(16) uint16_t smem_u16[];
  uint16_t* rows_s = smem_u16;                 // phi(q), then o_l: [r][c]
  uint16_t* kv_t = rows_s + kLinearRows * kS;  // [c2][c1]
  uint16_t* w_s = kv_t + D * kS;               // [out][in]
  float* den = reinterpret_cast<float*>(w_s + D * kS);
  const FlashAttentionParams& a = p.attn;
  const int head = blockIdx.y, batch = blockIdx.z;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, q = lane % 4;
  const int row_base = (warp % 4) * 16, col_base = (warp / 4) * (D / 2);
  const int64_t bh = static_cast<int64_t>(batch) * a.heads + head;
  for (int i = tid; i < D * kVectors; i += kLinearThreads) {  // 16-byte rows pieces, both [row][col], async
    const int r = i / kVectors, c = (i % kVectors) * 8;
    attn::cp_async_16(kv_t + r * kS + c, kv_t_global + bh * D * D + r * D + c, true);
    attn::cp_async_16(w_s + r * kS + c, p.proj_weight + r * D + c, true);
  }
  attn::cp_async_commit();
  float bias[kNTiles][2];
#pragma unroll
  for (int j = 0; j < kNTiles; ++j) {
    const int c = col_base + 8 * j + 2 * q;
    bias[j][0] = p.proj_bias ? bf16_at(p.proj_bias + c) : 0.0f;
    bias[j][1] = p.proj_bias ? bf16_at(p.proj_bias + c + 1) : 0.0f;
  }
  for (int t0 = blockIdx.x * kOutRows; t0 < min(a.q_tokens, (blockIdx.x + 1) * kOutRows); t0 += kLinearRows) {
    const int rows = min(kLinearRows, a.q_tokens - t0);
    __syncthreads();  // the previous block's o_l consumed
    stage_phi_rows<D>(a.q + batch * a.q_batch_stride + static_cast<int64_t>(t0) * a.q_token_stride + head * a.head_dim,
                      a.q_token_stride, rows, p.feature_map,
                      [&](int r, int c, float x) { rows_s[r * kS + c] = f32_to_bf16_bits(x); }, ks + bh * D, den);
    attn::cp_async_wait_all();  // kv^T and W (a no-op after the first block)
    __syncthreads();
    float acc[kNTiles][4];
#pragma unroll
    for (int j = 0; j < kNTiles; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[j][e] = 0.0f;
    warp_mma_16_rows<D>(acc, rows_s, kv_t, row_base, col_base);
    __syncthreads();  // every warp done reading phi(q)
    const float den_lo = __fadd_rn(den[row_base + g], 1e-5f), den_hi = __fadd_rn(den[row_base + g + 8], 1e-5f);
    auto o_l = [](float num, float d) { return f32_to_bf16_bits(triton_div(round_to_bf16(num), d)); };
#pragma unroll
    for (int j = 0; j < kNTiles; ++j) {
      const int c = col_base + 8 * j + 2 * q;
      rows_s[(row_base + g) * kS + c] = o_l(acc[j][0], den_lo);
      rows_s[(row_base + g) * kS + c + 1] = o_l(acc[j][1], den_lo);
      rows_s[(row_base + g + 8) * kS + c] = o_l(acc[j][2], den_hi);
      rows_s[(row_base + g + 8) * kS + c + 1] = o_l(acc[j][3], den_hi);
    }
    __syncthreads();
#pragma unroll
    for (int j = 0; j < kNTiles; ++j) {
      acc[j][0] = acc[j][2] = bias[j][0];
      acc[j][1] = acc[j][3] = bias[j][1];
    }
    warp_mma_16_rows<D>(acc, rows_s, w_s, row_base, col_base);
    // out += bf16(o_l W^T + b): every (bf16 pair) load first, then the stores.
    uint32_t prev[2][kNTiles];
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int r = row_base + g + 8 * half;
      const uint16_t* o =
          a.out + batch * a.out_batch_stride + static_cast<int64_t>(t0 + r) * a.out_token_stride + head * a.head_dim;
#pragma unroll
      for (int j = 0; j < kNTiles; ++j)
        prev[half][j] = r < rows ? *reinterpret_cast<const uint32_t*>(o + col_base + 8 * j + 2 * q) : 0u;
    }
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int r = row_base + g + 8 * half;
      if (r >= rows) continue;
      uint16_t* o =
          a.out + batch * a.out_batch_stride + static_cast<int64_t>(t0 + r) * a.out_token_stride + head * a.head_dim;
#pragma unroll
      for (int j = 0; j < kNTiles; ++j) {
        const float lo = __fadd_rn(bf16_bits_to_f32(static_cast<uint16_t>(prev[half][j])), round_to_bf16(acc[j][2 * half]));
        const float hi =
            __fadd_rn(bf16_bits_to_f32(static_cast<uint16_t>(prev[half][j] >> 16)), round_to_bf16(acc[j][2 * half + 1]));
        *reinterpret_cast<uint32_t*>(o + col_base + 8 * j + 2 * q) =
            static_cast<uint32_t>(f32_to_bf16_bits(lo)) | (static_cast<uint32_t>(f32_to_bf16_bits(hi)) << 16);
      }
    }
  }
}

size_t select_smem_bytes(int key_blocks) {
  return (kSelectRows * kMaxHeadDim + kScoreChunk * (kMaxHeadDim + 1) + static_cast<size_t>(kSelectRows) * key_blocks) *
         sizeof(float);
}
size_t out_smem_bytes(int d) {
  return (static_cast<size_t>(kLinearRows) + 2 * d) * (d + 8) * sizeof(uint16_t) + kLinearRows * sizeof(float);
}

template <int D>
void launch_linear_branch(const SparseLinearAttentionParams& p, const WorkspaceLayout& l, char* ws, cudaStream_t stream) {
  static const bool configured = [] {
    WAN_CUDA_CHECK(cudaFuncSetAttribute(sla_linear_out_kernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        static_cast<int>(out_smem_bytes(D))));
    return true;
  }();
  (void)configured;
  const FlashAttentionParams& a = p.attn;
  const int chunks = linear_chunks(p);
  float* kv_partial = reinterpret_cast<float*>(ws + l.kv_partial);
  float* ks_partial = reinterpret_cast<float*>(ws + l.ks_partial);
  uint16_t* kv = reinterpret_cast<uint16_t*>(ws + l.kv);
  float* ks = reinterpret_cast<float*>(ws + l.ks);
  sla_linear_kv_partial_kernel<D><<<dim3(chunks, a.heads, a.batch), kLinearThreads, 0, stream>>>(
      a, p.feature_map, chunks, kv_partial, ks_partial);
  WAN_CUDA_CHECK_LAUNCH();
  sla_linear_kv_reduce_kernel<<<dim3(ceil_div(D * D, 256), a.heads * a.batch), 256, 0, stream>>>(
      kv_partial, ks_partial, chunks, D, kv, ks);
  WAN_CUDA_CHECK_LAUNCH();
  sla_linear_out_kernel<D><<<dim3(ceil_div(a.q_tokens, kOutRows), a.heads, a.batch), kLinearThreads,
                             out_smem_bytes(D), stream>>>(p, kv, ks);
  WAN_CUDA_CHECK_LAUNCH();
}

const char* feature_map_name(sla::FeatureMap m) {
  return m == sla::FeatureMap::kSoftmax ? "softmax" : m == sla::FeatureMap::kElu ? "elu" : "relu";
}

}  // namespace

int sla_query_blocks(const SparseLinearAttentionParams& p) { return ceil_div(p.attn.q_tokens, sla::kBlockQ); }
int sla_key_blocks(const SparseLinearAttentionParams& p) { return ceil_div(p.attn.kv_tokens, sla::kBlockK); }

size_t sla_attention_workspace_bytes(const SparseLinearAttentionParams& p) { return layout_of(p).total; }

const int32_t* sla_selected_blocks(const SparseLinearAttentionParams& p, const void* workspace) {
  return reinterpret_cast<const int32_t*>(static_cast<const char*>(workspace) + layout_of(p).lists);
}

std::string sla_attention_unsupported_reason(const SparseLinearAttentionParams& p) {
  const FlashAttentionParams& a = p.attn;
  if (a.q_tokens != a.kv_tokens) return "sparse-linear attention is self-attention (q_tokens == kv_tokens)";
  if (a.q_tokens < 1) return "sparse-linear attention needs at least one token";
  if (a.head_dim != 64 && a.head_dim != 128) return "head_dim must be 64 or 128";
  if (p.topk < 1 || p.topk > sla_key_blocks(p)) return "top-k must be in [1, key blocks]";
  if (reinterpret_cast<uintptr_t>(p.proj_weight) % 16) return "the proj_l weight must be 16-byte aligned";
  // The linear branch reads q, k and v after the main loop has written out: they must not overlap.
  const auto span = [&](const uint16_t* base, int64_t batch_stride, int64_t token_stride, int tokens) {
    const auto lo = reinterpret_cast<uintptr_t>(base);
    return std::make_pair(lo, lo + 2 * static_cast<uintptr_t>((a.batch - 1) * batch_stride +
                                                              static_cast<int64_t>(tokens - 1) * token_stride +
                                                              static_cast<int64_t>(a.heads) * a.head_dim));
  };
  const auto out = span(a.out, a.out_batch_stride, a.out_token_stride, a.q_tokens);
  for (const auto& in : {span(a.q, a.q_batch_stride, a.q_token_stride, a.q_tokens),
                         span(a.k, a.kv_batch_stride, a.kv_token_stride, a.kv_tokens),
                         span(a.v, a.kv_batch_stride, a.kv_token_stride, a.kv_tokens)})
    if (p.proj_weight && in.first < out.second && out.first < in.second)
      return "out must not overlap q, k or v (the linear branch reads them after the sparse branch wrote out)";
  if (select_smem_bytes(sla_key_blocks(p)) > 200 * 1024)
    return "the selection kernel holds " + std::to_string(sla_key_blocks(p)) + " key blocks x " +
           std::to_string(kSelectRows) + " rows of scores in shared memory; at most 5,756 key blocks (368,384 tokens)";
  return block_sparse_attention_sm90_unsupported_reason(main_loop_params(p, reinterpret_cast<const int32_t*>(256)));
}

std::string sla_attention_kernels(const SparseLinearAttentionParams& p) {
  std::string s = "sla_key_block_sums + sla_key_mean + sla_pooled_means + sla_select (top-" + std::to_string(p.topk) +
                  " of " + std::to_string(sla_key_blocks(p)) + " key blocks) + " +
                  block_sparse_attention_sm90_name(main_loop_params(p, reinterpret_cast<const int32_t*>(256)));
  if (p.proj_weight)
    s += std::string(" + sla_linear_kv_partial + sla_linear_kv_reduce + sla_linear_out (phi ") +
         feature_map_name(p.feature_map) + ")";
  else
    s += " (no proj_l: linear branch zero)";
  return s;
}

void launch_sla_attention(const SparseLinearAttentionParams& p, void* workspace, cudaStream_t stream) {
  const FlashAttentionParams& a = p.attn;
  const WorkspaceLayout l = layout_of(p);
  char* ws = static_cast<char*>(workspace);
  float* block_sums = reinterpret_cast<float*>(ws + l.block_sums);
  float* key_mean = reinterpret_cast<float*>(ws + l.key_mean);
  float* q_means = reinterpret_cast<float*>(ws + l.q_means);
  float* k_means = reinterpret_cast<float*>(ws + l.k_means);
  int32_t* lists = reinterpret_cast<int32_t*>(ws + l.lists);
  const int qb = sla_query_blocks(p), kb = sla_key_blocks(p);
  sla_key_block_sums_kernel<<<dim3(kb, a.heads, a.batch), a.head_dim, 0, stream>>>(a, kb, block_sums);
  WAN_CUDA_CHECK_LAUNCH();
  sla_key_mean_kernel<<<dim3(a.heads, a.batch), a.head_dim, 0, stream>>>(block_sums, kb, a.heads, a.head_dim,
                                                                          a.kv_tokens, key_mean);
  WAN_CUDA_CHECK_LAUNCH();
  sla_pooled_means_kernel<<<dim3(kb + qb, a.heads, a.batch), a.head_dim, 0, stream>>>(a, kb, qb, key_mean, q_means,
                                                                                       k_means);
  WAN_CUDA_CHECK_LAUNCH();
  static const bool configured = [] {
    WAN_CUDA_CHECK(cudaFuncSetAttribute(sla_select_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 200 * 1024));
    return true;
  }();
  (void)configured;
  sla_select_kernel<<<dim3(ceil_div(qb, kSelectRows), a.heads, a.batch), kSelectThreads, select_smem_bytes(kb),
                      stream>>>(q_means, k_means, a.heads, a.head_dim, qb, kb, p.topk, lists);
  WAN_CUDA_CHECK_LAUNCH();
  launch_block_sparse_attention_sm90(main_loop_params(p, lists), ws + l.main_loop, stream);
  if (!p.proj_weight) return;
  if (a.head_dim == 64)
    launch_linear_branch<64>(p, l, ws, stream);
  else
    launch_linear_branch<128>(p, l, ws, stream);
}

}  // namespace wan
