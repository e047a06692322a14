#include "kernels/rng/device_probes.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernels/common/cuda_check.h"
#include "kernels/common/float16.h"

namespace wan::testing {
namespace {

__global__ void round_kernel(const float* in, int n, uint16_t* bf, uint16_t* hf) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) {
    bf[i] = f32_to_bf16_bits(in[i]);
    hf[i] = f32_to_f16_bits(in[i]);
  }
}

__global__ void intrinsics_round_kernel(const float* in, int n, uint16_t* bf, uint16_t* hf) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) {
    bf[i] = __bfloat16_as_ushort(__float2bfloat16_rn(in[i]));
    hf[i] = __half_as_ushort(__float2half_rn(in[i]));
  }
}

__global__ void decode_kernel(uint32_t* bf, uint32_t* hf) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < 65536) {
    bf[i] = f32_bits(bf16_bits_to_f32(static_cast<uint16_t>(i)));
    hf[i] = f32_bits(f16_bits_to_f32(static_cast<uint16_t>(i)));
  }
}

template <typename Kernel>
void run_round(Kernel kernel, const std::vector<float>& in, std::vector<uint16_t>* bf16_out,
               std::vector<uint16_t>* f16_out) {
  const int n = static_cast<int>(in.size());
  float* d_in;
  uint16_t *d_bf, *d_hf;
  WAN_CUDA_CHECK(cudaMalloc(&d_in, n * sizeof(float)));
  WAN_CUDA_CHECK(cudaMalloc(&d_bf, n * sizeof(uint16_t)));
  WAN_CUDA_CHECK(cudaMalloc(&d_hf, n * sizeof(uint16_t)));
  WAN_CUDA_CHECK(cudaMemcpy(d_in, in.data(), n * sizeof(float), cudaMemcpyHostToDevice));
  kernel<<<(n + 255) / 256, 256>>>(d_in, n, d_bf, d_hf);
  WAN_CUDA_CHECK_LAUNCH();
  bf16_out->resize(n);
  f16_out->resize(n);
  WAN_CUDA_CHECK(cudaMemcpy(bf16_out->data(), d_bf, n * sizeof(uint16_t), cudaMemcpyDeviceToHost));
  WAN_CUDA_CHECK(cudaMemcpy(f16_out->data(), d_hf, n * sizeof(uint16_t), cudaMemcpyDeviceToHost));
  WAN_CUDA_CHECK(cudaFree(d_in));
  WAN_CUDA_CHECK(cudaFree(d_bf));
  WAN_CUDA_CHECK(cudaFree(d_hf));
}

}  // namespace

void device_round_f32(const std::vector<float>& in, std::vector<uint16_t>* bf16_out,
                      std::vector<uint16_t>* f16_out) {
  run_round(round_kernel, in, bf16_out, f16_out);
}

void device_cuda_intrinsics_round(const std::vector<float>& in, std::vector<uint16_t>* bf16_out,
                                  std::vector<uint16_t>* f16_out) {
  run_round(intrinsics_round_kernel, in, bf16_out, f16_out);
}

void device_decode_all(std::vector<uint32_t>* bf16_f32_bits, std::vector<uint32_t>* f16_f32_bits) {
  uint32_t *d_bf, *d_hf;
  WAN_CUDA_CHECK(cudaMalloc(&d_bf, 65536 * sizeof(uint32_t)));
  WAN_CUDA_CHECK(cudaMalloc(&d_hf, 65536 * sizeof(uint32_t)));
  decode_kernel<<<256, 256>>>(d_bf, d_hf);
  WAN_CUDA_CHECK_LAUNCH();
  bf16_f32_bits->resize(65536);
  f16_f32_bits->resize(65536);
  WAN_CUDA_CHECK(cudaMemcpy(bf16_f32_bits->data(), d_bf, 65536 * 4, cudaMemcpyDeviceToHost));
  WAN_CUDA_CHECK(cudaMemcpy(f16_f32_bits->data(), d_hf, 65536 * 4, cudaMemcpyDeviceToHost));
  WAN_CUDA_CHECK(cudaFree(d_bf));
  WAN_CUDA_CHECK(cudaFree(d_hf));
}

}  // namespace wan::testing
