#include "kernels/attention/vmoba/vmoba_attention.h"

#include <algorithm>
#include <climits>

#include "kernels/attention/block_sparse/block_sparse_attention_sm90.h"
#include "kernels/common/cuda_check.h"
#include "kernels/common/float16.h"

namespace wan {
namespace {

constexpr int kSlots = kVmobaMaxChunks / 32;  // gates per lane in the selection
constexpr int kGateRows = 64;                 // query positions per gate/selection CTA
constexpr int kGateChunks = 64;               // chunks per gate tile
constexpr int kPad = kGateRows + 1;           // smem row stride of the transposed q and mean tiles
constexpr double kEps = 1e-6;                 // the CPU reference's

// Rows of 8-element (16-byte) pieces: dst row pos <- src row perm[pos] (src_perm), or dst row
// perm[pos] <- src row pos (dst_perm). [batch, tokens, heads * head_dim] with strides.
__global__ void vmoba_permute_rows_kernel(const uint16_t* __restrict__ src, int64_t src_token_stride,
                                          int64_t src_batch_stride, uint16_t* __restrict__ dst,
                                          int64_t dst_token_stride, int64_t dst_batch_stride,
                                          const int32_t* __restrict__ perm, bool perm_on_src, int tokens,
                                          int row_pieces, int batch) {
  const int64_t n = static_cast<int64_t>(batch) * tokens * row_pieces;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int piece = static_cast<int>(i % row_pieces);
    const int64_t bt = i / row_pieces;
    const int pos = static_cast<int>(bt % tokens), b = static_cast<int>(bt / tokens);
    const int from = perm_on_src ? __ldg(perm + pos) : pos, to = perm_on_src ? pos : __ldg(perm + pos);
    const uint4 x = *reinterpret_cast<const uint4*>(src + b * src_batch_stride + from * src_token_stride + piece * 8);
    *reinterpret_cast<uint4*>(dst + b * dst_batch_stride + to * dst_token_stride + piece * 8) = x;
  }
}

// grid (chunks, batch * heads), block head_dim: mean_t[bh][dd][c] = f32(sum_pos k / n), the sum
// in double over the chunk's positions in order (the CPU reference's token order).
__global__ void vmoba_chunk_means_kernel(const uint16_t* __restrict__ k, int64_t token_stride, int64_t batch_stride,
                                         int heads, int head_dim, const int32_t* __restrict__ chunk_start,
                                         int chunks, float* __restrict__ mean_t) {
  const int c = blockIdx.x, bh = blockIdx.y, b = bh / heads, h = bh % heads, dd = threadIdx.x;
  const int first = __ldg(chunk_start + c), last = __ldg(chunk_start + c + 1);
  const uint16_t* src = k + b * batch_stride + static_cast<int64_t>(h) * head_dim + dd;
  double sum = 0.0;
  for (int pos = first; pos < last; ++pos) sum = __dadd_rn(sum, static_cast<double>(bf16_bits_to_f32(src[pos * token_stride])));
  mean_t[(static_cast<int64_t>(bh) * head_dim + dd) * chunks + c] =
      __double2float_rn(__ddiv_rn(sum, static_cast<double>(last - first)));
}

// grid (ceil(tokens / 64), batch * heads), block 256. Gates of 64 query positions against every
// chunk (double, d in order: each product of two floats is exact, so the fused multiply-add
// rounds exactly as the CPU's s += m * q), kept in shared memory as bf16 (the CPU reference
// rounds them to bf16, so nothing is lost), then one warp per position applies the threshold
// rule and writes its row mask. q and the mean tile are staged as doubles (no conversion in
// the inner loop); thread (tq, tc) owns rows tq + 16 i and chunks tc + 16 j of a tile, so a
// warp reads 16 consecutive doubles of the mean tile (no bank conflicts) and broadcasts q.
template <int kHeadDim>
__global__ void __launch_bounds__(256) vmoba_gate_select_kernel(
    const uint16_t* __restrict__ q, int64_t token_stride, int64_t batch_stride, int heads, int tokens,
    const float* __restrict__ mean_t, const int32_t* __restrict__ chunk_of_pos, int chunks, double threshold,
    uint32_t* __restrict__ masks) {
  extern __shared__ double smem[];
  const int chunk_cols = (chunks + kGateChunks - 1) / kGateChunks * kGateChunks;
  double* q_s = smem;                  // [kHeadDim][kPad]: q_s[d * kPad + row]
  double* m_s = q_s + kHeadDim * kPad;  // [kHeadDim][kPad]: m_s[d * kPad + chunk]
  uint16_t* g_s = reinterpret_cast<uint16_t*>(m_s + kHeadDim * kPad);  // [kGateRows][chunk_cols] bf16
  const int bh = blockIdx.y, b = bh / heads, h = bh % heads, pos0 = blockIdx.x * kGateRows, tid = threadIdx.x;
  const uint16_t* qb = q + b * batch_stride + static_cast<int64_t>(h) * kHeadDim;
  for (int i = tid; i < kGateRows * kHeadDim; i += 256) {
    const int row = i / kHeadDim, dd = i % kHeadDim, pos = pos0 + row;
    q_s[dd * kPad + row] = pos < tokens ? static_cast<double>(bf16_bits_to_f32(qb[pos * token_stride + dd])) : 0.0;
  }
  const float* mean = mean_t + static_cast<int64_t>(bh) * kHeadDim * chunks;
  const int tq = tid / 16, tc = tid % 16;
  for (int c0 = 0; c0 < chunks; c0 += kGateChunks) {
    __syncthreads();  // q_s written; the previous tile's m_s reads done
    for (int i = tid; i < kHeadDim * kGateChunks; i += 256) {
      const int dd = i / kGateChunks, cc = i % kGateChunks;
      m_s[dd * kPad + cc] = c0 + cc < chunks ? static_cast<double>(mean[dd * chunks + c0 + cc]) : 0.0;
    }
    __syncthreads();
    double acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j) acc[i][j] = 0.0;
#pragma unroll 4
    for (int dd = 0; dd < kHeadDim; ++dd) {
      double qv[4], mv[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        qv[i] = q_s[dd * kPad + tq + 16 * i];
        mv[i] = m_s[dd * kPad + tc + 16 * i];
      }
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = __fma_rn(mv[j], qv[i], acc[i][j]);
    }
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j)
        g_s[(tq + 16 * i) * chunk_cols + c0 + tc + 16 * j] = f32_to_bf16_bits(__double2float_rn(acc[i][j]));
  }
  __syncthreads();

  const int warp = tid / 32, lane = tid % 32, words = (chunks + 31) / 32;
  for (int row = warp; row < kGateRows; row += 8) {
    const int pos = pos0 + row;
    if (pos >= tokens) break;
    const int self = __ldg(chunk_of_pos + pos);
    double x[kSlots];
    double mn = INFINITY, mx = -INFINITY;
#pragma unroll
    for (int j = 0; j < kSlots; ++j) {
      const int c = j * 32 + lane;
      x[j] = c < chunks ? static_cast<double>(bf16_bits_to_f32(g_s[row * chunk_cols + c])) : 0.0;
      if (c < chunks) {
        mn = fmin(mn, x[j]);
        mx = fmax(mx, x[j]);
      }
    }
#pragma unroll
    for (int o = 16; o > 0; o /= 2) {
      mn = fmin(mn, __shfl_xor_sync(0xffffffffu, mn, o));
      mx = fmax(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    }
    const double range = __dsub_rn(mx, mn) <= kEps ? 1.0 : __dsub_rn(mx, mn);
    // Normalised gates; the total in chunk order, as the CPU sums it.
    double total = 0.0, self_value = 0.0;
#pragma unroll
    for (int j = 0; j < kSlots; ++j) {
      if (j * 32 < chunks) {
        if (j * 32 + lane < chunks) x[j] = __ddiv_rn(__dsub_rn(x[j], mn), range);
        for (int l = 0; l < 32 && j * 32 + l < chunks; ++l) total = __dadd_rn(total, __shfl_sync(0xffffffffu, x[j], l));
        const double at_self = __shfl_sync(0xffffffffu, x[j], self % 32);
        if (j == self / 32) self_value = at_self;
      }
    }
    const double denom = __dadd_rn(total, kEps);
    const double want = __dsub_rn(threshold, __ddiv_rn(self_value, denom));
    const double remain = 0.0 < want ? want : 0.0;
    if (self % 32 == lane) {
#pragma unroll
      for (int j = 0; j < kSlots; ++j)
        if (j == self / 32) x[j] = 0.0;  // others: self zeroed (it may still take a slot in order)
    }
    // Descending order, ties to the lower chunk, up to and including the first whose cumulative
    // share reaches remain (every chunk when none does).
    uint32_t taken = 0;
    if (chunks >= 2) {
      double cum = 0.0;
      for (int it = 0; it < chunks; ++it) {
        double bv = -INFINITY;
        int bc = INT_MAX;
#pragma unroll
        for (int j = 0; j < kSlots; ++j) {
          const int c = j * 32 + lane;
          if (c < chunks && !((taken >> j) & 1u) && x[j] > bv) {
            bv = x[j];
            bc = c;
          }
        }
#pragma unroll
        for (int o = 16; o > 0; o /= 2) {
          const double ov = __shfl_xor_sync(0xffffffffu, bv, o);
          const int oc = __shfl_xor_sync(0xffffffffu, bc, o);
          if (ov > bv || (ov == bv && oc < bc)) {
            bv = ov;
            bc = oc;
          }
        }
        if (bc == INT_MAX) break;  // only NaN gates left
        if (bc % 32 == lane) taken |= 1u << (bc / 32);
        cum = __dadd_rn(cum, bv);
        if (__ddiv_rn(cum, denom) >= remain) break;
      }
    }
    uint32_t my_word = 0;
#pragma unroll
    for (int j = 0; j < kSlots; ++j) {
      const int c = j * 32 + lane;
      const uint32_t word = __ballot_sync(0xffffffffu, c < chunks && (((taken >> j) & 1u) || c == self));
      if (lane == j) my_word = word;
    }
    if (lane < words) masks[(static_cast<int64_t>(bh) * tokens + pos) * words + lane] = my_word;
  }
}

