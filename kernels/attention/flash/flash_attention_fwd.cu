#include "kernels/attention/flash/flash_attention_fwd.h"

#include <cuda_bf16.h>

#include "kernels/attention/common/attention_device.cuh"
#include "kernels/common/cuda_check.h"

namespace wan {
namespace {

using attn::kLog2e;
constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
// Each warp owns kMTiles x 16 query rows, so every K/V fragment read from shared memory feeds
// kMTiles MMAs: 128 x 64 tiles reached 1.3x the throughput of 64 x 64 (one m16 tile per warp)
// on an H100 at 32,760 tokens (reports/2026-11-27-h100-kernels).
constexpr int kMTiles = 2;
constexpr int kBlockM = kWarps * 16 * kMTiles;  // 128 query rows per CTA
constexpr int kBlockN = 64;                     // keys per tile

// Shared-memory tile [rows][kHeadDim] bf16 with 16-byte chunks XOR-swizzled by row % 8, so the
// 8 rows an ldmatrix reads hit 8 different bank groups.
template <int kHeadDim>
__device__ __forceinline__ int swizzled(int row, int col) {
  return row * kHeadDim + ((((col >> 3) ^ (row & 7))) << 3) + (col & 7);
}

using attn::cp_async_16;
using attn::cp_async_commit;
using attn::cp_async_wait_all;
using attn::fast_exp2;
using attn::mma_bf16_16816;
using attn::pack_bf16;
using attn::smem_addr;

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}


// Loads rows [row0, row0 + kRows) of one head into a swizzled tile; rows >= limit are zeros.
template <int kHeadDim, int kRows>
__device__ __forceinline__ void load_tile(uint16_t* tile, const uint16_t* base, int64_t token_stride,
                                          int row0, int limit) {
  constexpr int kChunks = kHeadDim / 8;
#pragma unroll
  for (int c = threadIdx.x; c < kRows * kChunks; c += kThreads) {
    const int row = c / kChunks, chunk = c % kChunks;
    const bool valid = row0 + row < limit;
    const uint16_t* src = base + static_cast<int64_t>(valid ? row0 + row : 0) * token_stride + chunk * 8;
    cp_async_16(tile + swizzled<kHeadDim>(row, chunk * 8), src, valid);
  }
}

template <int kHeadDim>
constexpr int smem_bytes() {
  return (kBlockM + 2 * kBlockN) * kHeadDim * 2;
}

// grid: (ceil(q_tokens / 128), heads, batch); block: 128 threads (4 warps x 32 query rows).
// q, k, v, out: [batch, tokens, heads, kHeadDim] bf16 with token strides. Dynamic shared
// memory: Q [128][d], K [64][d], V [64][d].
template <int kHeadDim>
__global__ void __launch_bounds__(kThreads)
    flash_attention_fwd_kernel(const FlashAttentionParams p) {
  extern __shared__ __align__(128) uint16_t smem[];
  uint16_t* q_tile = smem;
  uint16_t* k_tile = q_tile + kBlockM * kHeadDim;
  uint16_t* v_tile = k_tile + kBlockN * kHeadDim;

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int group = lane / 4, quad = lane % 4;  // mma fragment coordinates
  const int m0 = blockIdx.x * kBlockM, head = blockIdx.y, batch = blockIdx.z;
  const uint16_t* q = p.q + batch * p.q_batch_stride + head * kHeadDim;
  const uint16_t* k = p.k + batch * p.kv_batch_stride + head * kHeadDim;
  const uint16_t* v = p.v + batch * p.kv_batch_stride + head * kHeadDim;
  const float scale_log2 = p.scale * kLog2e;
  const int n_tiles = (p.kv_tokens + kBlockN - 1) / kBlockN;

  load_tile<kHeadDim, kBlockM>(q_tile, q, p.q_token_stride, m0, p.q_tokens);
  load_tile<kHeadDim, kBlockN>(k_tile, k, p.kv_token_stride, 0, p.kv_tokens);
  cp_async_commit();
  cp_async_wait_all();
  __syncthreads();

  constexpr int kSteps = kHeadDim / 16;
  constexpr int kOutTiles = kHeadDim / 8;
  float o_acc[kMTiles][kOutTiles][4] = {};
  float row_max[kMTiles][2], row_sum[kMTiles][2];  // rows group and group + 8 of each m-tile
#pragma unroll
  for (int mt = 0; mt < kMTiles; ++mt) {
    row_max[mt][0] = row_max[mt][1] = -INFINITY;
    row_sum[mt][0] = row_sum[mt][1] = 0.0f;
  }

  for (int j = 0; j < n_tiles; ++j) {
    const int n0 = j * kBlockN;
    load_tile<kHeadDim, kBlockN>(v_tile, v, p.kv_token_stride, n0, p.kv_tokens);
    cp_async_commit();

    // S = Q K^T: per m-tile 16 rows x 64 keys (8 n-tiles of m16n8). Each K fragment feeds
    // every m-tile.
    float s_acc[kMTiles][kBlockN / 8][4] = {};
#pragma unroll
    for (int s = 0; s < kSteps; ++s) {
      uint32_t q_frag[kMTiles][4];
#pragma unroll
      for (int mt = 0; mt < kMTiles; ++mt) {
        const int row = warp * 16 * kMTiles + mt * 16 + (lane % 16), col = s * 16 + (lane / 16) * 8;
        ldmatrix_x4(q_frag[mt], q_tile + swizzled<kHeadDim>(row, col));
      }
#pragma unroll
      for (int nt = 0; nt < kBlockN / 8; nt += 2) {
        uint32_t b[4];
        const int key = nt * 8 + (lane % 8) + (lane / 16) * 8;
        const int col = s * 16 + ((lane / 8) % 2) * 8;
        ldmatrix_x4(b, k_tile + swizzled<kHeadDim>(key, col));
#pragma unroll
        for (int mt = 0; mt < kMTiles; ++mt) {
          mma_bf16_16816(s_acc[mt][nt], q_frag[mt], b[0], b[1]);
          mma_bf16_16816(s_acc[mt][nt + 1], q_frag[mt], b[2], b[3]);
        }
      }
    }

    // Online softmax in the log2 domain; keys past kv_tokens are masked (last tile only).
    const bool ragged = n0 + kBlockN > p.kv_tokens;
    uint32_t p_frag[kMTiles][kBlockN / 16][4];
#pragma unroll
    for (int mt = 0; mt < kMTiles; ++mt) {
      float tile_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
      for (int nt = 0; nt < kBlockN / 8; ++nt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          float x = s_acc[mt][nt][e] * scale_log2;
          if (ragged && n0 + nt * 8 + quad * 2 + (e & 1) >= p.kv_tokens) x = -INFINITY;
          s_acc[mt][nt][e] = x;
          tile_max[e / 2] = fmaxf(tile_max[e / 2], x);
        }
      }
      float correction[2];
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        tile_max[r] = fmaxf(tile_max[r], __shfl_xor_sync(0xffffffffu, tile_max[r], 1));
        tile_max[r] = fmaxf(tile_max[r], __shfl_xor_sync(0xffffffffu, tile_max[r], 2));
        const float new_max = fmaxf(row_max[mt][r], tile_max[r]);
        correction[r] = row_max[mt][r] == -INFINITY ? 0.0f : fast_exp2(row_max[mt][r] - new_max);
        row_max[mt][r] = new_max;
        row_sum[mt][r] *= correction[r];
      }
#pragma unroll
      for (int t = 0; t < kOutTiles; ++t) {
        o_acc[mt][t][0] *= correction[0];
        o_acc[mt][t][1] *= correction[0];
        o_acc[mt][t][2] *= correction[1];
        o_acc[mt][t][3] *= correction[1];
      }
#pragma unroll
      for (int nt = 0; nt < kBlockN / 8; ++nt) {
        float pr[4];
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          pr[e] = fast_exp2(s_acc[mt][nt][e] - row_max[mt][e / 2]);
          row_sum[mt][e / 2] += pr[e];
        }
        // m16n8 accumulators of n-tiles 2kk, 2kk+1 form the A fragment of k-step kk.
        p_frag[mt][nt / 2][(nt % 2) * 2 + 0] = pack_bf16(pr[0], pr[1]);
        p_frag[mt][nt / 2][(nt % 2) * 2 + 1] = pack_bf16(pr[2], pr[3]);
      }
    }

    cp_async_wait_all();  // V tile j
    __syncthreads();      // every warp is done with K tile j
    if (j + 1 < n_tiles) {
      load_tile<kHeadDim, kBlockN>(k_tile, k, p.kv_token_stride, n0 + kBlockN, p.kv_tokens);
      cp_async_commit();
    }
    // O += P V: k = keys (16 per step), n = head_dim; each V fragment feeds every m-tile.
