#include "kernels/attention/sage/sage_attention.h"

#include <cuda_bf16.h>
#include <cuda_fp8.h>

#include "kernels/attention/common/attention_device.cuh"
#include "kernels/attention/common/wgmma.cuh"
#include "kernels/common/cuda_check.h"
#include "kernels/common/float16.h"

// The compute_90 PTX pass compiles the attention kernel's body out (no wgmma there).
#pragma nv_diag_suppress 177

namespace wan {
namespace {

using attn::cp_async_16;
using attn::fast_exp2;
using attn::mbar_arrive;
using attn::mbar_init;
using attn::mbar_wait;

constexpr int kStatTokens = 128;       // tokens per partial sum of the column statistics
constexpr float kMaxOffset = 8.807f;   // SageAttention's S_FP8_OFFSET: P <= 2^8.807 ~ 447.9
constexpr float kMaskedScore = -5e6f;  // SageAttention's masked score and initial row max
constexpr int kQueryGroups = 32;       // q scales per 64-row block
constexpr int kKeyGroups = 4;          // k scales per 128-key block

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// The workspace carve-up (byte offsets, 256-aligned).
struct Workspace {
  int64_t bh = 0, q_pad = 0, kv_pad = 0, chunks = 0;
  size_t q8 = 0, k8 = 0, vt8 = 0, q_scale = 0, k_scale = 0, v_scale = 0, v_mul = 0, k_mean = 0, part_sum = 0,
         part_amax = 0, total = 0;
};
Workspace workspace_of(const FlashAttentionParams& p) {
  Workspace w;
  const int64_t d = p.head_dim;
  w.bh = static_cast<int64_t>(p.batch) * p.heads;
  w.q_pad = round_up(p.q_tokens, kSageRowsPerBlock);
  w.kv_pad = round_up(p.kv_tokens, kSageKeysPerBlock);
  w.chunks = (p.kv_tokens + kStatTokens - 1) / kStatTokens;
  size_t off = 0;
  auto take = [&](int64_t bytes) {
    const size_t at = off;
    off += static_cast<size_t>(round_up(bytes, 256));
    return at;
  };
  w.q8 = take(w.bh * w.q_pad * d);
  w.k8 = take(w.bh * w.kv_pad * d);
  w.vt8 = take(w.bh * d * w.kv_pad);
  w.q_scale = take(w.bh * (w.q_pad / 64) * kQueryGroups * 4);
  w.k_scale = take(w.bh * (w.kv_pad / kSageKeysPerBlock) * kKeyGroups * 4);
  w.v_scale = take(w.bh * d * 4);
  w.v_mul = take(w.bh * d * 4);
  w.k_mean = take(w.bh * d * 4);
  w.part_sum = take(w.chunks * w.bh * d * 8);
  w.part_amax = take(w.chunks * w.bh * d * 4);
  w.total = off;
  return w;
}

__device__ __forceinline__ float bf16_at(const uint16_t* p) { return bf16_bits_to_f32(__ldg(p)); }

// 1a. Per (chunk of kStatTokens kv tokens, batch * head), thread = channel: the double sum of k
// and the max |v| over the chunk's tokens in order. part_*: [chunks, batch * heads, head_dim].
__global__ void sage_column_partials_kernel(const FlashAttentionParams p, double* __restrict__ part_sum,
                                            float* __restrict__ part_amax) {
  const int chunk = blockIdx.x, bh = blockIdx.y, b = bh / p.heads, h = bh % p.heads, c = threadIdx.x;
  const int t0 = chunk * kStatTokens, t1 = min(p.kv_tokens, t0 + kStatTokens);
  const uint16_t* k = p.k + b * p.kv_batch_stride + h * p.head_dim + c;
  const uint16_t* v = p.v + b * p.kv_batch_stride + h * p.head_dim + c;
  double sum = 0.0;
  float amax = 0.0f;
#pragma unroll 8
  for (int t = t0; t < t1; ++t) {
    sum += static_cast<double>(bf16_at(k + static_cast<int64_t>(t) * p.kv_token_stride));
    amax = fmaxf(amax, fabsf(bf16_at(v + static_cast<int64_t>(t) * p.kv_token_stride)));
  }
  const int64_t at = (static_cast<int64_t>(chunk) * gridDim.y + bh) * p.head_dim + c;
  part_sum[at] = sum;
  part_amax[at] = amax;
}

// 1b. Per (batch * head), thread = channel: the chunks in order -> k_mean = bf16(sum / tokens)
// (as f32), v_scale = amax / 448, v_mul = 448 / amax (0 for an all-zero channel).
__global__ void sage_column_finish_kernel(const FlashAttentionParams p, int chunks, const double* __restrict__ part_sum,
                                          const float* __restrict__ part_amax, float* __restrict__ k_mean,
                                          float* __restrict__ v_scale, float* __restrict__ v_mul) {
  const int bh = blockIdx.x, c = threadIdx.x, bhs = gridDim.x;
  double sum = 0.0;
  float amax = 0.0f;
  constexpr int kAhead = 16;  // loads in flight, then the adds in chunk order
  for (int c0 = 0; c0 < chunks; c0 += kAhead) {
    double s_part[kAhead];
    float a_part[kAhead];
#pragma unroll
    for (int i = 0; i < kAhead; ++i) {
      const int64_t at = (static_cast<int64_t>(c0 + i) * bhs + bh) * p.head_dim + c;
      s_part[i] = c0 + i < chunks ? part_sum[at] : 0.0;
      a_part[i] = c0 + i < chunks ? part_amax[at] : 0.0f;
    }
#pragma unroll
    for (int i = 0; i < kAhead; ++i) {
      if (c0 + i < chunks) sum += s_part[i];
      amax = fmaxf(amax, a_part[i]);
    }
  }
  const int64_t at = static_cast<int64_t>(bh) * p.head_dim + c;
  k_mean[at] = round_to_bf16(static_cast<float>(sum / static_cast<double>(p.kv_tokens)));
  v_scale[at] = __fdiv_rn(amax, 448.0f);
  v_mul[at] = amax > 0.0f ? __fdiv_rn(448.0f, amax) : 0.0f;
}

// INT8 of x with `scale`: x / scale rounded half away from zero (SageAttention: + 0.5 sign(x),
// then truncation; sign(0) = +1).
__device__ __forceinline__ int32_t quantize_int8(float x, float scale) {
  return __float2int_rz(__fadd_rn(__fdiv_rn(x, scale), x >= 0.0f ? 0.5f : -0.5f));
}
__device__ __forceinline__ float int8_scale(float amax) { return __fadd_rn(__fdiv_rn(amax, 127.0f), 1e-7f); }

// Loads row `token` of (b, h) (zero past `tokens`), with kSubtractMean minus `mean` rounded to
// bf16 as the emulation does, into x; returns max |x|.
template <int kHeadDim, bool kSubtractMean>
__device__ __forceinline__ float load_row(const uint16_t* base, int64_t token_stride, int token, int tokens,
                                          const float* mean, float (&x)[kHeadDim]) {
  float amax = 0.0f;
  if (token >= tokens) {
#pragma unroll
    for (int c = 0; c < kHeadDim; ++c) x[c] = 0.0f;
    return amax;
  }
  const uint16_t* row = base + static_cast<int64_t>(token) * token_stride;
#pragma unroll
  for (int c8 = 0; c8 < kHeadDim / 8; ++c8) {
    const uint4 raw = __ldg(reinterpret_cast<const uint4*>(row + c8 * 8));
    const uint32_t w[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int c = c8 * 8 + i;
      float v = bf16_bits_to_f32(static_cast<uint16_t>(w[i / 2] >> (16 * (i % 2))));
      if constexpr (kSubtractMean) v = round_to_bf16(__fsub_rn(v, mean[c]));
      x[c] = v;
      amax = fmaxf(amax, fabsf(v));
    }
  }
  return amax;
}

// Writes x / scale as INT8 (16-byte stores) to dst[0 .. kHeadDim).
template <int kHeadDim>
__device__ __forceinline__ void store_int8_row(const float (&x)[kHeadDim], float scale, int8_t* dst) {
#pragma unroll
  for (int c16 = 0; c16 < kHeadDim / 16; ++c16) {
    uint32_t w[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      uint32_t packed = 0;
#pragma unroll
      for (int j = 0; j < 4; ++j)
        packed |= (static_cast<uint32_t>(quantize_int8(x[c16 * 16 + i * 4 + j], scale)) & 0xffu) << (8 * j);
      w[i] = packed;
    }
    *reinterpret_cast<uint4*>(dst + c16 * 16) = make_uint4(w[0], w[1], w[2], w[3]);
  }
}

// 2a. INT8 k' = bf16(k - mean) per 128-key block (grid: kv_pad / 128, batch * heads; thread = key):
// 4 scales per block, group g = the keys with key % 8 in {2g, 2g + 1}. k8: [batch * heads,
// kv_pad, head_dim], zero rows past kv_tokens; k_scale: [batch * heads, kv_pad / 128, 4].
template <int kHeadDim>
__global__ void __launch_bounds__(kSageKeysPerBlock) sage_quantize_k_kernel(const FlashAttentionParams p,
                                                                            const float* __restrict__ k_mean,
                                                                            int kv_pad, int8_t* __restrict__ k8,
                                                                            float* __restrict__ k_scale) {
  __shared__ float mean[kHeadDim];
  __shared__ float row_amax[kSageKeysPerBlock];
  const int kb = blockIdx.x, bh = blockIdx.y, b = bh / p.heads, h = bh % p.heads, r = threadIdx.x;
  for (int c = r; c < kHeadDim; c += kSageKeysPerBlock) mean[c] = k_mean[static_cast<int64_t>(bh) * kHeadDim + c];
  __syncthreads();
  float x[kHeadDim];
  const int token = kb * kSageKeysPerBlock + r;
  row_amax[r] = load_row<kHeadDim, true>(p.k + b * p.kv_batch_stride + h * kHeadDim, p.kv_token_stride, token,
                                   p.kv_tokens, mean, x);
  __syncthreads();
  const int g = (r % 8) / 2;
  float amax = 0.0f;
  for (int i = 0; i < kSageKeysPerBlock / 8; ++i)
    amax = fmaxf(amax, fmaxf(row_amax[8 * i + 2 * g], row_amax[8 * i + 2 * g + 1]));
  const float scale = int8_scale(amax);
  if (r < 8 && r % 2 == 0) k_scale[(static_cast<int64_t>(bh) * (kv_pad / kSageKeysPerBlock) + kb) * kKeyGroups + g] = scale;
  store_int8_row<kHeadDim>(x, scale, k8 + (static_cast<int64_t>(bh) * kv_pad + token) * kHeadDim);
}

// 2b. INT8 q per 64-row block (grid: q_pad / 64, batch * heads; thread = row): 32 scales, group
// (r / 16) * 8 + r % 8 = rows {16c + t, 16c + t + 8}. q8: [batch * heads, q_pad, head_dim];
// q_scale: [batch * heads, q_pad / 64, 32].
template <int kHeadDim>
__global__ void __launch_bounds__(64) sage_quantize_q_kernel(const FlashAttentionParams p, int q_pad,
                                                             int8_t* __restrict__ q8, float* __restrict__ q_scale) {
  __shared__ float row_amax[64];
  const int qb = blockIdx.x, bh = blockIdx.y, b = bh / p.heads, h = bh % p.heads, r = threadIdx.x;
  float x[kHeadDim];
  const int token = qb * 64 + r;
  row_amax[r] = load_row<kHeadDim, false>(p.q + b * p.q_batch_stride + h * kHeadDim, p.q_token_stride, token, p.q_tokens,
                                   nullptr, x);
  __syncthreads();
  const float scale = int8_scale(fmaxf(row_amax[r], row_amax[r ^ 8]));
  if (r % 16 < 8) q_scale[(static_cast<int64_t>(bh) * (q_pad / 64) + qb) * kQueryGroups + (r / 16) * 8 + r % 8] = scale;
  store_int8_row<kHeadDim>(x, scale, q8 + (static_cast<int64_t>(bh) * q_pad + token) * kHeadDim);
}

// The key (0..31) whose P value sits at k-position `pos` of a 32-key step of the P operand: the
// S accumulator holds, per thread (q = lane % 4) and row, columns 8i + 2q + {0, 1}; the k32 A
// fragment wants 4q .. 4q + 3 and 16 + 4q .. 16 + 4q + 3. So position 4q + e of each 16 holds
// key (e / 2) * 8 + 2q + e % 2, and V^T's columns are permuted the same way.
__host__ __device__ __forceinline__ int sage_key_at_position(int pos) {
  const int half = pos & 16, q = (pos & 15) >> 2, e = pos & 3;
  return half + (e >> 1) * 8 + 2 * q + (e & 1);
}

// 3. V in FP8 (v * v_mul[c], e4m3, round to nearest even, saturating), transposed and permuted:
// vt8 [batch * heads, head_dim, kv_pad], column j * 32 + pos holds key j * 32 +
// sage_key_at_position(pos), zero past kv_tokens. 64 keys x 64 channels per CTA through shared
// memory: a channel pair per 32-bit load, four columns per 32-bit store.
// grid: (kv_pad / 64, head_dim / 64, batch * heads), block (32, 8).
constexpr int kVTile = 64;
__global__ void sage_quantize_v_kernel(const FlashAttentionParams p, const float* __restrict__ v_mul, int kv_pad,
                                       uint8_t* __restrict__ vt8) {
  __shared__ uint8_t tile[kVTile][kVTile + 4];  // [key][channel], e4m3
  const int bh = blockIdx.z, b = bh / p.heads, h = bh % p.heads;
  const int key0 = blockIdx.x * kVTile, c0 = blockIdx.y * kVTile, tx = threadIdx.x, ty = threadIdx.y;
  const float* mul = v_mul + static_cast<int64_t>(bh) * p.head_dim + c0;
  const float mul_lo = mul[2 * tx], mul_hi = mul[2 * tx + 1];
  uint32_t loaded[kVTile / 8];
#pragma unroll
  for (int k = 0; k < kVTile / 8; ++k) {  // key key0 + ty + 8k, channels c0 + 2 tx, + 1
    const int key = key0 + ty + 8 * k;
    loaded[k] = key < p.kv_tokens
                    ? __ldg(reinterpret_cast<const uint32_t*>(p.v + b * p.kv_batch_stride +
                                                              static_cast<int64_t>(key) * p.kv_token_stride +
                                                              h * p.head_dim + c0 + 2 * tx))
                    : 0u;
  }
#pragma unroll
  for (int k = 0; k < kVTile / 8; ++k) {
    const int i = ty + 8 * k;
    const float lo = bf16_bits_to_f32(static_cast<uint16_t>(loaded[k]));
    const float hi = bf16_bits_to_f32(static_cast<uint16_t>(loaded[k] >> 16));
    tile[i][2 * tx] = __nv_cvt_float_to_fp8(__fmul_rn(lo, mul_lo), __NV_SATFINITE, __NV_E4M3);
    tile[i][2 * tx + 1] = __nv_cvt_float_to_fp8(__fmul_rn(hi, mul_hi), __NV_SATFINITE, __NV_E4M3);
  }
  __syncthreads();
  // Row c of the output: 16 words of 4 columns; thread (tx, ty) writes words tx % 16 of rows
  // (tx / 16) + 2 ty + 16 k.
#pragma unroll
  for (int k = 0; k < kVTile / 16; ++k) {
    const int c = tx / 16 + 2 * ty + 16 * k, word = tx % 16, pos0 = word * 4;
    uint32_t packed = 0;
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int pos = pos0 + e, key = (pos & ~31) + sage_key_at_position(pos & 31);
      packed |= static_cast<uint32_t>(tile[key][c]) << (8 * e);
    }
    *reinterpret_cast<uint32_t*>(vt8 + (static_cast<int64_t>(bh) * p.head_dim + c0 + c) * kv_pad + key0 + pos0) =
        packed;
  }
}

// 4. The attention. Shared-memory tiles of 8-bit rows with the wgmma swizzles: 128-byte rows
// (head_dim 128 q/k, every V^T tile: 128 keys) with the 128-byte swizzle, 64-byte rows (head_dim
// 64 q/k) with the 64-byte swizzle. Byte offset of 16-byte chunk `chunk` of row `row`.
template <int kRowBytes>
__device__ __forceinline__ int tile_offset(int row, int chunk) {
  if constexpr (kRowBytes == 128) return row * 128 + ((chunk ^ (row & 7)) << 4);
  else return row * 64 + ((chunk ^ ((row >> 1) & 3)) << 4);
}
template <int kRowBytes>
__device__ __forceinline__ uint64_t tile_desc(const char* tile, int row0, int k_step) {
  const char* at = tile + row0 * kRowBytes + k_step * 32;
  if constexpr (kRowBytes == 128) return sm90::smem_desc_k_major_sw128(at);
  else return sm90::smem_desc_k_major_sw64(at);
}

// 128 producer threads copy a kRows x kRowBytes tile (row `r` at src + r * src_stride bytes).
template <int kRows, int kRowBytes>
__device__ __forceinline__ void copy_tile(char* tile, const int8_t* src, int64_t src_stride, int tid) {
  constexpr int kChunks = kRowBytes / 16, kPerThread = kRows * kChunks / 128;
#pragma unroll 2
  for (int i = 0; i < kPerThread; ++i) {
    const int c = tid + i * 128, row = c / kChunks, chunk = c % kChunks;
    cp_async_16(tile + tile_offset<kRowBytes>(row, chunk), src + row * src_stride + chunk * 16, true);
  }
}

using attn::cp_async_arrive_on;

__device__ __forceinline__ uint32_t pack_e4m3x4(float a, float b, float c, float d) {
  const uint32_t lo = __nv_cvt_float2_to_fp8x2(make_float2(a, b), __NV_SATFINITE, __NV_E4M3);
  const uint32_t hi = __nv_cvt_float2_to_fp8x2(make_float2(c, d), __NV_SATFINITE, __NV_E4M3);
  return lo | (hi << 16);
}

// Exact int32 -> f32 for |x| < 2^22 with integer adds (no conversion unit): the bits of 1.5 * 2^23
// plus x are the float 1.5 * 2^23 + x. |S| <= 127 * 127 * 128 < 2^21.
__device__ __forceinline__ float small_int_to_float(int32_t x) {
  return __int_as_float(x + 0x4B400000) - 12582912.0f;
}

// One block of the emulation's step 3 for this thread's rows (lane / 4, + 8) and 64 scores (the
// m64n128 accumulator layout): s = 2^(S * eff - m_new) with eff = scale log2(e) q_scale k_scale and
// m_new = max(m, block max - 8.807) (P <= 448); kLast (the last block): s' = S * (q_scale k_scale)
// first, keys >= kv_tokens masked to -5e6, then 2^(s' scale log2(e) - m_new). Updates row_max;
// returns alpha = 2^(m_old - m_new) and the block's per-thread row sums.
template <bool kLast>
__device__ __forceinline__ void block_softmax(const int32_t (&s_int)[kSageKeysPerBlock / 2],
                                              float (&s)[kSageKeysPerBlock / 2], float combined, float scale_log2e,
                                              int key0, int kv_tokens, int quad, float (&row_max)[2],
                                              float (&alpha)[2], float (&block_sum)[2]) {
  constexpr int kN = kSageKeysPerBlock / 2;
  const float mult = kLast ? scale_log2e : __fmul_rn(scale_log2e, combined);
  float block_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
  for (int i = 0; i < kN; ++i) {
    float x = small_int_to_float(s_int[i]);
    if constexpr (kLast) {
      const int key = key0 + (i / 4) * 8 + quad * 2 + (i & 1);
      x = key < kv_tokens ? __fmul_rn(x, combined) : kMaskedScore;
    }
    s[i] = x;
    block_max[(i / 2) & 1] = fmaxf(block_max[(i / 2) & 1], x);
  }
  float neg_max[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float m = __fmaf_rn(block_max[r], mult, -kMaxOffset);
    m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, 1));
    m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, 2));
    const float m_new = fmaxf(row_max[r], m);
    alpha[r] = fast_exp2(__fsub_rn(row_max[r], m_new));
    row_max[r] = m_new;
    neg_max[r] = -m_new;
    block_sum[r] = 0.0f;
  }
