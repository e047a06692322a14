// Tensor: shape, strides (in elements), dtype and device over reference-counted storage.
// Owning tensors allocate (64-byte aligned host memory or cudaMalloc); views (slice, select,
// permute, reshape of contiguous data, or wrap() of foreign memory) share or borrow storage.
// Not an autograd or broadcasting library: kernels take raw pointers plus shapes.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "engine/core/dtype.h"
#include "engine/core/shape.h"
#include "engine/core/status.h"

namespace wan {

enum class DeviceType : uint8_t { kCpu, kCuda };

struct Device {
  DeviceType type = DeviceType::kCpu;
  int index = 0;
  static Device cpu() { return {DeviceType::kCpu, 0}; }
  static Device cuda(int index = 0) { return {DeviceType::kCuda, index}; }
  bool is_cpu() const { return type == DeviceType::kCpu; }
  bool is_cuda() const { return type == DeviceType::kCuda; }
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string to_string() const;  // "cpu", "cuda:0"
};

// Parses "cpu", "cuda", "cuda:N".
Result<Device> parse_device(const std::string& text);

// Shape, shape_to_string, shape_numel, checked_shape_numel, contiguous_strides: shape.h.
// checked_shape_numel times the element size, INVALID_ARGUMENT when that exceeds int64.
Result<size_t> checked_shape_bytes(const Shape& shape, DType dtype);

// A block of memory on one device. Owning storage frees on destruction; borrowed does not.
class Storage {
 public:
  static Result<std::shared_ptr<Storage>> allocate(size_t bytes, Device device);
  static std::shared_ptr<Storage> borrow(void* data, size_t bytes, Device device);
  // Takes ownership through `release` (e.g. munmap of a memory-mapped checkpoint), called once
  // when the last tensor using it goes away.
  static std::shared_ptr<Storage> adopt(void* data, size_t bytes, Device device,
                                        std::function<void()> release);
  ~Storage();
  // Copying would double-free the allocation; share through shared_ptr instead.
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  Storage(void* data, size_t bytes, Device device, bool owning)
      : data_(data), bytes_(bytes), device_(device), owning_(owning) {}
  void* data_;
  std::function<void()> release_;
  size_t bytes_;
  Device device_;
  bool owning_;
};

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor: defined() == false

  // Uninitialised contents. Errors: negative dims (INVALID_ARGUMENT), out of memory
  // (RESOURCE_EXHAUSTED, with the size asked and the memory free).
  static Result<Tensor> empty(const Shape& shape, DType dtype, Device device = Device::cpu());
  static Result<Tensor> zeros(const Shape& shape, DType dtype, Device device = Device::cpu());
  // Non-owning view of foreign memory; the caller keeps it alive. Empty strides = contiguous.
  static Tensor wrap(void* data, const Shape& shape, DType dtype, Device device,
                     const Shape& strides = {});
  // A view of `storage` (kept alive by the tensor) at element offset `offset`.
  static Result<Tensor> view_of(std::shared_ptr<Storage> storage, const Shape& shape, DType dtype,
                                int64_t offset = 0);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t stride(int64_t d) const;
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device() : Device::cpu(); }
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  int64_t offset() const { return offset_; }
  bool is_contiguous() const;

  void* raw_data() const;
  template <typename T> T* data() const;  // asserts DTypeOf<T> == dtype()

  // Views sharing storage.
  Result<Tensor> slice(int64_t d, int64_t start, int64_t end) const;  // [start, end) along d
  Result<Tensor> select(int64_t d, int64_t index) const;             // drops dimension d
  Result<Tensor> permute(const std::vector<int64_t>& order) const;
  Result<Tensor> reshape(const Shape& shape) const;  // contiguous tensors only; one -1 allowed

  // New contiguous tensor with the same contents (copies even if already contiguous).
  Result<Tensor> clone() const;
  Result<Tensor> to(Device device) const;  // copy to device (contiguous result)
  // Copies src into this tensor (same shape and dtype; any strides, any devices). Synchronous:
  // the data has landed when it returns.
  Status copy_from(const Tensor& src);

  std::string describe() const;  // "bf16[1, 16, 21, 60, 104] cuda:0"

 private:
  Tensor(std::shared_ptr<Storage> storage, Shape shape, Shape strides, DType dtype, int64_t offset)
      : storage_(std::move(storage)), shape_(std::move(shape)), strides_(std::move(strides)),
        dtype_(dtype), offset_(offset) {}
  Result<int64_t> normalize_dim(int64_t d) const;

  std::shared_ptr<Storage> storage_;
  Shape shape_;
  Shape strides_;
  DType dtype_ = DType::kF32;
  int64_t offset_ = 0;  // in elements
};

}  // namespace wan

#include "engine/core/tensor_inl.h"