#pragma unroll
    for (int s = 0; s < kBlockN / 16; ++s) {
#pragma unroll
      for (int t = 0; t < kOutTiles; t += 2) {
        uint32_t b[4];
        const int key = s * 16 + (lane % 8) + ((lane / 8) % 2) * 8;
        const int col = t * 8 + (lane / 16) * 8;
        ldmatrix_x4_trans(b, v_tile + swizzled<kHeadDim>(key, col));
#pragma unroll
        for (int mt = 0; mt < kMTiles; ++mt) {
          mma_bf16_16816(o_acc[mt][t], p_frag[mt][s], b[0], b[1]);
          mma_bf16_16816(o_acc[mt][t + 1], p_frag[mt][s], b[2], b[3]);
        }
      }
    }
    cp_async_wait_all();  // K tile j + 1
    __syncthreads();      // every warp is done with V tile j
  }

  // Normalise and store: rows group and group + 8 of each m-tile of this warp.
#pragma unroll
  for (int mt = 0; mt < kMTiles; ++mt) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float total = row_sum[mt][r];
      total += __shfl_xor_sync(0xffffffffu, total, 1);
      total += __shfl_xor_sync(0xffffffffu, total, 2);
      const float inv = 1.0f / total;
      const int row = m0 + warp * 16 * kMTiles + mt * 16 + group + r * 8;
      if (row >= p.q_tokens) continue;
      uint16_t* out = p.out + batch * p.out_batch_stride + static_cast<int64_t>(row) * p.out_token_stride +
                      head * kHeadDim;