#pragma unroll
  for (int i = 0; i < kN; ++i) {
    const float pv = fast_exp2(__fmaf_rn(s[i], mult, neg_max[(i / 2) & 1]));
    block_sum[(i / 2) & 1] += pv;
    s[i] = pv;
  }
}

template <int kHeadDim>
struct SageTraits {
  static constexpr int kThreads = 384;  // producer warpgroup + two consumer warpgroups
  static constexpr int kStages = 3;
  static constexpr int kQBytes = kSageRowsPerBlock * kHeadDim, kKBytes = kSageKeysPerBlock * kHeadDim;
  static constexpr int kVBytes = kHeadDim * kSageKeysPerBlock;
  static constexpr int kSmemBytes = kQBytes + kStages * (kKBytes + kVBytes) + 1024 + 128;
};

struct SageTensors {
  const int8_t* q8;
  const int8_t* k8;
  const int8_t* vt8;
  const float* q_scale;
  const float* k_scale;
  const float* v_scale;
  int q_pad, kv_pad;
};

// grid: (q_pad / 128, heads, batch); block 384.
// kPingPong: the two consumer warpgroups take turns issuing their GEMMs (named barriers 1 and 2,
// FA3's inter-warpgroup schedule), so one's softmax runs while the other's GEMM holds the tensor
// cores; the arithmetic is the same either way (bit-identical outputs).
template <int kHeadDim, bool kPingPong>
__global__ void __launch_bounds__(384, 1) sage_attention_sm90_kernel(const FlashAttentionParams p, const SageTensors t) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using T = SageTraits<kHeadDim>;
  constexpr int kStages = T::kStages, kKeys = kSageKeysPerBlock;
  extern __shared__ char smem_raw[];
  char* smem = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(smem_raw) + 1023) & ~uintptr_t(1023));
  char* q_tile = smem;
  char* k_ring = smem + T::kQBytes;
  char* v_ring = k_ring + kStages * T::kKBytes;
  uint64_t* bars = reinterpret_cast<uint64_t*>(v_ring + kStages * T::kVBytes);
  uint64_t* q_full = bars;
  uint64_t* k_full = bars + 1;               // [kStages]
  uint64_t* v_full = bars + 1 + kStages;     // [kStages]
  uint64_t* empty = bars + 1 + 2 * kStages;  // [kStages]

  const int wg = threadIdx.x / 128, tid = threadIdx.x % 128;
  const int qb = blockIdx.x, head = blockIdx.y, batch = blockIdx.z;
  const int64_t bh = static_cast<int64_t>(batch) * p.heads + head;
  const int kv_blocks = t.kv_pad / kKeys;
  if (threadIdx.x == 0) {
    mbar_init(q_full, 128);
    for (int st = 0; st < kStages; ++st) {
      mbar_init(&k_full[st], 128);
      mbar_init(&v_full[st], 128);
      mbar_init(&empty[st], 256);
    }
  }
  __syncthreads();

  if (wg == 0) {  // producer: copies land on the stage's barriers by themselves (cp.async.mbarrier.arrive)
    asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\n");
    const int8_t* k8 = t.k8 + bh * t.kv_pad * kHeadDim;
    const int8_t* vt8 = t.vt8 + bh * kHeadDim * t.kv_pad;
    copy_tile<kSageRowsPerBlock, kHeadDim>(q_tile, t.q8 + (bh * t.q_pad + qb * kSageRowsPerBlock) * kHeadDim,
                                           kHeadDim, tid);
    cp_async_arrive_on(q_full);
    for (int j = 0; j < kv_blocks; ++j) {
      const int stage = j % kStages;
      mbar_wait(&empty[stage], ((j / kStages) & 1) ^ 1);  // first pass: free
      copy_tile<kKeys, kHeadDim>(k_ring + stage * T::kKBytes, k8 + static_cast<int64_t>(j) * kKeys * kHeadDim,
                                 kHeadDim, tid);
      cp_async_arrive_on(&k_full[stage]);
      copy_tile<kHeadDim, kKeys>(v_ring + stage * T::kVBytes, vt8 + static_cast<int64_t>(j) * kKeys, t.kv_pad, tid);
      cp_async_arrive_on(&v_full[stage]);
    }
    asm volatile("cp.async.wait_all;\n" ::: "memory");
    return;
  }

  asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\n");
  const int cg = wg - 1, warp = tid / 32, lane = tid % 32, quad = lane % 4;
  const float q_scale =
      __ldg(t.q_scale + (bh * (t.q_pad / 64) + qb * 2 + cg) * kQueryGroups + warp * 8 + lane / 4);
  const float scale_log2e = __fmul_rn(p.scale, attn::kLog2e);
  float o_acc[kHeadDim / 2];
