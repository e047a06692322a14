#include "kernels/attention/flash/flash_attention_fwd_sm90.h"

#include <cuda_bf16.h>

#include <cstdlib>
#include <string>

#include "kernels/attention/flash/wgmma.cuh"
#include "kernels/common/cuda_check.h"

// The compute_90 PTX pass compiles the kernel body out (no wgmma there), leaving helpers unused.
#pragma nv_diag_suppress 177

namespace wan {
namespace {

constexpr int kHeadDim = 128;
constexpr int kWarpgroups = 2;
constexpr int kThreads = kWarpgroups * 128;
constexpr int kBlockM = kWarpgroups * 64;  // query rows per CTA
[[maybe_unused]] constexpr int kBlockN = 128;  // keys per tile
constexpr int kTileBytes = 128 * 128 * 2;  // every tile is 128 rows x 128 bf16 columns
constexpr int kSmemBytes = 3 * kTileBytes + 1024;  // Q, K, V^T, plus alignment slack
[[maybe_unused]] constexpr float kLog2e = 1.4426950408889634f;
constexpr int kTokenAlign = 8;  // V^T rows padded to 16 bytes

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void cp_async_16(void* dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src),
               "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
// Waits for this thread's copies, then makes them visible to the tensor cores (async proxy).
__device__ __forceinline__ void cp_async_wait_all_and_fence() {
  asm volatile("cp.async.wait_group 0;\n" ::);
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}
// mbarrier helpers (shared-memory 64-bit barriers).
__device__ __forceinline__ void mbar_init(uint64_t* bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint64_t* bar) {
  asm volatile("{\n .reg .b64 state;\n mbarrier.arrive.shared::cta.b64 state, [%0];\n}\n" ::"r"(smem_addr(bar))
               : "memory");
}
// Waits until the phase of `bar` with the given parity has completed.
__device__ __forceinline__ void mbar_wait(uint64_t* bar, uint32_t parity) {
  uint32_t done = 0;
  do {
    asm volatile(
        "{\n .reg .pred p;\n mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n selp.u32 %0, 1, 0, p;\n}\n"
        : "=r"(done)
        : "r"(smem_addr(bar)), "r"(parity)
        : "memory");
  } while (!done);
}

__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&v);
}

// A 128 x 128 bf16 tile as two 64-column halves, each 128 rows x 128 B with the 128-byte
// swizzle (16-byte chunk index XOR row % 8): the layout smem_desc_k_major_sw128 describes.
__device__ __forceinline__ int tile_offset_bytes(int row, int col) {
  const int half = col >> 6, c = col & 63;
  return half * (128 * 128) + row * 128 + ((((c >> 3) ^ (row & 7))) << 4) + ((c & 7) << 1);
}

// Rows [row0, row0+128) of a row-major global matrix (row stride in elements); rows >= limit
// (or columns >= col_limit) are zero-filled.
__device__ __forceinline__ void load_tile(char* tile, const uint16_t* base, int64_t row_stride, int row0,
                                          int limit, int col0 = 0, int col_limit = 1 << 30) {
#pragma unroll
  for (int i = 0; i < (128 * 16) / kThreads; ++i) {
    const int c = threadIdx.x + i * kThreads;
    const int row = c / 16, chunk = c % 16;
    const bool valid = row0 + row < limit && col0 + chunk * 8 < col_limit;
    const uint16_t* src = base + (valid ? static_cast<int64_t>(row0 + row) * row_stride + col0 + chunk * 8 : 0);
    cp_async_16(tile + tile_offset_bytes(row, chunk * 8), src, valid);
  }
}

// Descriptor for k-step s (16 columns) of a tile: the half holding it, advanced 32 B per step.
__device__ __forceinline__ uint64_t desc_at(const char* tile, int row0, int s) {
  return sm90::smem_desc_k_major_sw128(tile + (s >> 2) * (128 * 128) + row0 * 128 + (s & 3) * 32);
}

// One warpgroup's S = Q K^T for a 128-key tile: 64 query rows from q_row0, 8 k-steps over
// head_dim. s_acc: the m64n128 accumulator (its layout: wgmma.cuh).
__device__ __forceinline__ void qk_tile(float (&s_acc)[64], const char* q_tile, int q_row0, const char* k_tile) {
#pragma unroll
  for (int i = 0; i < 64; ++i) s_acc[i] = 0.0f;
  sm90::wgmma_fence();
#pragma unroll
  for (int s = 0; s < kHeadDim / 16; ++s) {
    sm90::wgmma_m64n128k16_ss(s_acc, desc_at(q_tile, q_row0, s), desc_at(k_tile, 0, s));
  }
  sm90::wgmma_commit();
  sm90::wgmma_wait_all();
}