// grid (query blocks, batch * heads), block 128: the union of the block's row masks, expanded to
// its chunks' kv blocks in ascending order (fixed-length lists of kv_blocks entries + lengths).
__global__ void vmoba_union_lists_kernel(const uint32_t* __restrict__ masks, int tokens, int words,
                                         const int32_t* __restrict__ chunk_first_block, int chunks, int kv_blocks,
                                         int32_t* __restrict__ kv_index, int32_t* __restrict__ kv_len) {
  __shared__ uint32_t warp_or[4][kVmobaMaxChunks / 32];
  const int qb = blockIdx.x, bh = blockIdx.y, q_blocks = gridDim.x, tid = threadIdx.x;
  const int pos = qb * kVmobaRowsPerBlock + tid;
  for (int w = 0; w < words; ++w) {
    const uint32_t mine = pos < tokens ? masks[(static_cast<int64_t>(bh) * tokens + pos) * words + w] : 0u;
    const uint32_t any = __reduce_or_sync(0xffffffffu, mine);
    if (tid % 32 == 0) warp_or[tid / 32][w] = any;
  }
  __syncthreads();
  if (tid != 0) return;
  int32_t* list = kv_index + (static_cast<int64_t>(bh) * q_blocks + qb) * kv_blocks;
  int n = 0;
  for (int w = 0; w < words; ++w) {
    uint32_t bits = warp_or[0][w] | warp_or[1][w] | warp_or[2][w] | warp_or[3][w];
    while (bits) {
      const int c = w * 32 + __ffs(bits) - 1;
      bits &= bits - 1;
      if (c >= chunks) break;
      for (int j = __ldg(chunk_first_block + c); j < __ldg(chunk_first_block + c + 1); ++j) list[n++] = j;
    }
  }
  kv_len[static_cast<int64_t>(bh) * q_blocks + qb] = n;
}