#pragma unroll
  for (int i = 0; i < kHeadDim / 2; ++i) o_acc[i] = 0.0f;
  float row_max[2] = {kMaskedScore, kMaskedScore}, row_sum[2] = {0.0f, 0.0f};
  // Ping-pong turns: warpgroup cg waits on barrier 1 + cg and hands the turn to the other on its
  // barrier (256 threads: 128 syncing, 128 arriving). Consumer 1 hands consumer 0 the first turn.
  auto wait_turn = [&] {
    if constexpr (kPingPong) asm volatile("bar.sync %0, 256;\n" ::"r"(1 + cg) : "memory");
  };
  auto pass_turn = [&] {
    if constexpr (kPingPong) asm volatile("bar.arrive %0, 256;\n" ::"r"(2 - cg) : "memory");
  };
  if (cg == 1) pass_turn();
  mbar_wait(q_full, 0);
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");  // cp.async (generic) -> wgmma (async)
  for (int j = 0; j < kv_blocks; ++j) {
    const int stage = j % kStages;
    const uint32_t parity = (j / kStages) & 1;
    const float k_scale = __ldg(t.k_scale + (bh * kv_blocks + j) * kKeyGroups + quad);
    mbar_wait(&k_full[stage], parity);
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
    int32_t s_int[kKeys / 2];
    const char* k_tile = k_ring + stage * T::kKBytes;
    wait_turn();
    sm90::wgmma_fence();
#pragma unroll
    for (int s = 0; s < kHeadDim / 32; ++s)
      sm90::wgmma_m64n128k32_s8_ss(s_int, tile_desc<kHeadDim>(q_tile, cg * 64, s), tile_desc<kHeadDim>(k_tile, 0, s),
                                   s > 0);
    sm90::wgmma_commit();
    pass_turn();
    sm90::wgmma_wait_all();

    // The softmax of the emulation's step 3 (log2 domain, offset so P <= 448); the last block is
    // its own instantiation, so the others carry no masking work.
    float s_acc[kKeys / 2], alpha[2], block_sum[2];
    const float combined = __fmul_rn(q_scale, k_scale);
    if (j == kv_blocks - 1) {
      block_softmax<true>(s_int, s_acc, combined, scale_log2e, j * kKeys, p.kv_tokens, quad, row_max, alpha, block_sum);
    } else {
      block_softmax<false>(s_int, s_acc, combined, scale_log2e, j * kKeys, p.kv_tokens, quad, row_max, alpha,
                           block_sum);
    }
#pragma unroll
    for (int r = 0; r < 2; ++r) row_sum[r] = __fadd_rn(__fmul_rn(row_sum[r], alpha[r]), block_sum[r]);
    // P as the k32 A fragments (4 per block; see sage_key_at_position).
    uint32_t p_frag[kKeys / 32][4];
#pragma unroll
    for (int s = 0; s < kKeys / 32; ++s) {
      const float* c0 = s_acc + (4 * s) * 4;  // n8 chunks 4s .. 4s + 3
      p_frag[s][0] = pack_e4m3x4(c0[0], c0[1], c0[4], c0[5]);
      p_frag[s][1] = pack_e4m3x4(c0[2], c0[3], c0[6], c0[7]);
      p_frag[s][2] = pack_e4m3x4(c0[8], c0[9], c0[12], c0[13]);
      p_frag[s][3] = pack_e4m3x4(c0[10], c0[11], c0[14], c0[15]);
    }
    mbar_wait(&v_full[stage], parity);
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
    const char* v_tile = v_ring + stage * T::kVBytes;
    float o_block[kHeadDim / 2];
    wait_turn();
    sm90::wgmma_fence();
#pragma unroll
    for (int s = 0; s < kKeys / 32; ++s) {
      if constexpr (kHeadDim == 128) {
        sm90::wgmma_m64n128k32_e4m3_rs(o_block, p_frag[s], tile_desc<kKeys>(v_tile, 0, s), s > 0);
      } else {
        sm90::wgmma_m64n64k32_e4m3_rs(o_block, p_frag[s], tile_desc<kKeys>(v_tile, 0, s), s > 0);
      }
    }
    sm90::wgmma_commit();
    pass_turn();
    sm90::wgmma_wait_all();
    mbar_arrive(&empty[stage]);  // this thread is done with the stage
#pragma unroll
    for (int i = 0; i < kHeadDim / 2; ++i) o_acc[i] = __fmaf_rn(o_acc[i], alpha[(i / 2) & 1], o_block[i]);
  }

  if (cg == 0) wait_turn();  // consumer 1's last hand-over: no barrier left half-arrived at exit

  // out = bf16((O * (1 / l)) * v_scale[c]).
  const float* v_scale = t.v_scale + bh * kHeadDim;
  uint16_t* out = p.out + batch * p.out_batch_stride + head * kHeadDim;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float total = row_sum[r];
    total += __shfl_xor_sync(0xffffffffu, total, 1);
    total += __shfl_xor_sync(0xffffffffu, total, 2);
    const float inv = __frcp_rn(total);
    const int row = qb * kSageRowsPerBlock + cg * 64 + warp * 16 + lane / 4 + r * 8;
    if (row >= p.q_tokens) continue;
    uint16_t* dst = out + static_cast<int64_t>(row) * p.out_token_stride;
