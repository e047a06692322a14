#include "kernels/norm/dit_norms.h"

#include <type_traits>

#include "kernels/common/cuda_check.h"
#include "kernels/common/float16.h"

namespace wan {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxVecPerThread = 4;  // 256 threads x 4 x 8 = 8192 values per row

struct Vec8 {
  float v[8];
};

__device__ __forceinline__ Vec8 load8(const uint16_t* p) {
  const uint4 raw = *reinterpret_cast<const uint4*>(p);
  const uint32_t words[4] = {raw.x, raw.y, raw.z, raw.w};
  Vec8 out;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    out.v[2 * i] = bf16_bits_to_f32(static_cast<uint16_t>(words[i] & 0xffffu));
    out.v[2 * i + 1] = bf16_bits_to_f32(static_cast<uint16_t>(words[i] >> 16));
  }
  return out;
}

__device__ __forceinline__ void store8(uint16_t* p, const Vec8& x) {
  uint32_t words[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    words[i] = static_cast<uint32_t>(f32_to_bf16_bits(x.v[2 * i])) |
               (static_cast<uint32_t>(f32_to_bf16_bits(x.v[2 * i + 1])) << 16);
  }
  *reinterpret_cast<uint4*>(p) = make_uint4(words[0], words[1], words[2], words[3]);
}

// Block-wide sum with a fixed tree (warp shuffles, then warp 0 over the partials).
__device__ __forceinline__ float block_sum(float x, float* scratch) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) scratch[warp] = x;
  __syncthreads();
  float total = 0.0f;
  if (warp == 0) {
    total = lane < kThreads / 32 ? scratch[lane] : 0.0f;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) total += __shfl_xor_sync(0xffffffffu, total, o);
    if (lane == 0) scratch[kThreads / 32] = total;
  }
  __syncthreads();
  total = scratch[kThreads / 32];
  __syncthreads();
  return total;
}

// The row kernels are instantiated per kVecs = the most 8-value vectors a thread holds
// (ceil(dim / 8 / kThreads), 1..4), and every loop over a thread's slots is unrolled to kVecs
// with a guard, so the slots live in registers (a loop to a run-time count put them in local
// memory). The order of every sum is the same as the run-time loop's: slot 0 first.

// Mean and 1/sqrt(var + eps) of the values this thread holds (vals[n] vectors of 8).
template <int kVecs>
__device__ __forceinline__ void row_stats(const Vec8 (&vals)[kVecs], int nvec, int64_t dim, float eps,
                                          float* scratch, float* mean, float* rstd) {
  float s = 0.0f;
#pragma unroll
  for (int i = 0; i < kVecs; ++i)
    if (i < nvec)
#pragma unroll
      for (int j = 0; j < 8; ++j) s += vals[i].v[j];
  const float m = block_sum(s, scratch) / static_cast<float>(dim);
  float q = 0.0f;
#pragma unroll
  for (int i = 0; i < kVecs; ++i)
    if (i < nvec)
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        const float d = vals[i].v[j] - m;
        q += d * d;
      }
  const float var = block_sum(q, scratch) / static_cast<float>(dim);
  *mean = m;
  *rstd = rsqrtf(var + eps);
}

// Vector slots of this thread: columns (threadIdx.x + i * kThreads) * 8.
__device__ __forceinline__ int vec_count(int64_t dim) {
  const int total = static_cast<int>(dim / 8);
  return (total - static_cast<int>(threadIdx.x) + kThreads - 1) / kThreads;
}

// grid: rows; block: 256. x, out: [rows, dim] bf16.
template <int kVecs>
__global__ void __launch_bounds__(kThreads)
    layer_norm_modulate_kernel(const uint16_t* __restrict__ x, const float* __restrict__ shift,
                               const float* __restrict__ scale, uint16_t* __restrict__ out,
                               int64_t dim, float eps) {
  __shared__ float scratch[kThreads / 32 + 1];
  const int64_t row = blockIdx.x;
  const int nvec = vec_count(dim);
  Vec8 vals[kVecs];
#pragma unroll
  for (int i = 0; i < kVecs; ++i)
    if (i < nvec) vals[i] = load8(x + row * dim + (threadIdx.x + i * kThreads) * 8);
  float mean, rstd;
  row_stats(vals, nvec, dim, eps, scratch, &mean, &rstd);
#pragma unroll
  for (int i = 0; i < kVecs; ++i) {
    if (i >= nvec) break;
    const int c0 = (threadIdx.x + i * kThreads) * 8;
    Vec8 y;
#pragma unroll
    for (int j = 0; j < 8; ++j) y.v[j] = (vals[i].v[j] - mean) * rstd * (1.0f + scale[c0 + j]) + shift[c0 + j];
    store8(out + row * dim + c0, y);
  }
}

