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
constexpr int kMaxTiles = 4096;  // selection sort capacity (shared memory)

size_t align256(size_t x) { return (x + 255) / 256 * 256; }

struct Layout {
  size_t k_bar, q_bar, kept, source, selected, selected_count, q_kept, out_kept, kv_index, kv_len, main_loop, total;
};

int64_t bh_count(const BsaAttentionParams& p) { return static_cast<int64_t>(p.attn.batch) * p.attn.heads; }
int64_t kept_rows(const BsaAttentionParams& p) { return static_cast<int64_t>(bsa_query_blocks(p)) * 64; }

BlockSparseAttentionParams main_loop_params(const BsaAttentionParams& p, const uint16_t* q_kept, uint16_t* out_kept) {
  const FlashAttentionParams& a = p.attn;
  BlockSparseAttentionParams b;
  b.attn = a;
  b.attn.q = q_kept;
  b.attn.out = out_kept;
  b.attn.q_tokens = static_cast<int>(kept_rows(p));
  b.attn.q_token_stride = b.attn.out_token_stride = static_cast<int64_t>(a.heads) * a.head_dim;
  b.attn.q_batch_stride = b.attn.out_batch_stride = kept_rows(p) * b.attn.q_token_stride;
  b.tiling = BlockSparseTiling::kRows64Keys64;
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
  l.k_bar = take(bh * t * d * 4);
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

// k_bar [batch, heads, tiles, head_dim] f32 (bf16 values). grid (tiles, heads, batch), block head_dim.
__global__ void bsa_key_means_kernel(const FlashAttentionParams a, const int32_t* __restrict__ tile_start, int tiles,
                                     float* __restrict__ k_bar) {
  const int tile = blockIdx.x, head = blockIdx.y, batch = blockIdx.z, c = threadIdx.x;
  const int first = tile_start[tile], rows = tile_start[tile + 1] - first;
  const uint16_t* k = a.k + batch * a.kv_batch_stride + static_cast<int64_t>(first) * a.kv_token_stride + head * a.head_dim + c;
  float sum = 0.0f;
  for (int r = 0; r < rows; ++r) sum = portable::add(sum, bf16_at(k + r * a.kv_token_stride));
  k_bar[((static_cast<int64_t>(batch) * a.heads + head) * tiles + tile) * a.head_dim + c] = vsa::tile_mean_from_sum(sum, rows);
}

// Query pruning. grid (tiles, heads, batch), block 64 (thread r: row r of the tile).
__global__ void bsa_prune_kernel(const BsaAttentionParams p, const int slot, const int64_t rows_kept,
                                 float* __restrict__ q_bar,
                                 int32_t* __restrict__ kept_out, int32_t* __restrict__ source, uint16_t* __restrict__ q_kept) {
  const FlashAttentionParams& a = p.attn;
  const int tile = blockIdx.x, head = blockIdx.y, batch = blockIdx.z, r = threadIdx.x, d = a.head_dim;
  const int first = p.tile_start[tile], n = p.tile_start[tile + 1] - first;
  const int64_t bh = static_cast<int64_t>(batch) * a.heads + head;
  __shared__ float center[kMaxHeadDim];
  __shared__ float sims[64];
  __shared__ int kept_pos[64];
  __shared__ int kept_flag[64];
  const uint16_t* q = a.q + batch * a.q_batch_stride + static_cast<int64_t>(first) * a.q_token_stride + head * d;
  for (int c = r; c < d; c += 64) center[c] = bf16_at(q + static_cast<int64_t>(n / 2) * a.q_token_stride + c);
  __syncthreads();
  float cc = 0.0f;
  for (int c = 0; c < d; ++c) cc = portable::add(cc, portable::mul(center[c], center[c]));
  if (r < n) {
    float dot = 0.0f, qq = 0.0f;
    const uint16_t* row = q + static_cast<int64_t>(r) * a.q_token_stride;
    for (int c = 0; c < d; ++c) {
      const float x = bf16_at(row + c);
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
  const int per_block = 64 / slot;
  const int64_t slot_row = static_cast<int64_t>(tile / per_block) * 64 + (tile % per_block) * slot;
  const int64_t kept_stride = static_cast<int64_t>(a.heads) * d;
  if (r < slot) {
    uint4* dst = reinterpret_cast<uint4*>(q_kept + (static_cast<int64_t>(batch) * rows_kept + slot_row + r) * kept_stride + head * d);
    const uint4* src = reinterpret_cast<const uint4*>(q + static_cast<int64_t>(r < keep ? kept_pos[r] : 0) * a.q_token_stride);
    for (int c = 0; c < d / 8; ++c) dst[c] = r < keep ? src[c] : make_uint4(0, 0, 0, 0);
  }
  // q_bar: mean of the kept rows, in kept order.
  for (int c = r; c < d; c += 64) {
    float sum = 0.0f;
    for (int s = 0; s < keep; ++s) sum = portable::add(sum, bf16_at(q + static_cast<int64_t>(kept_pos[s]) * a.q_token_stride + c));
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

// kv-tile selection. grid (tiles, heads, batch), block kSelectThreads.
__global__ void __launch_bounds__(kSelectThreads) bsa_select_kernel(const BsaAttentionParams p, const float* __restrict__ q_bar,
                                                                    const float* __restrict__ k_bar, int capacity,
                                                                    int32_t* __restrict__ selected, int32_t* __restrict__ selected_count) {
  const FlashAttentionParams& a = p.attn;
  const int tile = blockIdx.x, head = blockIdx.y, batch = blockIdx.z, tid = threadIdx.x, d = a.head_dim, nt = p.tiles;
  const int64_t bh = static_cast<int64_t>(batch) * a.heads + head;
  extern __shared__ uint32_t smem[];
  float* probs = reinterpret_cast<float*>(smem);  // [capacity]
  uint32_t* keys = smem + capacity;                // [capacity] (mass_key << 16) | (0xffff - index)
  __shared__ float qb[kMaxHeadDim];
  __shared__ float shared_max, shared_sum;
  __shared__ int shared_count;
  for (int c = tid; c < d; c += kSelectThreads) qb[c] = q_bar[(bh * nt + tile) * d + c];
  __syncthreads();
  const float sqrt_d = bsa::sqrt_f32(static_cast<float>(d));
  const float* kb = k_bar + bh * nt * d;
  for (int j = tid; j < nt; j += kSelectThreads) {
    float dot = 0.0f;
    for (int c = 0; c < d; ++c) dot = portable::add(dot, portable::mul(qb[c], kb[static_cast<int64_t>(j) * d + c]));
    probs[j] = bsa::block_score(dot, sqrt_d);
  }
  __syncthreads();
  if (tid == 0) {  // max (exact in any order) and the sum in tile order, as the CPU reference
    float m = probs[0];
    for (int j = 1; j < nt; ++j) m = fmaxf(m, probs[j]);
    shared_max = m;
  }
  __syncthreads();
  for (int j = tid; j < nt; j += kSelectThreads) probs[j] = bsa::softmax_numerator(probs[j], shared_max);
  __syncthreads();
  if (tid == 0) {
    float sum = 0.0f;
    for (int j = 0; j < nt; ++j) sum = portable::add(sum, probs[j]);
    shared_sum = sum;
  }
  __syncthreads();
  for (int j = tid; j < capacity; j += kSelectThreads) {
    if (j < nt) {
      probs[j] = round_to_bf16(portable::div(probs[j], shared_sum));
      keys[j] = (bsa::mass_key(probs[j]) << 16) | static_cast<uint32_t>(0xffff - j);
    } else {
      keys[j] = 0;  // below every tile
    }
  }
  __syncthreads();
  // Bitonic sort, descending: keys are distinct, so the order is fully determined.
  for (int size = 2; size <= capacity; size <<= 1) {
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
      for (int i = tid; i < capacity / 2; i += kSelectThreads) {
        const int lo = 2 * i - (i & (stride - 1)), hi = lo + stride;
        const bool descending = (lo & size) == 0;
        const uint32_t x = keys[lo], y = keys[hi];
        if ((x < y) == descending) {
          keys[lo] = y;
          keys[hi] = x;
        }
      }
      __syncthreads();
    }
  }
  if (tid == 0) {
    int count = nt;
    if (p.threshold < 1.0f) {
      float running = 0.0f;
      count = 0;
      while (count < nt && (count == 0 || running < p.threshold)) {
        running = portable::add(running, probs[0xffff - static_cast<int>(keys[count] & 0xffffu)]);
        ++count;
      }
      count = max(count, min(p.min_tiles, nt));
    }
    shared_count = count;
  }
  __syncthreads();
  const int count = shared_count;
  // Flags of the kept tiles (reusing probs as int flags), then ascending compaction.
  int* flag = reinterpret_cast<int*>(probs);
  for (int j = tid; j < nt; j += kSelectThreads) flag[j] = 0;
  __syncthreads();
  for (int r = tid; r < count; r += kSelectThreads) flag[0xffff - static_cast<int>(keys[r] & 0xffffu)] = 1;
  __syncthreads();
  if (tid == 0) {
    int32_t* out = selected + (bh * nt + tile) * nt;
    int n = 0;
    for (int j = 0; j < nt; ++j)
      if (flag[j]) out[n++] = j;
    selected_count[bh * nt + tile] = n;
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
  const int per_block = 64 / slot, warps_per_tile = slot / 16;
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
  if (r >= n) return;
  const int64_t bh = static_cast<int64_t>(batch) * a.heads + head;
  const int per_block = 64 / slot;
  const int64_t slot_row = static_cast<int64_t>(tile / per_block) * 64 + (tile % per_block) * slot;
  const int s = source[bh * a.q_tokens + first + r];
  const uint4* src = reinterpret_cast<const uint4*>(
      out_kept + ((static_cast<int64_t>(batch) * rows_kept + slot_row + s) * a.heads + head) * d);
  uint4* dst = reinterpret_cast<uint4*>(a.out + batch * a.out_batch_stride + static_cast<int64_t>(first + r) * a.out_token_stride + head * d);
  for (int c = 0; c < d / 8; ++c) dst[c] = src[c];
}

int select_capacity(int tiles) {
  int c = 2;
  while (c < tiles) c <<= 1;
  return c;
}

}  // namespace

int bsa_slot_rows(const BsaAttentionParams& p) { return p.max_keep <= 16 ? 16 : p.max_keep <= 32 ? 32 : 64; }
int bsa_query_blocks(const BsaAttentionParams& p) {
  const int per_block = 64 / bsa_slot_rows(p);
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
  float* k_bar = reinterpret_cast<float*>(w + l.k_bar);
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
  const int capacity = select_capacity(p.tiles);
  const size_t select_smem = static_cast<size_t>(capacity) * 8;
  static const bool configured = [] {
    WAN_CUDA_CHECK(cudaFuncSetAttribute(bsa_select_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kMaxTiles * 8));
    return true;
  }();
  (void)configured;
  bsa_select_kernel<<<per_tile, kSelectThreads, select_smem, stream>>>(p, q_bar, k_bar, capacity, selected,
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