#pragma unroll
    for (int c = 0; c < kHeadDim / 8; ++c) {
      const int col = c * 8 + quad * 2;
      const float a = __fmul_rn(__fmul_rn(o_acc[c * 4 + r * 2], inv), __ldg(v_scale + col));
      const float b = __fmul_rn(__fmul_rn(o_acc[c * 4 + r * 2 + 1], inv), __ldg(v_scale + col + 1));
      *reinterpret_cast<uint32_t*>(dst + col) = attn::pack_bf16(a, b);
    }
  }
#else
  __trap();  // built without sm_90a machine code: sage_attention_unsupported_reason says so
#endif
}

// The workspace's tensors for the attention kernel.
SageTensors tensors_of(const Workspace& w, const char* ws) {
  return SageTensors{reinterpret_cast<const int8_t*>(ws + w.q8),       reinterpret_cast<const int8_t*>(ws + w.k8),
                     reinterpret_cast<const int8_t*>(ws + w.vt8),      reinterpret_cast<const float*>(ws + w.q_scale),
                     reinterpret_cast<const float*>(ws + w.k_scale),   reinterpret_cast<const float*>(ws + w.v_scale),
                     static_cast<int>(w.q_pad),                        static_cast<int>(w.kv_pad)};
}

template <int kHeadDim>
void launch_quantize(const FlashAttentionParams& p, char* ws, const Workspace& w, cudaStream_t stream) {
  const int bh = static_cast<int>(w.bh);
  double* part_sum = reinterpret_cast<double*>(ws + w.part_sum);
  float* part_amax = reinterpret_cast<float*>(ws + w.part_amax);
  float* k_mean = reinterpret_cast<float*>(ws + w.k_mean);
  float* v_mul = reinterpret_cast<float*>(ws + w.v_mul);
  const int q_pad = static_cast<int>(w.q_pad), kv_pad = static_cast<int>(w.kv_pad);
  sage_column_partials_kernel<<<dim3(static_cast<unsigned>(w.chunks), bh), kHeadDim, 0, stream>>>(p, part_sum,
                                                                                                  part_amax);
  WAN_CUDA_CHECK_LAUNCH();
  sage_column_finish_kernel<<<bh, kHeadDim, 0, stream>>>(p, static_cast<int>(w.chunks), part_sum, part_amax, k_mean,
                                                         reinterpret_cast<float*>(ws + w.v_scale), v_mul);
  WAN_CUDA_CHECK_LAUNCH();
  sage_quantize_q_kernel<kHeadDim><<<dim3(q_pad / 64, bh), 64, 0, stream>>>(
      p, q_pad, reinterpret_cast<int8_t*>(ws + w.q8), reinterpret_cast<float*>(ws + w.q_scale));
  WAN_CUDA_CHECK_LAUNCH();
  sage_quantize_k_kernel<kHeadDim><<<dim3(kv_pad / kSageKeysPerBlock, bh), kSageKeysPerBlock, 0, stream>>>(
      p, k_mean, kv_pad, reinterpret_cast<int8_t*>(ws + w.k8), reinterpret_cast<float*>(ws + w.k_scale));
  WAN_CUDA_CHECK_LAUNCH();
  sage_quantize_v_kernel<<<dim3(kv_pad / kVTile, kHeadDim / kVTile, bh), dim3(32, 8), 0, stream>>>(
      p, v_mul, kv_pad, reinterpret_cast<uint8_t*>(ws + w.vt8));
  WAN_CUDA_CHECK_LAUNCH();
}