#pragma unroll
      for (int t = 0; t < kOutTiles; ++t) {
        *reinterpret_cast<uint32_t*>(out + t * 8 + quad * 2) =
            pack_bf16(o_acc[mt][t][r * 2] * inv, o_acc[mt][t][r * 2 + 1] * inv);
      }
    }
  }
}

}  // namespace

std::string flash_attention_fwd_unsupported_reason(const FlashAttentionParams& p) {
  if (p.head_dim != 64 && p.head_dim != 128)
    return "head_dim " + std::to_string(p.head_dim) + " is not supported (64 or 128)";
  if (p.batch < 1 || p.heads < 1 || p.q_tokens < 1 || p.kv_tokens < 1)
    return "batch, heads and token counts must be positive";
  if (p.q_tokens > 2147483647 - kBlockM || p.heads > 65535 || p.batch > 65535) return "grid too large";
  auto aligned = [](const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; };
  if (!aligned(p.q) || !aligned(p.k) || !aligned(p.v) || !aligned(p.out))
    return "q, k, v and out must be 16-byte aligned";
  if (p.q_token_stride % 8 || p.kv_token_stride % 8 || p.out_token_stride % 2 ||
      p.q_batch_stride % 8 || p.kv_batch_stride % 8)
    return "token and batch strides must be multiples of 8 elements";
  return "";
}

template <int kHeadDim>
void launch_for_head_dim(const FlashAttentionParams& p, cudaStream_t stream) {
  static const bool configured = [] {
    WAN_CUDA_CHECK(cudaFuncSetAttribute(flash_attention_fwd_kernel<kHeadDim>,
                                        cudaFuncAttributeMaxDynamicSharedMemorySize, smem_bytes<kHeadDim>()));
    return true;
  }();
  (void)configured;
  const dim3 grid((p.q_tokens + kBlockM - 1) / kBlockM, p.heads, p.batch);
  flash_attention_fwd_kernel<kHeadDim><<<grid, kThreads, smem_bytes<kHeadDim>(), stream>>>(p);
  WAN_CUDA_CHECK_LAUNCH();
}

void launch_flash_attention_fwd(const FlashAttentionParams& p, cudaStream_t stream) {
  if (p.head_dim == 64) {
    launch_for_head_dim<64>(p, stream);
  } else {
    launch_for_head_dim<128>(p, stream);
  }
}

}  // namespace wan