size_t align256(size_t x) { return (x + 255) / 256 * 256; }

struct Workspace {
  uint16_t *q = nullptr, *k = nullptr, *v = nullptr, *out = nullptr;  // chunk order (not identity)
  float* mean_t = nullptr;
  uint32_t* masks = nullptr;
  int32_t *kv_index = nullptr, *kv_len = nullptr;
  void* main_loop = nullptr;
  size_t bytes = 0;
};

int query_blocks(const VmobaAttentionParams& p) {
  return (p.attn.q_tokens + kVmobaRowsPerBlock - 1) / kVmobaRowsPerBlock;
}

// The main-loop params over the chunk-ordered (or, identity, the caller's) tensors.
BlockSparseAttentionParams main_loop_params(const VmobaAttentionParams& p, const Workspace& w) {
  const FlashAttentionParams& a = p.attn;
  BlockSparseAttentionParams m;
  m.attn = a;
  if (p.tables.raster_of_pos) {
    m.attn = packed_attention_params(a.batch, a.heads, a.head_dim, a.q_tokens, a.kv_tokens, w.q, w.k, w.v, w.out,
                                     a.scale);
  }
  m.tiling = BlockSparseTiling::kRows128Keys128;
  m.schedule.q_blocks = query_blocks(p);
  m.schedule.kv_blocks = p.tables.kv_blocks;
  m.schedule.kv_block_start = p.tables.kv_block_start;
  m.schedule.kv_index = w.kv_index;
  m.schedule.kv_count = p.tables.kv_blocks;
  m.schedule.kv_list_len = w.kv_len;
  m.row_chunk_mask = w.masks;
  m.kv_block_chunk = p.tables.kv_block_chunk;
  m.mask_words = vmoba_mask_words(p.tables.chunks);
  return m;
}

