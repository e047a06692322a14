#include "kernels/attention/bsa/bsa_attention.h"

#include "kernels/attention/block_sparse/block_sparse_attention_sm90.h"
#include "kernels/attention/bsa/bsa_numerics.h"
#include "kernels/attention/video_sparse/video_sparse_numerics.h"
#include "kernels/common/cuda_check.h"
#include "kernels/common/float16.h"
#include "kernels/common/portable_math.h"

namespace wan {
namespace {

constexpr int kMaxHeadDim = 128;
constexpr int kSelectThreads = 256;
constexpr int kSelectTiles = 4;  // query tiles per selection CTA
constexpr int kMaxTiles = 4096;  // selection sort capacity (shared memory)

size_t align256(size_t x) { return (x + 255) / 256 * 256; }

struct Layout {
  size_t k_bar, q_bar, kept, source, selected, selected_count, q_kept, out_kept, kv_index, kv_len, main_loop, total;
};

int64_t bh_count(const BsaAttentionParams& p) { return static_cast<int64_t>(p.attn.batch) * p.attn.heads; }
int64_t kept_rows(const BsaAttentionParams& p) { return static_cast<int64_t>(bsa_query_blocks(p)) * p.block_rows; }

BlockSparseAttentionParams main_loop_params(const BsaAttentionParams& p, const uint16_t* q_kept, uint16_t* out_kept) {
  const FlashAttentionParams& a = p.attn;
  BlockSparseAttentionParams b;
  b.attn = a;
  b.attn.q = q_kept;
  b.attn.out = out_kept;
  b.attn.q_tokens = static_cast<int>(kept_rows(p));
  b.attn.q_token_stride = b.attn.out_token_stride = static_cast<int64_t>(a.heads) * a.head_dim;
  b.attn.q_batch_stride = b.attn.out_batch_stride = kept_rows(p) * b.attn.q_token_stride;
  b.tiling = p.block_rows == 128 ? BlockSparseTiling::kRows128Keys64 : BlockSparseTiling::kRows64Keys64;
  b.schedule.q_blocks = bsa_query_blocks(p);
  b.schedule.kv_blocks = p.tiles;
  b.schedule.kv_block_start = p.tile_start;
  b.schedule.kv_count = p.tiles;
  return b;
}

Layout layout_of(const BsaAttentionParams& p) {
  const FlashAttentionParams& a = p.attn;
  const int64_t bh = bh_count(p), t = p.tiles, d = a.head_dim;
  Layout l;
  size_t off = 0;
  auto take = [&](size_t bytes) {
    const size_t at = off;
    off += align256(bytes);
    return at;
  };
  l.k_bar = take(bh * t * d * 2);
  l.q_bar = take(bh * t * d * 4);
  l.kept = take(bh * t * 64 * 4);
  l.source = take(static_cast<size_t>(bh) * a.q_tokens * 4);
  l.selected = take(bh * t * t * 4);
  l.selected_count = take(bh * t * 4);
  l.q_kept = take(static_cast<size_t>(a.batch) * kept_rows(p) * a.heads * d * 2);
  l.out_kept = take(static_cast<size_t>(a.batch) * kept_rows(p) * a.heads * d * 2);
  l.kv_index = take(static_cast<size_t>(bh) * bsa_query_blocks(p) * t * 4);
  l.kv_len = take(static_cast<size_t>(bh) * bsa_query_blocks(p) * 4);
  l.main_loop = off;
  l.total = off + block_sparse_attention_sm90_workspace_bytes(main_loop_params(p, nullptr, nullptr));
  return l;
}

__device__ __forceinline__ float bf16_at(const uint16_t* p) { return bf16_bits_to_f32(*p); }

// k_bar, channel-major [batch, heads, head_dim, tiles] bf16: the selection kernel's threads
// (one kv tile each) then read it coalesced. grid (tiles, heads, batch), block head_dim.
__global__ void bsa_key_means_kernel(const FlashAttentionParams a, const int32_t* __restrict__ tile_start, int tiles,
                                     uint16_t* __restrict__ k_bar) {
  const int tile = blockIdx.x, head = blockIdx.y, batch = blockIdx.z, c = threadIdx.x;
  const int first = tile_start[tile], rows = tile_start[tile + 1] - first;
  const uint16_t* k = a.k + batch * a.kv_batch_stride + static_cast<int64_t>(first) * a.kv_token_stride + head * a.head_dim + c;
  float sum = 0.0f;
  for (int r = 0; r < rows; ++r) sum = portable::add(sum, bf16_at(k + r * a.kv_token_stride));
  k_bar[((static_cast<int64_t>(batch) * a.heads + head) * a.head_dim + c) * tiles + tile] =
      f32_to_bf16_bits(vsa::tile_mean_from_sum(sum, rows));
}

// Query pruning. grid (tiles, heads, batch), block 64 (thread r: row r of the tile).
__global__ void bsa_prune_kernel(const BsaAttentionParams p, const int slot, const int64_t rows_kept,
                                 float* __restrict__ q_bar,
                                 int32_t* __restrict__ kept_out, int32_t* __restrict__ source, uint16_t* __restrict__ q_kept) {
  const FlashAttentionParams& a = p.attn;
  const int tile = blockIdx.x, head = blockIdx.y, batch = blockIdx.z, r = threadIdx.x, d = a.head_dim;
  const int first = p.tile_start[tile], n = p.tile_start[tile + 1] - first;
  const int64_t bh = static_cast<int64_t>(batch) * a.heads + head;
  constexpr int kRowStride = kMaxHeadDim + 1;  // floats; odd: rows fall in different banks
  __shared__ float rows[64 * kRowStride];
  __shared__ float sims[64];
  __shared__ int kept_pos[64];
  __shared__ int kept_flag[64];
  const uint16_t* q = a.q + batch * a.q_batch_stride + static_cast<int64_t>(first) * a.q_token_stride + head * d;
  const int chunks = d / 8;  // 16-byte chunks per row
  for (int i = r; i < n * chunks; i += 64) {  // coalesced: consecutive threads, consecutive chunks
    const int row = i / chunks, c8 = (i % chunks) * 8;
    const uint4 raw = *reinterpret_cast<const uint4*>(q + static_cast<int64_t>(row) * a.q_token_stride + c8);
    const uint16_t* h = reinterpret_cast<const uint16_t*>(&raw);
    for (int e = 0; e < 8; ++e) rows[row * kRowStride + c8 + e] = bf16_bits_to_f32(h[e]);
  }
  __syncthreads();
  const float* center = rows + (n / 2) * kRowStride;
  float cc = 0.0f;
  for (int c = 0; c < d; ++c) cc = portable::add(cc, portable::mul(center[c], center[c]));
  if (r < n) {
    float dot = 0.0f, qq = 0.0f;
    const float* row = rows + r * kRowStride;
    for (int c = 0; c < d; ++c) {
      const float x = row[c];
      dot = portable::add(dot, portable::mul(x, center[c]));
      qq = portable::add(qq, portable::mul(x, x));
    }
    sims[r] = bsa::cosine_from_sums(dot, qq, cc);
  }
  __syncthreads();
  const int keep = bsa::keep_count(n, p.keep_ratio);
  if (r < n) {
    int rank = 0;
    for (int o = 0; o < n; ++o) rank += bsa::keeps_before(sims[o], o, sims[r], r) ? 1 : 0;
    kept_flag[r] = rank < keep;
  } else {
    kept_flag[r] = 0;
  }
  __syncthreads();
  int slot_r = 0;
  for (int o = 0; o < r; ++o) slot_r += kept_flag[o];
  if (kept_flag[r]) kept_pos[slot_r] = r;
  __syncthreads();
  int32_t* kept_list = kept_out + (bh * p.tiles + tile) * 64;
  if (r < keep) kept_list[r] = kept_pos[r];
  // Gather the kept rows into the tile's slot of its query block; zero the slot's other rows.
  const int per_block = p.block_rows / slot;
  const int64_t slot_row = static_cast<int64_t>(tile / per_block) * p.block_rows + (tile % per_block) * slot;
  const int64_t kept_stride = static_cast<int64_t>(a.heads) * d;
  for (int i = r; i < slot * chunks; i += 64) {  // 16-byte chunks, consecutive threads along a row
    const int s = i / chunks, c = i % chunks;
    uint4* dst = reinterpret_cast<uint4*>(q_kept + (static_cast<int64_t>(batch) * rows_kept + slot_row + s) * kept_stride + head * d);
    dst[c] = s < keep ? reinterpret_cast<const uint4*>(q + static_cast<int64_t>(kept_pos[s]) * a.q_token_stride)[c]
                      : make_uint4(0, 0, 0, 0);
  }
  // q_bar: mean of the kept rows, in kept order.
  for (int c = r; c < d; c += 64) {
    float sum = 0.0f;
    for (int s = 0; s < keep; ++s) sum = portable::add(sum, rows[kept_pos[s] * kRowStride + c]);
    q_bar[(bh * p.tiles + tile) * d + c] = vsa::tile_mean_from_sum(sum, keep);
  }
  // The nearest kept slot of every row (ties to the lower position).
  if (r < n) {
    int best = 0;
    for (int s = 1; s < keep; ++s)
      if (abs(kept_pos[s] - r) < abs(kept_pos[best] - r)) best = s;
    source[bh * a.q_tokens + first + r] = best;
  }
}

// Block-wide exclusive scan of one uint64 per thread (integers: exact in any order).
__device__ __forceinline__ uint64_t block_exclusive_scan(uint64_t x, uint64_t* warp_sums, uint64_t* total) {
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  uint64_t inclusive = x;
  for (int o = 1; o < 32; o <<= 1) {
    const uint64_t y = __shfl_up_sync(0xffffffffu, inclusive, o);
    if (lane >= o) inclusive += y;
  }
  if (lane == 31) warp_sums[warp] = inclusive;
  __syncthreads();
  if (tid == 0) {
    uint64_t run = 0;
    for (int w = 0; w < kSelectThreads / 32; ++w) {
      const uint64_t v = warp_sums[w];
      warp_sums[w] = run;
      run += v;
    }
    *total = run;
  }
  __syncthreads();
  const uint64_t result = warp_sums[warp] + inclusive - x;
  __syncthreads();  // warp_sums is reused by the next scan
  return result;
}

// kv-tile selection for kSelectTiles query tiles of one (batch, head) per CTA (they share the
// k_bar reads). grid (ceil(tiles / kSelectTiles), heads, batch), block kSelectThreads; dynamic
// shared memory: kSelectTiles x capacity f32 scores, capacity uint64 sort keys, capacity int
// flags (capacity: a power of two >= tiles, a multiple of kSelectThreads).
__global__ void __launch_bounds__(kSelectThreads) bsa_select_kernel(const BsaAttentionParams p, const float* __restrict__ q_bar,
                                                                    const uint16_t* __restrict__ k_bar, int capacity,
                                                                    int32_t* __restrict__ selected, int32_t* __restrict__ selected_count) {
  const FlashAttentionParams& a = p.attn;
  const int head = blockIdx.y, batch = blockIdx.z, tid = threadIdx.x, d = a.head_dim, nt = p.tiles;
  const int first_tile = blockIdx.x * kSelectTiles;
  const int64_t bh = static_cast<int64_t>(batch) * a.heads + head;
  extern __shared__ uint64_t dynamic_smem[];
  uint64_t* keys = dynamic_smem;                                   // [capacity]
  int* flag = reinterpret_cast<int*>(keys + capacity);            // [capacity]
  float* all_scores = reinterpret_cast<float*>(flag + capacity);  // [kSelectTiles][capacity]
  __shared__ float qb[kSelectTiles][kMaxHeadDim];
  __shared__ float warp_max[kSelectThreads / 32];
  __shared__ uint64_t warp_sums[kSelectThreads / 32];
  __shared__ uint64_t scan_total;
  for (int i = tid; i < kSelectTiles * d; i += kSelectThreads) {
    const int t = i / d, c = i % d, tile = min(first_tile + t, nt - 1);
    qb[t][c] = q_bar[(bh * nt + tile) * d + c];
  }
  __syncthreads();
  const float sqrt_d = bsa::sqrt_f32(static_cast<float>(d));
  const uint16_t* kb = k_bar + bh * nt * d;  // [head_dim, tiles]
  for (int j = tid; j < nt; j += kSelectThreads) {
    float dot[kSelectTiles] = {};
    for (int c = 0; c < d; ++c) {
      const float kv = bf16_bits_to_f32(kb[static_cast<int64_t>(c) * nt + j]);
#pragma unroll
      for (int t = 0; t < kSelectTiles; ++t) dot[t] = portable::add(dot[t], portable::mul(qb[t][c], kv));
    }
#pragma unroll
    for (int t = 0; t < kSelectTiles; ++t) all_scores[t * capacity + j] = bsa::block_score(dot[t], sqrt_d);
  }
  __syncthreads();
  for (int t = 0; t < kSelectTiles && first_tile + t < nt; ++t) {
    const int tile = first_tile + t;
    const float* scores = all_scores + t * capacity;
    float m = -INFINITY;
    for (int j = tid; j < nt; j += kSelectThreads) m = fmaxf(m, scores[j]);
    for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));  // exact in any order
    if (tid % 32 == 0) warp_max[tid / 32] = m;
    __syncthreads();
    for (int w = 0; w < kSelectThreads / 32; ++w) m = fmaxf(m, warp_max[w]);
    // Numerators and their sort keys (padding: 0, below every tile).
    for (int j = tid; j < capacity; j += kSelectThreads)
      keys[j] = j < nt ? bsa::mass_sort_key(bsa::softmax_numerator(scores[j], m), j) : 0;
    __syncthreads();
    // Bitonic sort, descending: keys are distinct, so the order is fully determined.
    for (int size = 2; size <= capacity; size <<= 1) {
      for (int stride = size >> 1; stride > 0; stride >>= 1) {
        for (int i = tid; i < capacity / 2; i += kSelectThreads) {
          const int lo = 2 * i - (i & (stride - 1)), hi = lo + stride;
          const bool descending = (lo & size) == 0;
          const uint64_t x = keys[lo], y = keys[hi];
          if ((x < y) == descending) {
            keys[lo] = y;
            keys[hi] = x;
          }
        }
        __syncthreads();
      }
    }
    // Exclusive prefix masses in sorted order: each thread owns `per` consecutive ranks.
    const int per = capacity / kSelectThreads, r0 = tid * per;
    uint64_t local = 0;
    for (int i = 0; i < per; ++i) local += r0 + i < nt ? bsa::mass_fixed(bsa::sort_key_value(keys[r0 + i])) : 0;
    uint64_t prefix = block_exclusive_scan(local, warp_sums, &scan_total);
    const uint64_t total = scan_total;
    int kept = 0;
    if (p.threshold < 1.0f) {
      const uint64_t thr16 = bsa::threshold_fixed(p.threshold);
      for (int i = 0; i < per && r0 + i < nt; ++i) {
        kept += bsa::mass_keeps(r0 + i, prefix, total, thr16) ? 1 : 0;  // monotone in the rank
        prefix += bsa::mass_fixed(bsa::sort_key_value(keys[r0 + i]));
      }
    } else {
      for (int i = 0; i < per && r0 + i < nt; ++i) ++kept;
    }
    block_exclusive_scan(static_cast<uint64_t>(kept), warp_sums, &scan_total);
    const int count = max(static_cast<int>(scan_total), min(p.min_tiles, nt));
    // Flags by tile index, then ascending compaction.
    for (int j = tid; j < capacity; j += kSelectThreads) flag[j] = 0;
    __syncthreads();
    for (int r = tid; r < count; r += kSelectThreads) flag[bsa::sort_key_index(keys[r])] = 1;
    __syncthreads();
    // Ascending compaction: each thread owns `per` consecutive tile indices.
    int mine = 0;
    for (int i = 0; i < per; ++i) mine += flag[r0 + i];
    int pos = static_cast<int>(block_exclusive_scan(static_cast<uint64_t>(mine), warp_sums, &scan_total));
    int32_t* out = selected + (bh * nt + tile) * nt;
    for (int i = 0; i < per; ++i)
      if (flag[r0 + i]) out[pos++] = r0 + i;
    if (tid == 0) selected_count[bh * nt + tile] = count;
    __syncthreads();  // keys, flags and warp_max are reused by the next tile
  }
}

