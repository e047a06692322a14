#include "engine/core/device_arena.h"

#include <cuda_runtime_api.h>

#include "kernels/common/cuda_check.h"

namespace wan {

namespace {
constexpr size_t kAlignment = 256;
size_t align_up(size_t x) { return (x + kAlignment - 1) / kAlignment * kAlignment; }
}  // namespace

DeviceArena::~DeviceArena() {
  if (base_) cudaFree(base_);
}

Status DeviceArena::plan(const std::vector<size_t>& sizes, Device device) {
  size_t total = 0;
  for (size_t s : sizes) total += align_up(s);
  if (total > capacity_ || device != device_) {
    if (base_) WAN_CUDA_CHECK(cudaFree(base_));
    base_ = nullptr;
    capacity_ = 0;
    WAN_ASSIGN_OR_RETURN(auto probe, Storage::allocate(0, device));  // device checks, clear errors
    (void)probe;
    const cudaError_t err = cudaMalloc(&base_, total);
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      size_t free_bytes = 0, total_bytes = 0;
      cudaMemGetInfo(&free_bytes, &total_bytes);
      return resource_exhausted("out of device memory planning activations: need " +
                                std::to_string(total >> 20) + " MiB, " + std::to_string(free_bytes >> 20) +
                                " MiB free of " + std::to_string(total_bytes >> 20) +
                                " MiB; use fewer frames or a smaller size");
    }
    WAN_CUDA_CHECK(err);
    capacity_ = total;
    device_ = device;
  }
  pointers_.clear();
  size_t offset = 0;
  for (size_t s : sizes) {
    pointers_.push_back(static_cast<char*>(base_) + offset);
    offset += align_up(s);
  }
  return Status();
}

}  // namespace wan