Workspace carve(const VmobaAttentionParams& p, void* base) {
  const FlashAttentionParams& a = p.attn;
  const size_t bh = static_cast<size_t>(a.batch) * a.heads, tokens = static_cast<size_t>(a.q_tokens);
  const size_t qkv = align256(bh * tokens * a.head_dim * 2);
  char* at = static_cast<char*>(base);
  Workspace w;
  auto take = [&](size_t bytes) {
    char* here = at;
    if (at) at += align256(bytes);
    w.bytes += align256(bytes);
    return here;
  };
  if (p.tables.raster_of_pos) {
    w.q = reinterpret_cast<uint16_t*>(take(qkv));
    w.k = reinterpret_cast<uint16_t*>(take(qkv));
    w.v = reinterpret_cast<uint16_t*>(take(qkv));
    w.out = reinterpret_cast<uint16_t*>(take(qkv));
  }
  const int chunks = std::max(p.tables.chunks, 1), kv_blocks = std::max(p.tables.kv_blocks, 1);
  w.mean_t = reinterpret_cast<float*>(take(bh * a.head_dim * chunks * 4));
  w.masks = reinterpret_cast<uint32_t*>(take(bh * tokens * vmoba_mask_words(chunks) * 4));
  w.kv_index = reinterpret_cast<int32_t*>(take(bh * query_blocks(p) * kv_blocks * 4));
  w.kv_len = reinterpret_cast<int32_t*>(take(bh * query_blocks(p) * 4));
  Workspace probe = w;
  BlockSparseAttentionParams m = main_loop_params(p, probe);
  m.schedule.kv_blocks = kv_blocks;
  w.main_loop = take(block_sparse_attention_sm90_workspace_bytes(m));
  return w;
}

size_t gate_smem_bytes(int head_dim, int chunks) {
  const int chunk_cols = (chunks + kGateChunks - 1) / kGateChunks * kGateChunks;
  return 2 * static_cast<size_t>(head_dim) * kPad * 8 + static_cast<size_t>(kGateRows) * chunk_cols * 2;
}

template <int kHeadDim>
void launch_gate_select(const VmobaAttentionParams& p, const uint16_t* q, int64_t token_stride, int64_t batch_stride,
                        const Workspace& w, cudaStream_t stream) {
  const size_t smem = gate_smem_bytes(kHeadDim, p.tables.chunks);
  static const bool configured = [] {
    WAN_CUDA_CHECK(cudaFuncSetAttribute(vmoba_gate_select_kernel<kHeadDim>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        static_cast<int>(gate_smem_bytes(kHeadDim, kVmobaMaxChunks))));
    return true;
  }();
  (void)configured;
  const dim3 grid((p.attn.q_tokens + kGateRows - 1) / kGateRows, p.attn.batch * p.attn.heads);
  vmoba_gate_select_kernel<kHeadDim><<<grid, 256, smem, stream>>>(q, token_stride, batch_stride, p.attn.heads,
                                                                  p.attn.q_tokens, w.mean_t, p.tables.chunk_of_pos,
                                                                  p.tables.chunks, p.threshold, w.masks);
  WAN_CUDA_CHECK_LAUNCH();
}

void launch_permute(const uint16_t* src, int64_t src_ts, int64_t src_bs, uint16_t* dst, int64_t dst_ts, int64_t dst_bs,
                    const int32_t* perm, bool perm_on_src, const FlashAttentionParams& a, cudaStream_t stream) {
  const int pieces = a.heads * a.head_dim / 8;
  const int64_t n = static_cast<int64_t>(a.batch) * a.q_tokens * pieces;
  const int blocks = static_cast<int>(std::min<int64_t>((n + 255) / 256, 65536));
  vmoba_permute_rows_kernel<<<blocks, 256, 0, stream>>>(src, src_ts, src_bs, dst, dst_ts, dst_bs, perm, perm_on_src,
                                                        a.q_tokens, pieces, a.batch);
  WAN_CUDA_CHECK_LAUNCH();
}

}  // namespace