// Per 64-row query block: the union of its query tiles' kv tiles with warp masks.
// grid (query blocks, heads, batch), block kSelectThreads; dynamic shared: tiles bytes.
__global__ void bsa_union_kernel(const BsaAttentionParams p, const int slot, const int32_t* __restrict__ selected,
                                 const int32_t* __restrict__ selected_count, int32_t* __restrict__ kv_index,
                                 int32_t* __restrict__ kv_len) {
  const int qb = blockIdx.x, head = blockIdx.y, batch = blockIdx.z, tid = threadIdx.x, nt = p.tiles;
  const int64_t bh = static_cast<int64_t>(batch) * p.attn.heads + head;
  extern __shared__ unsigned char mask[];  // [tiles]
  for (int j = tid; j < nt; j += kSelectThreads) mask[j] = 0;
  __syncthreads();
  const int per_block = p.block_rows / slot, warps_per_tile = slot / 16;
  for (int sub = 0; sub < per_block; ++sub) {  // tile by tile: entries of one tile are distinct
    const int tile = qb * per_block + sub;
    if (tile < nt) {
      const unsigned char bits = static_cast<unsigned char>(((1u << warps_per_tile) - 1) << (sub * warps_per_tile));
      const int32_t* list = selected + (bh * nt + tile) * nt;
      for (int r = tid; r < selected_count[bh * nt + tile]; r += kSelectThreads) mask[list[r]] |= bits;
    }
    __syncthreads();
  }
  if (tid == 0) {
    int32_t* out = kv_index + (bh * gridDim.x + qb) * nt;
    int n = 0;
    for (int j = 0; j < nt; ++j)
      if (mask[j]) out[n++] = static_cast<int32_t>(static_cast<uint32_t>(j) | (static_cast<uint32_t>(mask[j]) << kKvBlockBits));
    kv_len[bh * gridDim.x + qb] = n;
  }
}