template <int kVecs>
__global__ void __launch_bounds__(kThreads)
    gated_residual_layer_norm_kernel(const uint16_t* __restrict__ x, const uint16_t* __restrict__ attn,
                                     const float* __restrict__ gate, const uint16_t* __restrict__ weight,
                                     const uint16_t* __restrict__ bias, uint16_t* __restrict__ h_out,
                                     uint16_t* __restrict__ n_out, int64_t dim, float eps) {
  __shared__ float scratch[kThreads / 32 + 1];
  const int64_t row = blockIdx.x;
  const int nvec = vec_count(dim);
  Vec8 h[kVecs];
#pragma unroll
  for (int i = 0; i < kVecs; ++i) {
    if (i >= nvec) break;
    const int c0 = (threadIdx.x + i * kThreads) * 8;
    const Vec8 xv = load8(x + row * dim + c0), av = load8(attn + row * dim + c0);
#pragma unroll
    for (int j = 0; j < 8; ++j) h[i].v[j] = xv.v[j] + av.v[j] * gate[c0 + j];
    store8(h_out + row * dim + c0, h[i]);
  }
  float mean, rstd;
  row_stats(h, nvec, dim, eps, scratch, &mean, &rstd);
#pragma unroll
  for (int i = 0; i < kVecs; ++i) {
    if (i >= nvec) break;
    const int c0 = (threadIdx.x + i * kThreads) * 8;
    const Vec8 w = load8(weight + c0), b = load8(bias + c0);
    Vec8 y;
#pragma unroll
    for (int j = 0; j < 8; ++j) y.v[j] = (h[i].v[j] - mean) * rstd * w.v[j] + b.v[j];
    store8(n_out + row * dim + c0, y);
  }
}

template <int kVecs>
__global__ void __launch_bounds__(kThreads)
    residual_add_layer_norm_modulate_kernel(uint16_t* __restrict__ h, const uint16_t* __restrict__ add,
                                            const float* __restrict__ shift, const float* __restrict__ scale,
                                            uint16_t* __restrict__ out, int64_t dim, float eps) {
  __shared__ float scratch[kThreads / 32 + 1];
  const int64_t row = blockIdx.x;
  const int nvec = vec_count(dim);
  Vec8 vals[kVecs];
#pragma unroll
  for (int i = 0; i < kVecs; ++i) {
    if (i >= nvec) break;
    const int c0 = (threadIdx.x + i * kThreads) * 8;
    const Vec8 hv = load8(h + row * dim + c0), av = load8(add + row * dim + c0);
#pragma unroll
    for (int j = 0; j < 8; ++j) vals[i].v[j] = round_to_bf16(hv.v[j] + av.v[j]);
    store8(h + row * dim + c0, vals[i]);
  }
  float mean, rstd;
  row_stats(vals, nvec, dim, eps, scratch, &mean, &rstd);
#pragma unroll
  for (int i = 0; i < kVecs; ++i) {
    if (i >= nvec) break;
    const int c0 = (threadIdx.x + i * kThreads) * 8;
    Vec8 y;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const float n = round_to_bf16((vals[i].v[j] - mean) * rstd);
      y.v[j] = n * (1.0f + scale[c0 + j]) + shift[c0 + j];
    }
    store8(out + row * dim + c0, y);
  }
}

// grid-stride over rows * dim / 8 vectors.
__global__ void gated_residual_kernel(const uint16_t* __restrict__ h, const uint16_t* __restrict__ f,
                                      const float* __restrict__ gate, uint16_t* __restrict__ x_out,
                                      int64_t vectors, int64_t dim) {
  for (int64_t v = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; v < vectors;
       v += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t c0 = (v * 8) % dim;
    const Vec8 hv = load8(h + v * 8), fv = load8(f + v * 8);
    Vec8 y;
#pragma unroll
    for (int j = 0; j < 8; ++j) y.v[j] = hv.v[j] + fv.v[j] * gate[c0 + j];
    store8(x_out + v * 8, y);
  }
}

