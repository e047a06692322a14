// The project's one error-check header for CUDA runtime, cuBLAS/cuBLASLt and CUPTI calls.
// A failed call is a bug (or a dead device): it prints the statement, the error, file, line
// and device, then aborts. Bad user input is never reported this way: see engine Status.
// Out-of-memory on allocation is not a bug: allocators test cudaMalloc's result themselves.
#pragma once

#include <cstdio>
#include <cstdlib>

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

namespace wan::detail {

[[noreturn]] inline void gpu_call_failed(const char* api, const char* statement, const char* error,
                                         const char* file, int line) {
  int device = -1;
  cudaGetDevice(&device);
  char name[256] = "unknown";
  cudaDeviceProp prop;
  if (device >= 0 && cudaGetDeviceProperties(&prop, device) == cudaSuccess) {
    snprintf(name, sizeof(name), "%s", prop.name);
  }
  fprintf(stderr, "%s call failed: %s\n  error: %s\n  at %s:%d on device %d (%s)\n", api, statement,
          error, file, line, device, name);
  fflush(stderr);
  std::abort();
}

}  // namespace wan::detail

#define WAN_CUDA_CHECK(statement)                                                              \
  do {                                                                                         \
    const cudaError_t wan_err_ = (statement);                                                  \
    if (wan_err_ != cudaSuccess) {                                                             \
      char wan_msg_[512];                                                                      \
      snprintf(wan_msg_, sizeof(wan_msg_), "%s (%s)", cudaGetErrorName(wan_err_),              \
               cudaGetErrorString(wan_err_));                                                  \
      ::wan::detail::gpu_call_failed("CUDA", #statement, wan_msg_, __FILE__, __LINE__);        \
    }                                                                                          \
  } while (0)

// After a kernel launch: catches bad launch configurations immediately.
#define WAN_CUDA_CHECK_LAUNCH() WAN_CUDA_CHECK(cudaGetLastError())

#define WAN_CUBLAS_CHECK(statement)                                                            \
  do {                                                                                         \
    const cublasStatus_t wan_st_ = (statement);                                                \
    if (wan_st_ != CUBLAS_STATUS_SUCCESS) {                                                    \
      char wan_msg_[512];                                                                      \
      snprintf(wan_msg_, sizeof(wan_msg_), "%s (%s)", cublasGetStatusName(wan_st_),            \
               cublasGetStatusString(wan_st_));                                                \
      ::wan::detail::gpu_call_failed("cuBLAS", #statement, wan_msg_, __FILE__, __LINE__);      \
    }                                                                                          \
  } while (0)

// Needs <cupti.h> included before use (only the profiler links CUPTI).
#define WAN_CUPTI_CHECK(statement)                                                             \
  do {                                                                                         \
    const CUptiResult wan_cr_ = (statement);                                                   \
    if (wan_cr_ != CUPTI_SUCCESS) {                                                            \
      const char* wan_text_ = "unknown CUPTI error";                                           \
      cuptiGetResultString(wan_cr_, &wan_text_);                                               \
      ::wan::detail::gpu_call_failed("CUPTI", #statement, wan_text_, __FILE__, __LINE__);      \
    }                                                                                          \
  } while (0)