template <int kHeadDim, bool kPingPong>
void launch_attend(const FlashAttentionParams& p, const char* ws, const Workspace& w, cudaStream_t stream) {
  using T = SageTraits<kHeadDim>;
  static const bool configured = [] {
    WAN_CUDA_CHECK(cudaFuncSetAttribute(sage_attention_sm90_kernel<kHeadDim, kPingPong>,
                                        cudaFuncAttributeMaxDynamicSharedMemorySize, T::kSmemBytes));
    return true;
  }();
  (void)configured;
  sage_attention_sm90_kernel<kHeadDim, kPingPong>
      <<<dim3(static_cast<unsigned>(w.q_pad / kSageRowsPerBlock), p.heads, p.batch), T::kThreads, T::kSmemBytes,
         stream>>>(p, tensors_of(w, ws));
  WAN_CUDA_CHECK_LAUNCH();
}

}  // namespace

size_t sage_attention_workspace_bytes(const FlashAttentionParams& p) { return workspace_of(p).total; }

std::string sage_attention_kernels(const FlashAttentionParams& p) {
  return "sage_column_partials + sage_column_finish (k mean, v amax) -> sage_quantize_q/k (INT8, per-thread "
         "groups) + sage_quantize_v (FP8 e4m3, transposed, permuted) -> sage_attention_sm90 (wgmma s8 QK, e4m3 PV, "
         "head_dim " +
         std::to_string(p.head_dim) + ", 128-row query blocks x 128-key blocks, 2 consumer warpgroups)";
}

