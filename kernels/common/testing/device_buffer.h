// Test and benchmark helper: a device allocation freed on scope exit, with host copies.
#pragma once

#include <cstddef>
#include <vector>

#include <cuda_runtime_api.h>

#include "kernels/common/cuda_check.h"

namespace wan::testing {

// A device allocation freed on scope exit.
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t bytes) : bytes_(bytes) { WAN_CUDA_CHECK(cudaMalloc(&data_, bytes)); }
  ~DeviceBuffer() { cudaFree(data_); }
  // Copying would free the allocation twice.
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  template <typename T> T* as() const { return static_cast<T*>(data_); }
  template <typename T> static DeviceBuffer from(const std::vector<T>& host) {
    DeviceBuffer b(host.size() * sizeof(T));
    WAN_CUDA_CHECK(cudaMemcpy(b.data_, host.data(), b.bytes_, cudaMemcpyHostToDevice));
    return b;
  }
  template <typename T> std::vector<T> to_host() const {
    std::vector<T> out(bytes_ / sizeof(T));
    WAN_CUDA_CHECK(cudaMemcpy(out.data(), data_, bytes_, cudaMemcpyDeviceToHost));
    return out;
  }
  DeviceBuffer(DeviceBuffer&& o) noexcept : data_(o.data_), bytes_(o.bytes_) { o.data_ = nullptr; }
  size_t bytes() const { return bytes_; }

 private:
  void* data_ = nullptr;
  size_t bytes_;
};

}  // namespace wan::testing
