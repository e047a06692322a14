// Google Benchmark helpers for GPU kernels: CUDA-event timing reported as manual time
// (UseManualTime()), optional L2 flush before each iteration, and RAII device buffers.
// Benchmarks skip with a message (state.SkipWithError) where no GPU is usable.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <cuda_runtime_api.h>

#include "kernels/common/cuda_check.h"
#include "kernels/common/float16.h"
#include "kernels/common/testing/device_buffer.h"
#include "kernels/common/testing/gpu_test.h"

namespace wan::testing {

// Evicts L2 by writing a buffer twice its size (the H100's L2 is 50 MiB).
class L2Flusher {
 public:
  L2Flusher() {
    int dev = 0, l2 = 0;
    WAN_CUDA_CHECK(cudaGetDevice(&dev));
    WAN_CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, dev));
    buffer_bytes_ = static_cast<size_t>(l2) * 2;
    WAN_CUDA_CHECK(cudaMalloc(&buffer_, buffer_bytes_));
  }
  ~L2Flusher() { cudaFree(buffer_); }
  L2Flusher(const L2Flusher&) = delete;
  L2Flusher& operator=(const L2Flusher&) = delete;
  void flush(cudaStream_t stream) { WAN_CUDA_CHECK(cudaMemsetAsync(buffer_, 0, buffer_bytes_, stream)); }

 private:
  void* buffer_ = nullptr;
  size_t buffer_bytes_ = 0;
};

// n bf16 values uniform in [-stddev * sqrt(3), stddev * sqrt(3)] on the device (xorshift32 from
// `seed`: fast for tens of millions of values, deterministic), for benchmark inputs.
inline DeviceBuffer random_device_bf16(size_t n, uint32_t seed, float stddev) {
  std::vector<uint16_t> bits(n);
  uint32_t x = seed * 2654435761u + 1;
  const float half_width = stddev * std::sqrt(3.0f);
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    const float u = static_cast<float>(x >> 8) * (1.0f / 16777216.0f);  // [0, 1)
    bits[i] = f32_to_bf16_bits((2.0f * u - 1.0f) * half_width);
  }
  return DeviceBuffer::from(bits);
}

inline bool skip_without_gpu(benchmark::State& state) {
  const std::string reason = gpu_unavailable_reason();
  if (reason.empty()) return false;
  state.SkipWithError(("no GPU: " + reason).c_str());
  return true;
}

// Times `launch(stream)` with CUDA events per iteration; the env var WAN_BENCH_FLUSH_L2=1
// flushes L2 before each timed launch (cold-cache numbers).
template <typename Launch>
void time_cuda(benchmark::State& state, Launch&& launch) {
  cudaStream_t stream;
  WAN_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  cudaEvent_t start, stop;
  WAN_CUDA_CHECK(cudaEventCreate(&start));
  WAN_CUDA_CHECK(cudaEventCreate(&stop));
  const char* flush_env = std::getenv("WAN_BENCH_FLUSH_L2");
  const bool flush = flush_env && std::string(flush_env) == "1";
  L2Flusher* flusher = flush ? new L2Flusher() : nullptr;
  launch(stream);  // warm-up
  WAN_CUDA_CHECK(cudaStreamSynchronize(stream));
  for (auto _ : state) {
    if (flusher) flusher->flush(stream);
    WAN_CUDA_CHECK(cudaEventRecord(start, stream));
    launch(stream);
    WAN_CUDA_CHECK(cudaEventRecord(stop, stream));
    WAN_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    WAN_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    state.SetIterationTime(ms / 1e3);
  }
  delete flusher;
  WAN_CUDA_CHECK(cudaEventDestroy(start));
  WAN_CUDA_CHECK(cudaEventDestroy(stop));
  WAN_CUDA_CHECK(cudaStreamDestroy(stream));
}

}  // namespace wan::testing
