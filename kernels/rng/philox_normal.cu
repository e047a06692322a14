#include "kernels/rng/philox_normal.h"

#include <algorithm>

#include "kernels/common/cuda_check.h"
#include "kernels/common/float16.h"
#include "kernels/common/philox.h"

namespace wan {
namespace {

// One thread per Philox block of 4 samples. out: [count].
__global__ void fill_normal_philox_kernel(float* __restrict__ out, int64_t count, uint64_t seed,
                                          uint64_t stream, uint64_t first) {
  const int64_t local = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x);
  // Samples first+i are grouped by their global block (first+i)/4, so a block may straddle
  // the start: thread t handles global block (first/4 + t).
  const uint64_t global_block = first / 4 + static_cast<uint64_t>(local);
  const int64_t base = static_cast<int64_t>(global_block * 4) - static_cast<int64_t>(first);
  if (base >= count) return;
  float four[4];
  philox_normal4(seed, stream, global_block, four);
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const int64_t i = base + j;
    if (i >= 0 && i < count) out[i] = four[j];
  }
}

// One thread per Philox block of 4 samples. out: [count] bf16.
__global__ void scaled_normal_bf16_kernel(uint16_t* __restrict__ out, int64_t count, uint64_t seed,
                                          uint64_t stream, double scale) {
  const int64_t block = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (block * 4 >= count) return;
  float four[4];
  philox_normal4(seed, stream, static_cast<uint64_t>(block), four);
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const int64_t i = block * 4 + j;
    if (i < count) out[i] = f32_to_bf16_bits(static_cast<float>(__dmul_rn(scale, static_cast<double>(four[j]))));
  }
}

__global__ void fill_bf16_kernel(uint16_t* __restrict__ out, int64_t count, uint16_t bits) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = bits;
}

}  // namespace

void launch_scaled_normal_bf16(uint16_t* out, int64_t count, uint64_t seed, uint64_t stream, double scale,
                               cudaStream_t stream_handle) {
  if (count <= 0) return;
  const int64_t blocks = (count + 3) / 4;
  scaled_normal_bf16_kernel<<<static_cast<unsigned>((blocks + 255) / 256), 256, 0, stream_handle>>>(
      out, count, seed, stream, scale);
  WAN_CUDA_CHECK_LAUNCH();
}

void launch_fill_bf16(uint16_t* out, int64_t count, float value, cudaStream_t stream_handle) {
  if (count <= 0) return;
  const int64_t grid = std::min<int64_t>((count + 255) / 256, 65535);
  fill_bf16_kernel<<<static_cast<unsigned>(grid), 256, 0, stream_handle>>>(out, count, f32_to_bf16_bits(value));
  WAN_CUDA_CHECK_LAUNCH();
}

void launch_fill_normal_philox(float* out, int64_t count, uint64_t seed, uint64_t stream,
                               uint64_t first, cudaStream_t stream_handle) {
  if (count <= 0) return;
  const int64_t blocks_needed = (static_cast<int64_t>(first % 4) + count + 3) / 4;
  constexpr int kThreads = 256;
  const int64_t grid = (blocks_needed + kThreads - 1) / kThreads;
  fill_normal_philox_kernel<<<static_cast<unsigned>(grid), kThreads, 0, stream_handle>>>(
      out, count, seed, stream, first);
  WAN_CUDA_CHECK_LAUNCH();
}

}  // namespace wan
