#include "kernels/dit/dit_elementwise.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "kernels/common/cuda_check.h"
#include "kernels/common/float16.h"
#include "kernels/common/portable_math.h"

namespace wan {
namespace {

constexpr int kThreads = 256;

int grid_for(int64_t n) { return static_cast<int>(std::min<int64_t>((n + kThreads - 1) / kThreads, 65535 * 4)); }

#define GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); i += static_cast<int64_t>(gridDim.x) * blockDim.x)

// One thread per patch value. patches: [T*(H/2)*(W/2), C*4].
__global__ void patchify_kernel(const float* __restrict__ lat, uint16_t* __restrict__ patches, int64_t channels,
                                int64_t frames, int64_t height, int64_t width) {
  const int64_t fh = height / 2, fw = width / 2, pv = channels * 4;
  const int64_t total = frames * fh * fw * pv;
  GRID_STRIDE(i, total) {
    const int64_t token = i / pv, v = i % pv;
    const int64_t c = v / 4, ph = (v / 2) % 2, pw = v % 2;
    const int64_t t = token / (fh * fw), h = (token / fw) % fh, w = token % fw;
    patches[i] = f32_to_bf16_bits(lat[((c * frames + t) * height + 2 * h + ph) * width + 2 * w + pw]);
  }
}

// One thread per output value. out: [C, T, H, W].
__global__ void unpatchify_kernel(const uint16_t* __restrict__ head, float* __restrict__ out, int64_t channels,
                                  int64_t frames, int64_t height, int64_t width) {
  const int64_t fh = height / 2, fw = width / 2;
  const int64_t total = channels * frames * height * width;
  GRID_STRIDE(i, total) {
    const int64_t x = i % width, y = (i / width) % height, t = (i / (width * height)) % frames,
                  c = i / (width * height * frames);
    const int64_t token = (t * fh + y / 2) * fw + x / 2;
    const int64_t feature = ((y % 2) * 2 + (x % 2)) * channels + c;
    out[i] = bf16_bits_to_f32(head[token * 4 * channels + feature]);
  }
}

// debug_delay_ns > 0 (WAN_DEBUG_KERNEL_DELAY_US, harness validation only): every block first
// spins that long on the global timer, a known slowdown of this one named kernel.
__global__ void add_bf16_to_f32_kernel(const uint16_t* a, const uint16_t* b, float* out, int64_t n,
                                       uint64_t debug_delay_ns) {
  if (debug_delay_ns > 0 && threadIdx.x == 0) {
    uint64_t start, now;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(start));
    do {
      asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
    } while (now - start < debug_delay_ns);
  }
  __syncthreads();
  GRID_STRIDE(i, n) out[i] = bf16_bits_to_f32(a[i]) + bf16_bits_to_f32(b[i]);
}

// The delay of the next launch: WAN_DEBUG_KERNEL_DELAY_US on every launch, or with
// WAN_DEBUG_KERNEL_DELAY_LAUNCH=K/N only on launches whose index i (counted from 0 in this
// process) has i % N == K: with N = the model's layers, ONE block's launch (one kernel group).
uint64_t debug_delay_ns() {
  static const uint64_t ns = [] {
    const char* env = std::getenv("WAN_DEBUG_KERNEL_DELAY_US");
    return env ? static_cast<uint64_t>(std::atof(env) * 1000.0) : uint64_t{0};
  }();
  static const std::pair<long, long> only = [] {
    const char* env = std::getenv("WAN_DEBUG_KERNEL_DELAY_LAUNCH");
    long k = 0, n = 0;
    if (!env || std::sscanf(env, "%ld/%ld", &k, &n) != 2 || n < 1 || k < 0 || k >= n) return std::pair<long, long>{0, 1};
    return std::pair<long, long>{k, n};
  }();
  static long launches = 0;  // host-side launch count (the model launches from one thread)
  if (ns == 0) return 0;
  return (launches++ % only.second) == only.first ? ns : 0;
}

__global__ void head_modulation_kernel(const uint16_t* table, const uint16_t* temb, float* out, int64_t dim) {
  GRID_STRIDE(i, 2 * dim) out[i] = round_to_bf16(bf16_bits_to_f32(table[i]) + bf16_bits_to_f32(temb[i % dim]));
}

__global__ void f32_to_bf16_kernel(const float* x, uint16_t* out, int64_t n) {
  GRID_STRIDE(i, n) out[i] = f32_to_bf16_bits(x[i]);
}

__global__ void silu_bf16_kernel(const uint16_t* x, uint16_t* out, int64_t n) {
  GRID_STRIDE(i, n) {
    const float v = bf16_bits_to_f32(x[i]);
    out[i] = f32_to_bf16_bits(v / (1.0f + __expf(-v)));
  }
}

__device__ __forceinline__ float cfg_combine(const float* cond, const float* uncond, float g, int64_t i) {
  if (!uncond) return cond[i];
  const float diff = fp32::sub(cond[i], uncond[i]);
  return fp32::add(uncond[i], fp32::mul(g, diff));
}

__global__ void cfg_unipc_step_kernel(const float* __restrict__ cond, const float* __restrict__ uncond, float g,
                                      const FlowUniPCCoefficients c, float* latents, float* last, float* m1,
                                      float* m2, int64_t n) {
  GRID_STRIDE(i, n) {
    flow_unipc_update_element(c, cfg_combine(cond, uncond, g, i), &latents[i], &last[i], &m1[i], &m2[i]);
  }
}

__global__ void cfg_euler_step_kernel(const float* __restrict__ cond, const float* __restrict__ uncond, float g,
                                      float dt, float* latents, int64_t n) {
  GRID_STRIDE(i, n) flow_euler_update_element(dt, cfg_combine(cond, uncond, g, i), &latents[i]);
}

}  // namespace