// Online softmax (log2 domain) of the raw scores of keys [n0, n0 + 128) for this thread's rows
// lane/4 and lane/4 + 8: masks keys >= kv_tokens, rescales o_acc and the row state, and packs
// P (bf16) as the A fragments of the P V wgmma.
__device__ __forceinline__ void online_softmax(float (&s_acc)[64], int n0, int kv_tokens, float scale_log2,
                                               int quad, float (&row_max)[2], float (&row_sum)[2],
                                               float (&o_acc)[64], uint32_t (&p_frag)[kBlockN / 16][4]) {
  const bool ragged = n0 + kBlockN > kv_tokens;
  float tile_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
  for (int i = 0; i < 64; ++i) {
    float x = s_acc[i] * scale_log2;
    if (ragged && n0 + (i / 4) * 8 + quad * 2 + (i & 1) >= kv_tokens) x = -INFINITY;
    s_acc[i] = x;
    tile_max[(i / 2) & 1] = fmaxf(tile_max[(i / 2) & 1], x);
  }
  float correction[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    tile_max[r] = fmaxf(tile_max[r], __shfl_xor_sync(0xffffffffu, tile_max[r], 1));
    tile_max[r] = fmaxf(tile_max[r], __shfl_xor_sync(0xffffffffu, tile_max[r], 2));
    const float new_max = fmaxf(row_max[r], tile_max[r]);
    correction[r] = row_max[r] == -INFINITY ? 0.0f : fast_exp2(row_max[r] - new_max);
    row_max[r] = new_max;
    row_sum[r] *= correction[r];
  }
#pragma unroll
  for (int i = 0; i < 64; ++i) o_acc[i] *= correction[(i / 2) & 1];
#pragma unroll
  for (int c = 0; c < kBlockN / 8; ++c) {  // n8 chunks
    float pr[4];
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      pr[e] = fast_exp2(s_acc[c * 4 + e] - row_max[e / 2]);
      row_sum[e / 2] += pr[e];
    }
    p_frag[c / 2][(c % 2) * 2 + 0] = pack_bf16(pr[0], pr[1]);
    p_frag[c / 2][(c % 2) * 2 + 1] = pack_bf16(pr[2], pr[3]);
  }
}

// O += P V for one 128-key tile: A = P from registers, B = the V^T tile (K-major over keys).
__device__ __forceinline__ void pv_tile(float (&o_acc)[64], const uint32_t (&p_frag)[kBlockN / 16][4],
                                        const char* v_tile) {
  sm90::wgmma_fence();
#pragma unroll
  for (int s = 0; s < kBlockN / 16; ++s) sm90::wgmma_m64n128k16_rs(o_acc, p_frag[s], desc_at(v_tile, 0, s));
  sm90::wgmma_commit();
  sm90::wgmma_wait_all();
}

// Normalises and stores this thread's two rows: row0 + lane/4 and row0 + lane/4 + 8.
__device__ __forceinline__ void store_rows(const FlashAttentionParams& p, const float (&o_acc)[64],
                                           const float (&row_sum)[2], int row0, int head, int batch, int lane) {
  const int quad = lane % 4;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float total = row_sum[r];
    total += __shfl_xor_sync(0xffffffffu, total, 1);
    total += __shfl_xor_sync(0xffffffffu, total, 2);
    const float inv = 1.0f / total;
    const int row = row0 + lane / 4 + r * 8;
    if (row >= p.q_tokens) continue;
    uint16_t* out = p.out + batch * p.out_batch_stride + static_cast<int64_t>(row) * p.out_token_stride +
                    head * kHeadDim;
#pragma unroll
    for (int c = 0; c < kHeadDim / 8; ++c) {
      *reinterpret_cast<uint32_t*>(out + c * 8 + quad * 2) =
          pack_bf16(o_acc[c * 4 + r * 2] * inv, o_acc[c * 4 + r * 2 + 1] * inv);
    }
  }
}