// One row of x (and, for the pair launch, the same row of y: q and k of one fused QKV row in
// one block, sharing the row's RoPE table reads). Each tensor's sum of squares goes through
// block_sum exactly as a launch of that tensor alone sums it, so the pair gives the same bits
// as two single launches (tested). The RoPE values are read before the reductions, to overlap
// their latency.
template <int kVecs, bool kPair>
__global__ void __launch_bounds__(kThreads)
    qk_norm_rope_kernel(uint16_t* __restrict__ x, uint16_t* __restrict__ y, int64_t ld,
                        const uint16_t* __restrict__ x_weight, const uint16_t* __restrict__ y_weight,
                        const float* __restrict__ cos_table, const float* __restrict__ sin_table,
                        int64_t dim, int64_t head_dim, float eps) {
  constexpr int kTensors = kPair ? 2 : 1;
  __shared__ float scratch[kThreads / 32 + 1];
  const int64_t row = blockIdx.x;
  uint16_t* const rows[2] = {x + row * ld, kPair ? y + row * ld : nullptr};
  const uint16_t* const weights[2] = {x_weight, y_weight};
  const int nvec = vec_count(dim);
  Vec8 vals[kTensors][kVecs];
  float sq[kTensors];
#pragma unroll
  for (int t = 0; t < kTensors; ++t) {
    sq[t] = 0.0f;
#pragma unroll
    for (int i = 0; i < kVecs; ++i) {
      if (i >= nvec) break;
      vals[t][i] = load8(rows[t] + (threadIdx.x + i * kThreads) * 8);
#pragma unroll
      for (int j = 0; j < 8; ++j) sq[t] += vals[t][i].v[j] * vals[t][i].v[j];
    }
  }
  const int64_t pairs = head_dim / 2;
  float rope_cos[kVecs][4], rope_sin[kVecs][4];
  if (cos_table) {
#pragma unroll
    for (int i = 0; i < kVecs; ++i) {
      if (i >= nvec) break;
      const int c0 = (threadIdx.x + i * kThreads) * 8;
#pragma unroll
      for (int p = 0; p < 4; ++p) {
        const int64_t pair = ((c0 + 2 * p) % head_dim) / 2;
        rope_cos[i][p] = cos_table[row * pairs + pair];
        rope_sin[i][p] = sin_table[row * pairs + pair];
      }
    }
  }
  float rstd[kTensors];
#pragma unroll
  for (int t = 0; t < kTensors; ++t) rstd[t] = rsqrtf(block_sum(sq[t], scratch) / static_cast<float>(dim) + eps);
#pragma unroll
  for (int t = 0; t < kTensors; ++t) {
#pragma unroll
    for (int i = 0; i < kVecs; ++i) {
      if (i >= nvec) break;
      const int c0 = (threadIdx.x + i * kThreads) * 8;
      const Vec8 w = load8(weights[t] + c0);
      Vec8 out;
#pragma unroll
      for (int j = 0; j < 8; ++j) out.v[j] = round_to_bf16(round_to_bf16(vals[t][i].v[j] * rstd[t]) * w.v[j]);
      if (cos_table) {
#pragma unroll
        for (int j = 0; j < 8; j += 2) {
          const float c = rope_cos[i][j / 2], s = rope_sin[i][j / 2];
          const float x0 = out.v[j], x1 = out.v[j + 1];
          out.v[j] = __fsub_rn(__fmul_rn(x0, c), __fmul_rn(x1, s));
          out.v[j + 1] = __fadd_rn(__fmul_rn(x0, s), __fmul_rn(x1, c));
        }
      }
      store8(rows[t] + c0, out);
    }
  }
}

int row_grid_check(int64_t rows, int64_t dim) {
  if (dim % 8 != 0 || dim > kThreads * kMaxVecPerThread * 8 || rows > 2147483647) {
    fprintf(stderr, "dit_norms: unsupported shape rows=%lld dim=%lld (dim %% 8 == 0, dim <= 8192)\n",
            static_cast<long long>(rows), static_cast<long long>(dim));
    std::abort();
  }
  return static_cast<int>(rows);
}

