// GPU test guard: tests tagged `gpu` skip cleanly, and say why, where no GPU is usable.
#pragma once

#include <string>

#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

namespace wan::testing {

// Empty when a GPU is usable, else the reason.
inline std::string gpu_unavailable_reason() {
  int driver = 0;
  if (cudaDriverGetVersion(&driver) != cudaSuccess || driver == 0) {
    cudaGetLastError();
    return "no NVIDIA driver on this machine (libcuda.so.1 not loadable)";
  }
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
  }
  if (count == 0) return "no CUDA device";
  return "";
}

}  // namespace wan::testing

#define WAN_SKIP_WITHOUT_GPU()                                                  \
  do {                                                                          \
    const std::string wan_reason_ = ::wan::testing::gpu_unavailable_reason();  \
    if (!wan_reason_.empty()) GTEST_SKIP() << "no GPU: " << wan_reason_;        \
  } while (0)