// grid: (ceil(q_tokens / 128), heads, batch); block: 256 threads (2 warpgroups x 64 rows).
// q, out: [batch, tokens, heads, 128] with token strides; k likewise; v_t: [batch, heads, 128,
// kv_pad] (transposed V, zero past kv_tokens).
__global__ void __launch_bounds__(kThreads, 1)
    flash_attention_fwd_sm90_kernel(const FlashAttentionParams p, const uint16_t* __restrict__ v_t, int kv_pad) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)  // wgmma exists only in sm_90a machine code
  extern __shared__ char smem_raw[];
  char* smem = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(smem_raw) + 1023) & ~uintptr_t(1023));
  char* q_tile = smem;
  char* k_tile = smem + kTileBytes;
  char* v_tile = smem + 2 * kTileBytes;

  const int wg = threadIdx.x / 128, warp = (threadIdx.x % 128) / 32, lane = threadIdx.x % 32;
  const int quad = lane % 4;
  const int m0 = blockIdx.x * kBlockM, head = blockIdx.y, batch = blockIdx.z;
  const uint16_t* q = p.q + batch * p.q_batch_stride + head * kHeadDim;
  const uint16_t* k = p.k + batch * p.kv_batch_stride + head * kHeadDim;
  const uint16_t* vt = v_t + (static_cast<int64_t>(batch) * p.heads + head) * kHeadDim * kv_pad;
  const float scale_log2 = p.scale * kLog2e;
  const int n_tiles = (p.kv_tokens + kBlockN - 1) / kBlockN;

  load_tile(q_tile, q, p.q_token_stride, m0, p.q_tokens);
  load_tile(k_tile, k, p.kv_token_stride, 0, p.kv_tokens);
  cp_async_commit();
  cp_async_wait_all_and_fence();
  __syncthreads();

  float o_acc[64];
#pragma unroll
  for (int i = 0; i < 64; ++i) o_acc[i] = 0.0f;
  float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.0f, 0.0f};

  for (int j = 0; j < n_tiles; ++j) {
    const int n0 = j * kBlockN;
    load_tile(v_tile, vt, kv_pad, 0, kHeadDim, n0, kv_pad);  // rows: head_dim, cols: keys
    cp_async_commit();

    float s_acc[64];
    uint32_t p_frag[kBlockN / 16][4];
    qk_tile(s_acc, q_tile, wg * 64, k_tile);
    online_softmax(s_acc, n0, p.kv_tokens, scale_log2, quad, row_max, row_sum, o_acc, p_frag);

    cp_async_wait_all_and_fence();  // V^T tile j
    __syncthreads();                // both warpgroups are done with K tile j
    if (j + 1 < n_tiles) {
      load_tile(k_tile, k, p.kv_token_stride, n0 + kBlockN, p.kv_tokens);
      cp_async_commit();
    }
    pv_tile(o_acc, p_frag, v_tile);
    cp_async_wait_all_and_fence();  // K tile j + 1
    __syncthreads();                // both warpgroups are done with V^T tile j
  }

  store_rows(p, o_acc, row_sum, m0 + wg * 64 + warp * 16, head, batch, lane);
#else
  __trap();  // built without sm_90a machine code: flash_attention_fwd_sm90_unsupported_reason says so
#endif
}


// Warp-specialised variant: warpgroup 0 is the producer (cp.async of K and V^T tiles into a
// two-stage ring, each stage handed over through "full"/"empty" mbarriers, no CTA barrier in
// the loop); warpgroups 1 and 2 are consumers of 64 query rows each. setmaxnreg moves
// registers from the producer (40) to the consumers (232).
constexpr int kWsThreads = 384;
constexpr int kWsStages = 2;
constexpr int kWsSmemBytes = (1 + 2 * kWsStages) * kTileBytes + 1024 + 64;