VmobaLayout vmoba_layout(const cpu::VmobaParams& p) {
  VmobaLayout l;
  l.tokens = p.frames * p.height * p.width;
  int64_t chunks = 0;
  const std::vector<int32_t> chunk_of = cpu::vmoba_chunk_of_tokens(p, &chunks);
  if (chunk_of.empty() || chunks < 1) return l;
  l.chunks = chunks;
  // Positions: chunk after chunk, raster order inside (a stable counting sort).
  l.chunk_start.assign(static_cast<size_t>(chunks + 1), 0);
  for (int32_t c : chunk_of) ++l.chunk_start[c + 1];
  for (int64_t c = 0; c < chunks; ++c) l.chunk_start[c + 1] += l.chunk_start[c];
  std::vector<int32_t> next(l.chunk_start.begin(), l.chunk_start.end() - 1);
  l.raster_of_pos.resize(static_cast<size_t>(l.tokens));
  l.chunk_of_pos.resize(static_cast<size_t>(l.tokens));
  for (int64_t t = 0; t < l.tokens; ++t) {
    const int32_t pos = next[chunk_of[t]]++;
    l.raster_of_pos[pos] = static_cast<int32_t>(t);
    l.chunk_of_pos[pos] = chunk_of[t];
    if (pos != t) l.identity = false;
  }
  l.kv_block_start.push_back(0);
  for (int64_t c = 0; c < chunks; ++c) {
    l.chunk_first_block.push_back(static_cast<int32_t>(l.kv_block_chunk.size()));
    for (int32_t s = l.chunk_start[c]; s < l.chunk_start[c + 1]; s += kVmobaKeysPerBlock) {
      l.kv_block_start.push_back(std::min(s + kVmobaKeysPerBlock, l.chunk_start[c + 1]));
      l.kv_block_chunk.push_back(static_cast<int32_t>(c));
    }
  }
  l.chunk_first_block.push_back(static_cast<int32_t>(l.kv_block_chunk.size()));
  return l;
}

size_t vmoba_tables_bytes(const VmobaLayout& l) {
  return 4 * (2 * l.raster_of_pos.size() + l.chunk_start.size() + l.kv_block_start.size() +
              l.kv_block_chunk.size() + l.chunk_first_block.size());
}

VmobaTables upload_vmoba_tables(const VmobaLayout& l, void* device) {
  VmobaTables t;
  int32_t* at = static_cast<int32_t*>(device);
  auto put = [&](const std::vector<int32_t>& v) {
    WAN_CUDA_CHECK(cudaMemcpy(at, v.data(), v.size() * 4, cudaMemcpyHostToDevice));
    const int32_t* here = at;
    at += v.size();
    return here;
  };
  t.raster_of_pos = put(l.raster_of_pos);
  if (l.identity) t.raster_of_pos = nullptr;
  t.chunk_of_pos = put(l.chunk_of_pos);
  t.chunk_start = put(l.chunk_start);
  t.kv_block_start = put(l.kv_block_start);
  t.kv_block_chunk = put(l.kv_block_chunk);
  t.chunk_first_block = put(l.chunk_first_block);
  t.chunks = static_cast<int>(l.chunks);
  t.kv_blocks = static_cast<int>(l.kv_blocks());
  return t;
}

size_t vmoba_attention_workspace_bytes(const VmobaAttentionParams& p) { return carve(p, nullptr).bytes; }

const uint32_t* vmoba_row_masks(const VmobaAttentionParams& p, const void* workspace) {
  return carve(p, const_cast<void*>(workspace)).masks;
}