// Every row takes its nearest kept row's output. grid (tiles, heads, batch), block 64.
__global__ void bsa_expand_kernel(const BsaAttentionParams p, const int slot, const int64_t rows_kept,
                                  const int32_t* __restrict__ source,
                                  const uint16_t* __restrict__ out_kept) {
  const FlashAttentionParams& a = p.attn;
  const int tile = blockIdx.x, head = blockIdx.y, batch = blockIdx.z, r = threadIdx.x, d = a.head_dim;
  const int first = p.tile_start[tile], n = p.tile_start[tile + 1] - first;
  const int64_t bh = static_cast<int64_t>(batch) * a.heads + head;
  const int per_block = p.block_rows / slot, chunks = d / 8;
  const int64_t slot_row = static_cast<int64_t>(tile / per_block) * p.block_rows + (tile % per_block) * slot;
  for (int i = r; i < n * chunks; i += 64) {  // 16-byte chunks, consecutive threads along a row
    const int row = i / chunks, c = i % chunks;
    const int s = source[bh * a.q_tokens + first + row];
    const uint4* src = reinterpret_cast<const uint4*>(
        out_kept + ((static_cast<int64_t>(batch) * rows_kept + slot_row + s) * a.heads + head) * d);
    uint4* dst = reinterpret_cast<uint4*>(a.out + batch * a.out_batch_stride +
                                          static_cast<int64_t>(first + row) * a.out_token_stride + head * d);
    dst[c] = src[c];
  }
}