__global__ void __launch_bounds__(kWsThreads, 1)
    flash_attention_fwd_sm90_ws_kernel(const FlashAttentionParams p, const uint16_t* __restrict__ v_t, int kv_pad) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  extern __shared__ char smem_raw[];
  char* smem = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(smem_raw) + 1023) & ~uintptr_t(1023));
  char* q_tile = smem;
  char* k_ring = smem + kTileBytes;
  char* v_ring = smem + (1 + kWsStages) * kTileBytes;
  uint64_t* bars = reinterpret_cast<uint64_t*>(smem + (1 + 2 * kWsStages) * kTileBytes);
  uint64_t* q_full = bars;
  uint64_t* full = bars + 1;              // [kWsStages]
  uint64_t* empty = bars + 1 + kWsStages;  // [kWsStages]

  const int wg = threadIdx.x / 128, tid = threadIdx.x % 128;
  const int m0 = blockIdx.x * kBlockM, head = blockIdx.y, batch = blockIdx.z;
  const int n_tiles = (p.kv_tokens + kBlockN - 1) / kBlockN;
  if (threadIdx.x == 0) {
    mbar_init(q_full, 128);
    for (int s = 0; s < kWsStages; ++s) {
      mbar_init(&full[s], 128);
      mbar_init(&empty[s], 256);
    }
  }
  __syncthreads();

  if (wg == 0) {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\n");
    const uint16_t* q = p.q + batch * p.q_batch_stride + head * kHeadDim;
    const uint16_t* k = p.k + batch * p.kv_batch_stride + head * kHeadDim;
    const uint16_t* vt = v_t + (static_cast<int64_t>(batch) * p.heads + head) * kHeadDim * kv_pad;
    // 128 producer threads copy a 128 x 128 tile: 2048 16-byte chunks, 16 each.
    auto load = [&](char* tile, const uint16_t* base, int64_t row_stride, int row0, int limit, int col0, int col_limit) {
#pragma unroll 4
      for (int i = 0; i < 16; ++i) {
        const int c = tid + i * 128;
        const int row = c / 16, chunk = c % 16;
        const bool valid = row0 + row < limit && col0 + chunk * 8 < col_limit;
        const uint16_t* src = base + (valid ? static_cast<int64_t>(row0 + row) * row_stride + col0 + chunk * 8 : 0);
        cp_async_16(tile + tile_offset_bytes(row, chunk * 8), src, valid);
      }
    };
    load(q_tile, q, p.q_token_stride, m0, p.q_tokens, 0, 1 << 30);
    cp_async_commit();
    cp_async_wait_all_and_fence();
    mbar_arrive(q_full);
    for (int j = 0; j < n_tiles; ++j) {
      const int stage = j % kWsStages;
      mbar_wait(&empty[stage], ((j / kWsStages) & 1) ^ 1);  // first pass: free
      load(k_ring + stage * kTileBytes, k, p.kv_token_stride, j * kBlockN, p.kv_tokens, 0, 1 << 30);
      load(v_ring + stage * kTileBytes, vt, kv_pad, 0, kHeadDim, j * kBlockN, kv_pad);
      cp_async_commit();
      cp_async_wait_all_and_fence();
      mbar_arrive(&full[stage]);
    }
    return;
  }

  asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\n");
  const int cg = wg - 1;  // consumer group: query rows cg*64 .. cg*64+63
  const int warp = tid / 32, lane = tid % 32, quad = lane % 4;
  const float scale_log2 = p.scale * kLog2e;
  float o_acc[64];
#pragma unroll
  for (int i = 0; i < 64; ++i) o_acc[i] = 0.0f;
  float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.0f, 0.0f};
  mbar_wait(q_full, 0);
  for (int j = 0; j < n_tiles; ++j) {
    const int n0 = j * kBlockN, stage = j % kWsStages;
    const char* k_tile = k_ring + stage * kTileBytes;
    const char* v_tile = v_ring + stage * kTileBytes;
    mbar_wait(&full[stage], (j / kWsStages) & 1);
    float s_acc[64];
    uint32_t p_frag[kBlockN / 16][4];
    qk_tile(s_acc, q_tile, cg * 64, k_tile);
    online_softmax(s_acc, n0, p.kv_tokens, scale_log2, quad, row_max, row_sum, o_acc, p_frag);
    pv_tile(o_acc, p_frag, v_tile);
    mbar_arrive(&empty[stage]);  // this thread is done with the stage
  }
  store_rows(p, o_acc, row_sum, m0 + cg * 64 + warp * 16, head, batch, lane);
#else
  __trap();
#endif
}