// Calls launch(std::integral_constant<int, V>) with V = the vector slots per thread for dim
// (1..4; dim checked by row_grid_check first).
template <typename Launch>
void by_vec_slots(int64_t dim, Launch&& launch) {
  switch ((dim / 8 + kThreads - 1) / kThreads) {
    case 0:
    case 1: launch(std::integral_constant<int, 1>()); break;
    case 2: launch(std::integral_constant<int, 2>()); break;
    case 3: launch(std::integral_constant<int, 3>()); break;
    default: launch(std::integral_constant<int, kMaxVecPerThread>()); break;
  }
}

}  // namespace

void launch_layer_norm_modulate(const uint16_t* x, const float* shift, const float* scale, uint16_t* out,
                                int64_t rows, int64_t dim, float eps, cudaStream_t stream) {
  const int grid = row_grid_check(rows, dim);
  by_vec_slots(dim, [&](auto slots) {
    layer_norm_modulate_kernel<decltype(slots)::value><<<grid, kThreads, 0, stream>>>(x, shift, scale, out, dim, eps);
  });
  WAN_CUDA_CHECK_LAUNCH();
}

void launch_gated_residual_layer_norm(const uint16_t* x, const uint16_t* attn, const float* gate,
                                      const uint16_t* weight, const uint16_t* bias, uint16_t* h_out,
                                      uint16_t* n_out, int64_t rows, int64_t dim, float eps, cudaStream_t stream) {
  const int grid = row_grid_check(rows, dim);
  by_vec_slots(dim, [&](auto slots) {
    gated_residual_layer_norm_kernel<decltype(slots)::value>
        <<<grid, kThreads, 0, stream>>>(x, attn, gate, weight, bias, h_out, n_out, dim, eps);
  });
  WAN_CUDA_CHECK_LAUNCH();
}

void launch_residual_add_layer_norm_modulate(uint16_t* h, const uint16_t* add, const float* shift,
                                             const float* scale, uint16_t* out, int64_t rows, int64_t dim,
                                             float eps, cudaStream_t stream) {
  const int grid = row_grid_check(rows, dim);
  by_vec_slots(dim, [&](auto slots) {
    residual_add_layer_norm_modulate_kernel<decltype(slots)::value>
        <<<grid, kThreads, 0, stream>>>(h, add, shift, scale, out, dim, eps);
  });
  WAN_CUDA_CHECK_LAUNCH();
}

void launch_gated_residual(const uint16_t* h, const uint16_t* f, const float* gate, uint16_t* x_out, int64_t rows,
                           int64_t dim, cudaStream_t stream) {
  row_grid_check(rows, dim);
  const int64_t vectors = rows * dim / 8;
  const int blocks = static_cast<int>(std::min<int64_t>((vectors + 255) / 256, 4096));
  gated_residual_kernel<<<blocks, 256, 0, stream>>>(h, f, gate, x_out, vectors, dim);
  WAN_CUDA_CHECK_LAUNCH();
}

void launch_qk_norm_rope(uint16_t* x, int64_t ld, const uint16_t* weight, const float* cos, const float* sin,
                         int64_t rows, int64_t dim, int64_t head_dim, float eps, cudaStream_t stream) {
  const int grid = row_grid_check(rows, dim);
  by_vec_slots(dim, [&](auto slots) {
    qk_norm_rope_kernel<decltype(slots)::value, false>
        <<<grid, kThreads, 0, stream>>>(x, nullptr, ld, weight, nullptr, cos, sin, dim, head_dim, eps);
  });
  WAN_CUDA_CHECK_LAUNCH();
}

void launch_qk_norm_rope_pair(uint16_t* q, uint16_t* k, int64_t ld, const uint16_t* q_weight,
                              const uint16_t* k_weight, const float* cos, const float* sin, int64_t rows,
                              int64_t dim, int64_t head_dim, float eps, cudaStream_t stream) {
  const int grid = row_grid_check(rows, dim);
  by_vec_slots(dim, [&](auto slots) {
    qk_norm_rope_kernel<decltype(slots)::value, true>
        <<<grid, kThreads, 0, stream>>>(q, k, ld, q_weight, k_weight, cos, sin, dim, head_dim, eps);
  });
  WAN_CUDA_CHECK_LAUNCH();
}

}  // namespace wan