int select_capacity(int tiles) {  // a power of two >= tiles and >= the block size
  int c = kSelectThreads;
  while (c < tiles) c <<= 1;
  return c;
}

}  // namespace

int bsa_slot_rows(const BsaAttentionParams& p) { return p.max_keep <= 16 ? 16 : p.max_keep <= 32 ? 32 : 64; }
int bsa_query_blocks(const BsaAttentionParams& p) {
  const int per_block = p.block_rows / bsa_slot_rows(p);
  return (p.tiles + per_block - 1) / per_block;
}

size_t bsa_attention_workspace_bytes(const BsaAttentionParams& p) { return layout_of(p).total; }

BsaSelections bsa_selections(const BsaAttentionParams& p, const void* workspace) {
  const Layout l = layout_of(p);
  const char* w = static_cast<const char*>(workspace);
  return {reinterpret_cast<const int32_t*>(w + l.kept), reinterpret_cast<const int32_t*>(w + l.selected),
          reinterpret_cast<const int32_t*>(w + l.selected_count), reinterpret_cast<const int32_t*>(w + l.source)};
}

std::string bsa_attention_unsupported_reason(const BsaAttentionParams& p) {
  const FlashAttentionParams& a = p.attn;
  if (a.q_tokens != a.kv_tokens) return "block_sparse attention is self-attention (q_tokens == kv_tokens)";
  if (p.tiles < 1 || p.tiles > kMaxTiles)
    return "block_sparse attention serves 1.." + std::to_string(kMaxTiles) + " tiles, not " + std::to_string(p.tiles);
  if (p.max_keep < 1 || p.max_keep > 64) return "max_keep must be in [1, 64]";
  if (!(p.keep_ratio >= 0 && p.keep_ratio <= 1)) return "keep_ratio must be in [0, 1]";
  if (p.min_tiles < 1) return "min_tiles must be >= 1";
  if (p.block_rows != 64 && p.block_rows != 128) return "block_rows must be 64 or 128";
  if (a.q_token_stride % 8 || a.out_token_stride % 8) return "token strides must be multiples of 8 elements";
  BlockSparseAttentionParams b = main_loop_params(p, reinterpret_cast<const uint16_t*>(256), reinterpret_cast<uint16_t*>(256));
  b.schedule.kv_index = b.schedule.kv_list_len = reinterpret_cast<const int32_t*>(256);
  return block_sparse_attention_sm90_unsupported_reason(b);
}