// v: [batch, tokens, heads, 128] (token stride) -> v_t: [batch, heads, 128, kv_pad], zero past
// tokens. 32 x 32 tiles through shared memory. grid: (kv_pad/32, 128/32, batch*heads).
__global__ void transpose_v_kernel(const uint16_t* __restrict__ v, int64_t token_stride, int64_t batch_stride,
                                   int heads, int tokens, int kv_pad, uint16_t* __restrict__ v_t) {
  __shared__ uint16_t tile[32][33];
  const int bh = blockIdx.z, b = bh / heads, h = bh % heads;
  const int t0 = blockIdx.x * 32, d0 = blockIdx.y * 32;
  for (int i = threadIdx.y; i < 32; i += blockDim.y) {
    const int t = t0 + i, d = d0 + threadIdx.x;
    tile[i][threadIdx.x] = t < tokens ? v[b * batch_stride + static_cast<int64_t>(t) * token_stride + h * kHeadDim + d] : 0;
  }
  __syncthreads();
  for (int i = threadIdx.y; i < 32; i += blockDim.y) {
    const int d = d0 + i, t = t0 + threadIdx.x;
    if (t < kv_pad) v_t[(static_cast<int64_t>(bh) * kHeadDim + d) * kv_pad + t] = tile[threadIdx.x][i];
  }
}

bool default_is_warp_specialized() {
  static const bool on = [] {
    const char* env = std::getenv("WAN_ATTENTION_SM90_SCHEDULE");
    return !(env && std::string(env) == "plain");
  }();
  return on;
}

int padded_tokens(int kv_tokens) { return (kv_tokens + kTokenAlign - 1) / kTokenAlign * kTokenAlign; }

}  // namespace

size_t flash_attention_fwd_sm90_workspace_bytes(const FlashAttentionParams& p) {
  return static_cast<size_t>(p.batch) * p.heads * kHeadDim * padded_tokens(p.kv_tokens) * 2;
}

std::string flash_attention_fwd_sm90_unsupported_reason(const FlashAttentionParams& p) {
  const std::string base = flash_attention_fwd_unsupported_reason(p);
  if (!base.empty()) return base;
  if (p.head_dim != kHeadDim) return "the sm90 kernel supports head_dim 128 only";
  int device = 0, major = 0;
  cudaGetDevice(&device);
  cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
  if (major != 9) return "the sm90 kernel needs a Hopper GPU (compute capability 9.x)";
  cudaFuncAttributes attr{};
  if (cudaFuncGetAttributes(&attr, flash_attention_fwd_sm90_kernel) != cudaSuccess || attr.binaryVersion != 90) {
    cudaGetLastError();
    return "the sm90 kernel was not built as sm_90a machine code (--//tools/cuda:archs must include 90a)";
  }
  return "";
}

void launch_flash_attention_fwd_sm90(const FlashAttentionParams& p, void* workspace, cudaStream_t stream,
                                     Sm90Schedule schedule) {
  static const bool configured = [] {
    WAN_CUDA_CHECK(cudaFuncSetAttribute(flash_attention_fwd_sm90_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        kSmemBytes));
    WAN_CUDA_CHECK(cudaFuncSetAttribute(flash_attention_fwd_sm90_ws_kernel,
                                        cudaFuncAttributeMaxDynamicSharedMemorySize, kWsSmemBytes));
    return true;
  }();
  (void)configured;
  const int kv_pad = padded_tokens(p.kv_tokens);
  uint16_t* v_t = static_cast<uint16_t*>(workspace);
  const dim3 tgrid((kv_pad + 31) / 32, kHeadDim / 32, p.batch * p.heads);
  transpose_v_kernel<<<tgrid, dim3(32, 8), 0, stream>>>(p.v, p.kv_token_stride, p.kv_batch_stride, p.heads,
                                                       p.kv_tokens, kv_pad, v_t);
  WAN_CUDA_CHECK_LAUNCH();
  const dim3 grid((p.q_tokens + kBlockM - 1) / kBlockM, p.heads, p.batch);
  const bool warp_specialized = schedule == Sm90Schedule::kWarpSpecialized ||
                                (schedule == Sm90Schedule::kDefault && default_is_warp_specialized());
  if (warp_specialized) {
    flash_attention_fwd_sm90_ws_kernel<<<grid, kWsThreads, kWsSmemBytes, stream>>>(p, v_t, kv_pad);
  } else {
    flash_attention_fwd_sm90_kernel<<<grid, kThreads, kSmemBytes, stream>>>(p, v_t, kv_pad);
  }
  WAN_CUDA_CHECK_LAUNCH();
}

}  // namespace wan