std::string sage_attention_unsupported_reason(const FlashAttentionParams& p) {
  if (p.head_dim != 64 && p.head_dim != 128)
    return "sage supports head_dim 64 and 128 (SageAttention2's), not " + std::to_string(p.head_dim);
  if (p.batch < 1 || p.heads < 1 || p.q_tokens < 1 || p.kv_tokens < 1) return "attention sizes must be positive";
  const std::string rows = rows_of_16_bytes_unsupported_reason(p);
  if (!rows.empty()) return rows;
  if (p.scale <= 0.0f || !(p.scale < INFINITY)) return "the softmax scale must be positive and finite";
  int device = 0, major = 0;
  cudaGetDevice(&device);
  cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
  if (major != 9) return "sage's kernel needs a Hopper GPU (compute capability 9.x: wgmma s8 and e4m3)";
  cudaFuncAttributes attr{};
  if (cudaFuncGetAttributes(&attr, sage_attention_sm90_kernel<128, false>) != cudaSuccess || attr.binaryVersion != 90) {
    cudaGetLastError();
    return "sage's kernel was not built as sm_90a machine code (--//tools/cuda:archs must include 90a)";
  }
  return "";
}

void launch_sage_quantize(const FlashAttentionParams& p, void* workspace, cudaStream_t stream) {
  const Workspace w = workspace_of(p);
  char* ws = static_cast<char*>(workspace);
  if (p.head_dim == 128) {
    launch_quantize<128>(p, ws, w, stream);
  } else {
    launch_quantize<64>(p, ws, w, stream);
  }
}

void launch_sage_attention_kernel(const FlashAttentionParams& p, const void* workspace, cudaStream_t stream,
                                  SageSchedule schedule) {
  const Workspace w = workspace_of(p);
  const char* ws = static_cast<const char*>(workspace);
  const bool ping_pong = schedule == SageSchedule::kPingPong;
  if (p.head_dim == 128) {
    ping_pong ? launch_attend<128, true>(p, ws, w, stream) : launch_attend<128, false>(p, ws, w, stream);
  } else {
    ping_pong ? launch_attend<64, true>(p, ws, w, stream) : launch_attend<64, false>(p, ws, w, stream);
  }
}

void launch_sage_attention(const FlashAttentionParams& p, void* workspace, cudaStream_t stream) {
  launch_sage_quantize(p, workspace, stream);
  launch_sage_attention_kernel(p, workspace, stream);
}

}  // namespace wan