std::string bsa_attention_kernels(const BsaAttentionParams& p) {
  BlockSparseAttentionParams b = main_loop_params(p, nullptr, nullptr);
  b.schedule.kv_index = reinterpret_cast<const int32_t*>(256);
  return "bsa_key_means + bsa_prune (slots of " + std::to_string(bsa_slot_rows(p)) + " rows) + bsa_select + bsa_union + " +
         block_sparse_attention_sm90_name(b) + " + bsa_expand";
}

void launch_bsa_attention(const BsaAttentionParams& p, void* workspace, cudaStream_t stream) {
  const FlashAttentionParams& a = p.attn;
  const Layout l = layout_of(p);
  char* w = static_cast<char*>(workspace);
  uint16_t* k_bar = reinterpret_cast<uint16_t*>(w + l.k_bar);
  float* q_bar = reinterpret_cast<float*>(w + l.q_bar);
  int32_t* kept = reinterpret_cast<int32_t*>(w + l.kept);
  int32_t* source = reinterpret_cast<int32_t*>(w + l.source);
  int32_t* selected = reinterpret_cast<int32_t*>(w + l.selected);
  int32_t* selected_count = reinterpret_cast<int32_t*>(w + l.selected_count);
  uint16_t* q_kept = reinterpret_cast<uint16_t*>(w + l.q_kept);
  uint16_t* out_kept = reinterpret_cast<uint16_t*>(w + l.out_kept);
  int32_t* kv_index = reinterpret_cast<int32_t*>(w + l.kv_index);
  int32_t* kv_len = reinterpret_cast<int32_t*>(w + l.kv_len);
  const int slot = bsa_slot_rows(p), q_blocks = bsa_query_blocks(p);
  const dim3 per_tile(p.tiles, a.heads, a.batch);
  bsa_key_means_kernel<<<per_tile, a.head_dim, 0, stream>>>(a, p.tile_start, p.tiles, k_bar);
  WAN_CUDA_CHECK_LAUNCH();
  bsa_prune_kernel<<<per_tile, 64, 0, stream>>>(p, slot, kept_rows(p), q_bar, kept, source, q_kept);
  WAN_CUDA_CHECK_LAUNCH();
  // The last query block's slots past the last tile (tiles not a multiple of the tiles per block)
  // belong to no tile, but the main loop loads whole query blocks: zero them, so it reads defined
  // rows (their outputs are never used; compute-sanitizer initcheck flagged the read on an H200).
  const int64_t covered = static_cast<int64_t>(p.tiles / (p.block_rows / slot)) * p.block_rows +
                          static_cast<int64_t>(p.tiles % (p.block_rows / slot)) * slot;
  const int64_t row_elems = static_cast<int64_t>(a.heads) * a.head_dim;
  if (covered < kept_rows(p))
    for (int b = 0; b < a.batch; ++b)
      WAN_CUDA_CHECK(cudaMemsetAsync(q_kept + (b * kept_rows(p) + covered) * row_elems, 0,
                                     static_cast<size_t>((kept_rows(p) - covered) * row_elems) * 2, stream));
  const int capacity = select_capacity(p.tiles);
  const size_t select_smem = static_cast<size_t>(capacity) * (12 + 4 * kSelectTiles);  // keys, flags, scores
  static const bool configured = [] {
    WAN_CUDA_CHECK(cudaFuncSetAttribute(bsa_select_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        kMaxTiles * (12 + 4 * kSelectTiles)));
    return true;
  }();
  (void)configured;
  const dim3 select_grid((p.tiles + kSelectTiles - 1) / kSelectTiles, a.heads, a.batch);
  bsa_select_kernel<<<select_grid, kSelectThreads, select_smem, stream>>>(p, q_bar, k_bar, capacity, selected,
                                                                          selected_count);
  WAN_CUDA_CHECK_LAUNCH();
  bsa_union_kernel<<<dim3(q_blocks, a.heads, a.batch), kSelectThreads, p.tiles, stream>>>(p, slot, selected,
                                                                                          selected_count, kv_index, kv_len);
  WAN_CUDA_CHECK_LAUNCH();
  BlockSparseAttentionParams b = main_loop_params(p, q_kept, out_kept);
  b.schedule.kv_index = kv_index;
  b.schedule.kv_list_len = kv_len;
  launch_block_sparse_attention_sm90(b, w + l.main_loop, stream);
  bsa_expand_kernel<<<per_tile, 64, 0, stream>>>(p, slot, kept_rows(p), source, out_kept);
  WAN_CUDA_CHECK_LAUNCH();
}

}  // namespace wan