std::string vmoba_attention_unsupported_reason(const VmobaAttentionParams& p) {
  const FlashAttentionParams& a = p.attn;
  if (a.head_dim != 64 && a.head_dim != 128) return "head_dim must be 64 or 128, not " + std::to_string(a.head_dim);
  if (a.q_tokens != a.kv_tokens) return "video_moba is self-attention (q and kv tokens equal)";
  if (p.tables.chunks < 1) return "the layer's chunking does not divide the grid";
  if (p.tables.chunks > kVmobaMaxChunks)
    return std::to_string(p.tables.chunks) + " chunks; the CUDA selection serves at most " +
           std::to_string(kVmobaMaxChunks) + " (pick larger chunk sizes)";
  if (!p.tables.chunk_of_pos || !p.tables.chunk_start || !p.tables.kv_block_start || !p.tables.kv_block_chunk ||
      !p.tables.chunk_first_block)
    return "the chunk tables are not on the device (upload_vmoba_tables)";
  if (!(p.threshold >= 0.0 && p.threshold <= 1.0)) return "threshold must be in [0, 1]";
  if (a.batch * static_cast<int64_t>(a.heads) > 65535) return "batch * heads must be at most 65,535";
  if (static_cast<int64_t>(a.batch) * a.heads * a.q_tokens * vmoba_mask_words(p.tables.chunks) > INT32_MAX)
    return "too many tokens for the row masks";
  Workspace probe;
  probe.q = probe.k = probe.v = probe.out = reinterpret_cast<uint16_t*>(256);
  probe.masks = reinterpret_cast<uint32_t*>(256);
  probe.kv_index = probe.kv_len = reinterpret_cast<int32_t*>(256);
  const std::string main_loop = block_sparse_attention_sm90_unsupported_reason(main_loop_params(p, probe));
  if (!main_loop.empty()) return main_loop;
  if (p.tables.raster_of_pos) {  // the gather reads 16-byte pieces of the caller's rows
    for (int64_t s : {a.q_token_stride, a.kv_token_stride, a.out_token_stride, a.q_batch_stride, a.kv_batch_stride,
                      a.out_batch_stride})
      if (s % 8) return "token and batch strides must be multiples of 8 elements";
  }
  return "";
}

std::string vmoba_attention_kernels(const VmobaAttentionParams& p) {
  Workspace probe;
  std::string s = p.tables.raster_of_pos ? "vmoba_permute_rows (gather q, k, v), " : "";
  s += "vmoba_chunk_means, vmoba_gate_select (" + std::to_string(p.tables.chunks) +
       " chunks), vmoba_union_lists, " + block_sparse_attention_sm90_name(main_loop_params(p, probe)) +
       " with per-row chunk masks";
  if (p.tables.raster_of_pos) s += ", vmoba_permute_rows (scatter out)";
  return s;
}

void launch_vmoba_attention(const VmobaAttentionParams& p, void* workspace, cudaStream_t stream) {
  const FlashAttentionParams& a = p.attn;
  const Workspace w = carve(p, workspace);
  const int64_t row = static_cast<int64_t>(a.heads) * a.head_dim, packed_batch = row * a.q_tokens;
  const uint16_t *q = a.q, *k = a.k;
  int64_t q_ts = a.q_token_stride, q_bs = a.q_batch_stride, k_ts = a.kv_token_stride, k_bs = a.kv_batch_stride;
  if (p.tables.raster_of_pos) {
    launch_permute(a.q, a.q_token_stride, a.q_batch_stride, w.q, row, packed_batch, p.tables.raster_of_pos, true, a,
                   stream);
    launch_permute(a.k, a.kv_token_stride, a.kv_batch_stride, w.k, row, packed_batch, p.tables.raster_of_pos, true, a,
                   stream);
    launch_permute(a.v, a.kv_token_stride, a.kv_batch_stride, w.v, row, packed_batch, p.tables.raster_of_pos, true, a,
                   stream);
    q = w.q;
    k = w.k;
    q_ts = k_ts = row;
    q_bs = k_bs = packed_batch;
  }
  vmoba_chunk_means_kernel<<<dim3(p.tables.chunks, a.batch * a.heads), a.head_dim, 0, stream>>>(
      k, k_ts, k_bs, a.heads, a.head_dim, p.tables.chunk_start, p.tables.chunks, w.mean_t);
  WAN_CUDA_CHECK_LAUNCH();
  if (a.head_dim == 128) {
    launch_gate_select<128>(p, q, q_ts, q_bs, w, stream);
  } else {
    launch_gate_select<64>(p, q, q_ts, q_bs, w, stream);
  }
  vmoba_union_lists_kernel<<<dim3(query_blocks(p), a.batch * a.heads), 128, 0, stream>>>(
      w.masks, a.q_tokens, vmoba_mask_words(p.tables.chunks), p.tables.chunk_first_block, p.tables.chunks,
      p.tables.kv_blocks, w.kv_index, w.kv_len);
  WAN_CUDA_CHECK_LAUNCH();
  launch_block_sparse_attention_sm90(main_loop_params(p, w), w.main_loop, stream);
  if (p.tables.raster_of_pos)
    launch_permute(w.out, row, packed_batch, a.out, a.out_token_stride, a.out_batch_stride, p.tables.raster_of_pos,
                   false, a, stream);
}

}  // namespace wan
