#include "kernels/attention/flash/flash_attention_fwd_sm90.h"

#include <cuda_bf16.h>

#include "kernels/attention/block_sparse/block_sparse_attention_sm90.h"
#include "kernels/attention/common/attention_device.cuh"
#include "kernels/attention/common/sm90_attention_tiles.cuh"
#include "kernels/common/cuda_check.h"

// The compute_90 PTX pass compiles the kernel body out (no wgmma there), leaving helpers unused.
#pragma nv_diag_suppress 177

namespace wan {
namespace {

constexpr int kHeadDim = 128;
constexpr int kThreads = 256;  // two warpgroups
constexpr int kBlockM = 128;   // query rows per CTA
constexpr int kBlockN = 128;   // keys per tile
constexpr int kTileBytes = 128 * 128 * 2;
constexpr int kSmemBytes = 3 * kTileBytes + 1024;  // Q, K, V^T, plus alignment slack

// Rows [row0, row0+128) x columns [col0, col0+128) of a row-major global matrix (row stride in
// elements); rows >= limit are zero-filled.
__device__ __forceinline__ void load_tile(char* tile, const uint16_t* base, int64_t row_stride, int row0, int limit,
                                          int col0 = 0) {
#pragma unroll
  for (int i = 0; i < (128 * 16) / kThreads; ++i) {
    const int c = threadIdx.x + i * kThreads;
    const int row = c / 16, chunk = c % 16;
    const bool valid = row0 + row < limit;
    const uint16_t* src = base + (valid ? static_cast<int64_t>(row0 + row) * row_stride + col0 + chunk * 8 : 0);
    attn::cp_async_16(tile + attn::swizzled_offset<128>(row, chunk * 8), src, valid);
  }
}

// grid: (ceil(q_tokens / 128), heads, batch); block: 256 threads (2 warpgroups x 64 rows).
// q, out: [batch, tokens, heads, 128] with token strides; k likewise; v_t: [batch, heads, 128,
// vt_cols] (transposed V, zero past kv_tokens).
__global__ void __launch_bounds__(kThreads, 1)
    flash_attention_fwd_sm90_plain_kernel(const FlashAttentionParams p, const uint16_t* __restrict__ v_t, int vt_cols) {
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
  const uint16_t* vt = v_t + (static_cast<int64_t>(batch) * p.heads + head) * kHeadDim * vt_cols;
  const float scale_log2 = p.scale * attn::kLog2e;
  const int n_tiles = (p.kv_tokens + kBlockN - 1) / kBlockN;

  load_tile(q_tile, q, p.q_token_stride, m0, p.q_tokens);
  load_tile(k_tile, k, p.kv_token_stride, 0, p.kv_tokens);
  attn::cp_async_commit();
  attn::cp_async_wait_all_and_fence();
  __syncthreads();

  float o_acc[64];
#pragma unroll
  for (int i = 0; i < 64; ++i) o_acc[i] = 0.0f;
  float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.0f, 0.0f};

  for (int j = 0; j < n_tiles; ++j) {
    const int n0 = j * kBlockN;
    load_tile(v_tile, vt, vt_cols, 0, kHeadDim, n0);  // rows: head_dim, cols: keys
    attn::cp_async_commit();

    float s_acc[64];
    uint32_t p_frag[kBlockN / 16][4];
    attn::qk_tile<kHeadDim, kBlockM, kBlockN>(s_acc, q_tile, wg * 64, k_tile);
    attn::online_softmax<kHeadDim, kBlockN>(s_acc, min(kBlockN, p.kv_tokens - n0), scale_log2, quad, row_max,
                                            row_sum, o_acc, p_frag);

    attn::cp_async_wait_all_and_fence();  // V^T tile j
    __syncthreads();                      // both warpgroups are done with K tile j
    if (j + 1 < n_tiles) {
      load_tile(k_tile, k, p.kv_token_stride, n0 + kBlockN, p.kv_tokens);
      attn::cp_async_commit();
    }
    attn::pv_tile<kHeadDim, kBlockN>(o_acc, p_frag, v_tile);
    attn::cp_async_wait_all_and_fence();  // K tile j + 1
    __syncthreads();                      // both warpgroups are done with V^T tile j
  }
  attn::store_rows<kHeadDim>(o_acc, row_sum, row_max, p.out + batch * p.out_batch_stride + head * kHeadDim,
                             p.out_token_stride, m0, wg * 64 + warp * 16, min(kBlockM, p.q_tokens - m0), lane,
                             nullptr);
#else
  __trap();  // built without sm_90a machine code: flash_attention_fwd_sm90_plain_unsupported_reason says so
#endif
}

}  // namespace

size_t flash_attention_fwd_sm90_plain_workspace_bytes(const FlashAttentionParams& p) {
  return block_sparse_attention_sm90_workspace_bytes(dense_block_sparse_params(p));
}

std::string flash_attention_fwd_sm90_plain_unsupported_reason(const FlashAttentionParams& p) {
  const std::string base = flash_attention_fwd_unsupported_reason(p);
  if (!base.empty()) return base;
  if (p.head_dim != kHeadDim) return "the sm90 plain kernel supports head_dim 128 only";
  return block_sparse_attention_sm90_unsupported_reason(dense_block_sparse_params(p));
}

void launch_flash_attention_fwd_sm90_plain(const FlashAttentionParams& p, void* workspace, cudaStream_t stream) {
  static const bool configured = [] {
    WAN_CUDA_CHECK(cudaFuncSetAttribute(flash_attention_fwd_sm90_plain_kernel,
                                        cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemBytes));
    return true;
  }();
  (void)configured;
  const BlockSparseAttentionParams b = dense_block_sparse_params(p);
  uint16_t* v_t = static_cast<uint16_t*>(workspace);
  launch_transpose_v_blocks(b, v_t, stream);
  const int vt_cols = b.schedule.kv_blocks * kBlockN;
  const dim3 grid((p.q_tokens + kBlockM - 1) / kBlockM, p.heads, p.batch);
  flash_attention_fwd_sm90_plain_kernel<<<grid, kThreads, kSmemBytes, stream>>>(p, v_t, vt_cols);
  WAN_CUDA_CHECK_LAUNCH();
}

}  // namespace wan
