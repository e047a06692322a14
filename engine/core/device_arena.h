// DeviceArena: one cudaMalloc carved into aligned buffers, planned once per shape, so the
// denoising loop allocates nothing. plan() sizes it from a list of requests; take() hands out
// the buffers in request order. Out of memory is a Status naming the size and free memory.
#pragma once

#include <cstddef>
#include <vector>

#include "engine/core/status.h"
#include "engine/core/tensor.h"

namespace wan {

class DeviceArena {
 public:
  DeviceArena() = default;
  ~DeviceArena();
  // Owns one device allocation; copying would free it twice.
  DeviceArena(const DeviceArena&) = delete;
  DeviceArena& operator=(const DeviceArena&) = delete;

  // Allocates (or reuses, if large enough) space for buffers of the given byte sizes.
  Status plan(const std::vector<size_t>& sizes, Device device);
  // Pointer to buffer i of the current plan.
  void* buffer(size_t i) const { return pointers_.at(i); }
  size_t capacity() const { return capacity_; }

 private:
  void* base_ = nullptr;
  size_t capacity_ = 0;
  Device device_ = Device::cuda(0);
  std::vector<void*> pointers_;
};

}  // namespace wan