void launch_patchify(const float* latents, uint16_t* patches, int64_t channels, int64_t frames, int64_t height,
                     int64_t width, cudaStream_t stream) {
  patchify_kernel<<<grid_for(channels * frames * height * width), kThreads, 0, stream>>>(latents, patches, channels,
                                                                                         frames, height, width);
  WAN_CUDA_CHECK_LAUNCH();
}

void launch_unpatchify(const uint16_t* head, float* out, int64_t channels, int64_t frames, int64_t height,
                       int64_t width, cudaStream_t stream) {
  unpatchify_kernel<<<grid_for(channels * frames * height * width), kThreads, 0, stream>>>(head, out, channels,
                                                                                           frames, height, width);
  WAN_CUDA_CHECK_LAUNCH();
}

void launch_add_bf16_to_f32(const uint16_t* a, const uint16_t* b, float* out, int64_t count, cudaStream_t stream) {
  add_bf16_to_f32_kernel<<<grid_for(count), kThreads, 0, stream>>>(a, b, out, count, debug_delay_ns());
  WAN_CUDA_CHECK_LAUNCH();
}

void launch_head_modulation(const uint16_t* table, const uint16_t* temb, float* out, int64_t dim,
                            cudaStream_t stream) {
  head_modulation_kernel<<<grid_for(2 * dim), kThreads, 0, stream>>>(table, temb, out, dim);
  WAN_CUDA_CHECK_LAUNCH();
}

void launch_f32_to_bf16(const float* x, uint16_t* out, int64_t count, cudaStream_t stream) {
  f32_to_bf16_kernel<<<grid_for(count), kThreads, 0, stream>>>(x, out, count);
  WAN_CUDA_CHECK_LAUNCH();
}

// One CTA per row, 16-byte copies. grid: rows; block: 128.
__global__ void gather_rows_bf16_kernel(const uint16_t* __restrict__ src, uint16_t* __restrict__ dst,
                                        const int32_t* __restrict__ source_row, int64_t cols) {
  const int64_t row = blockIdx.x;
  const uint4* s = reinterpret_cast<const uint4*>(src + static_cast<int64_t>(source_row[row]) * cols);
  uint4* d = reinterpret_cast<uint4*>(dst + row * cols);
  for (int64_t i = threadIdx.x; i < cols / 8; i += blockDim.x) d[i] = s[i];
}

void launch_gather_rows_bf16(const uint16_t* src, uint16_t* dst, const int32_t* source_row, int64_t rows,
                             int64_t cols, cudaStream_t stream) {
  gather_rows_bf16_kernel<<<static_cast<unsigned>(rows), 128, 0, stream>>>(src, dst, source_row, cols);
  WAN_CUDA_CHECK_LAUNCH();
}

void launch_silu_bf16(const uint16_t* x, uint16_t* out, int64_t count, cudaStream_t stream) {
  silu_bf16_kernel<<<grid_for(count), kThreads, 0, stream>>>(x, out, count);
  WAN_CUDA_CHECK_LAUNCH();
}

void launch_cfg_unipc_step(const float* cond, const float* uncond, float guidance,
                           const FlowUniPCCoefficients& coefficients, float* latents, float* last, float* m1,
                           float* m2, int64_t count, cudaStream_t stream) {
  cfg_unipc_step_kernel<<<grid_for(count), kThreads, 0, stream>>>(cond, uncond, guidance, coefficients, latents,
                                                                  last, m1, m2, count);
  WAN_CUDA_CHECK_LAUNCH();
}

void launch_cfg_euler_step(const float* cond, const float* uncond, float guidance, float dt, float* latents,
                           int64_t count, cudaStream_t stream) {
  cfg_euler_step_kernel<<<grid_for(count), kThreads, 0, stream>>>(cond, uncond, guidance, dt, latents, count);
  WAN_CUDA_CHECK_LAUNCH();
}

}  // namespace wan
