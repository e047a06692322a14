#include "engine/core/tensor.h"

#include <cstdlib>
#include <cstring>
#include <sstream>

#include <cuda_runtime_api.h>

#include "kernels/common/cuda_check.h"

namespace wan {

std::string Device::to_string() const {
  return is_cpu() ? "cpu" : "cuda:" + std::to_string(index);
}

Result<Device> parse_device(const std::string& text) {
  if (text == "cpu") return Device::cpu();
  if (text == "cuda" || text == "gpu") return Device::cuda(0);
  if (text.rfind("cuda:", 0) == 0) {
    const std::string idx = text.substr(5);
    if (!idx.empty() && idx.find_first_not_of("0123456789") == std::string::npos) {
      return Device::cuda(std::stoi(idx));
    }
  }
  return invalid_argument("unknown device '" + text + "'; use cpu, cuda or cuda:N");
}

Result<size_t> checked_shape_bytes(const Shape& shape, DType dtype) {
  WAN_ASSIGN_OR_RETURN(const int64_t numel, checked_shape_numel(shape));
  int64_t bytes = 0;
  if (__builtin_mul_overflow(numel, static_cast<int64_t>(dtype_size(dtype)), &bytes))
    return invalid_argument("shape " + shape_to_string(shape) + " of " + std::string(dtype_name(dtype)) +
                            " has more bytes than an int64 counts");
  return static_cast<size_t>(bytes);
}

namespace {

constexpr size_t kHostAlignment = 64;
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

std::string gib(double bytes) {
  std::ostringstream out;
  out.precision(2);
  out << std::fixed << bytes / kGiB << " GiB";
  return out.str();
}

}  // namespace

Result<std::shared_ptr<Storage>> Storage::allocate(size_t bytes, Device device) {
  const size_t asked = bytes == 0 ? 1 : bytes;
  if (device.is_cpu()) {
    const size_t rounded = (asked + kHostAlignment - 1) / kHostAlignment * kHostAlignment;
    void* p = std::aligned_alloc(kHostAlignment, rounded);
    if (!p) return resource_exhausted("out of host memory allocating " + gib(double(bytes)));
    return std::shared_ptr<Storage>(new Storage(p, bytes, device, true));
  }
  int count = 0;
  const cudaError_t count_err = cudaGetDeviceCount(&count);
  if (count_err != cudaSuccess || device.index >= count) {
    cudaGetLastError();  // clear the sticky-free error so later calls start clean
    return unavailable("cannot allocate on " + device.to_string() + ": " +
                       (count_err != cudaSuccess ? std::string(cudaGetErrorString(count_err))
                                                 : std::to_string(count) + " CUDA device(s) visible") +
                       "; run with --device cpu or on a machine with a GPU");
  }
  WAN_CUDA_CHECK(cudaSetDevice(device.index));
  void* p = nullptr;
  const cudaError_t err = cudaMalloc(&p, asked);
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    size_t free_bytes = 0, total_bytes = 0;
    cudaMemGetInfo(&free_bytes, &total_bytes);
    return resource_exhausted("out of device memory on " + device.to_string() + ": asked for " +
                              gib(double(bytes)) + ", " + gib(double(free_bytes)) + " free of " +
                              gib(double(total_bytes)) +
                              "; use a smaller --height/--width/--frames or free the GPU");
  }
  WAN_CUDA_CHECK(err);
  return std::shared_ptr<Storage>(new Storage(p, bytes, device, true));
}

std::shared_ptr<Storage> Storage::borrow(void* data, size_t bytes, Device device) {
  return std::shared_ptr<Storage>(new Storage(data, bytes, device, false));
}

std::shared_ptr<Storage> Storage::adopt(void* data, size_t bytes, Device device,
                                        std::function<void()> release) {
  auto storage = std::shared_ptr<Storage>(new Storage(data, bytes, device, false));
  storage->release_ = std::move(release);
  return storage;
}

Storage::~Storage() {
  if (release_) {
    release_();
    return;
  }
  if (!owning_) return;
  if (device_.is_cpu()) {
    std::free(data_);
  } else {
    WAN_CUDA_CHECK(cudaFree(data_));
  }
}

Result<Tensor> Tensor::empty(const Shape& shape, DType dtype, Device device) {
  WAN_ASSIGN_OR_RETURN(const size_t bytes, checked_shape_bytes(shape, dtype));
  WAN_ASSIGN_OR_RETURN(auto storage, Storage::allocate(bytes, device));
  return Tensor(std::move(storage), shape, contiguous_strides(shape), dtype, 0);
}

Result<Tensor> Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  WAN_ASSIGN_OR_RETURN(Tensor t, empty(shape, dtype, device));
  if (device.is_cpu()) {
    std::memset(t.raw_data(), 0, t.nbytes());
  } else {
    WAN_CUDA_CHECK(cudaMemset(t.raw_data(), 0, t.nbytes()));
  }
  return t;
}

Tensor Tensor::wrap(void* data, const Shape& shape, DType dtype, Device device,
                    const Shape& strides) {
  const size_t bytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
  return Tensor(Storage::borrow(data, bytes, device), shape,
                strides.empty() ? contiguous_strides(shape) : strides, dtype, 0);
}

Result<Tensor> Tensor::view_of(std::shared_ptr<Storage> storage, const Shape& shape, DType dtype,
                               int64_t offset) {
  auto bytes = checked_shape_bytes(shape, dtype);
  if (!bytes.ok()) return bytes.status();
  const size_t element = dtype_size(dtype);
  // offset * element + bytes <= storage bytes, without overflow.
  const bool fits = offset >= 0 && static_cast<uint64_t>(offset) <= storage->bytes() / element &&
                    bytes.value() <= storage->bytes() - static_cast<size_t>(offset) * element;
  if (!fits) {
    return invalid_argument("view " + std::string(dtype_name(dtype)) + shape_to_string(shape) +
                            " at element " + std::to_string(offset) + " exceeds storage of " +
                            std::to_string(storage->bytes()) + " bytes");
  }
  return Tensor(std::move(storage), shape, contiguous_strides(shape), dtype, offset);
}

Result<int64_t> Tensor::normalize_dim(int64_t d) const {
  const int64_t n = dim();
  if (d < -n || d >= n) {
    return invalid_argument("dimension " + std::to_string(d) + " out of range for " + describe());
  }
  return d < 0 ? d + n : d;
}

int64_t Tensor::size(int64_t d) const { return shape_.at(d < 0 ? d + dim() : d); }
int64_t Tensor::stride(int64_t d) const { return strides_.at(d < 0 ? d + dim() : d); }

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (size_t i = shape_.size(); i-- > 0;) {
    if (shape_[i] != 1 && strides_[i] != expected) return false;
    expected *= shape_[i];
  }
  return true;
}

void* Tensor::raw_data() const {
  if (!storage_) return nullptr;
  return static_cast<char*>(storage_->data()) + offset_ * static_cast<int64_t>(dtype_size(dtype_));
}

Result<Tensor> Tensor::slice(int64_t d, int64_t start, int64_t end) const {
  WAN_ASSIGN_OR_RETURN(const int64_t dd, normalize_dim(d));
  if (start < 0 || end > shape_[dd] || start > end) {
    return invalid_argument("slice [" + std::to_string(start) + ", " + std::to_string(end) +
                            ") out of range for dimension " + std::to_string(dd) + " of " +
                            describe());
  }
  Shape shape = shape_;
  shape[dd] = end - start;
  return Tensor(storage_, shape, strides_, dtype_, offset_ + start * strides_[dd]);
}

Result<Tensor> Tensor::select(int64_t d, int64_t index) const {
  WAN_ASSIGN_OR_RETURN(const int64_t dd, normalize_dim(d));
  if (index < 0 || index >= shape_[dd]) {
    return invalid_argument("index " + std::to_string(index) + " out of range for dimension " +
                            std::to_string(dd) + " of " + describe());
  }
  Shape shape = shape_, strides = strides_;
  shape.erase(shape.begin() + dd);
  strides.erase(strides.begin() + dd);
  return Tensor(storage_, shape, strides, dtype_, offset_ + index * strides_[dd]);
}

Result<Tensor> Tensor::permute(const std::vector<int64_t>& order) const {
  if (static_cast<int64_t>(order.size()) != dim()) {
    return invalid_argument("permute order has " + std::to_string(order.size()) +
                            " entries for " + describe());
  }
  std::vector<bool> seen(order.size(), false);
  Shape shape(order.size()), strides(order.size());
  for (size_t i = 0; i < order.size(); ++i) {
    const int64_t o = order[i];
    if (o < 0 || o >= dim() || seen[o]) {
      return invalid_argument("permute order is not a permutation of 0.." +
                              std::to_string(dim() - 1));
    }
    seen[o] = true;
    shape[i] = shape_[o];
    strides[i] = strides_[o];
  }
  return Tensor(storage_, shape, strides, dtype_, offset_);
}

Result<Tensor> Tensor::reshape(const Shape& new_shape) const {
  if (!is_contiguous()) {
    return invalid_argument("reshape of a non-contiguous tensor " + describe() +
                            "; call clone() first");
  }
  Shape shape = new_shape;
  int64_t inferred = -1;
  Shape known_dims;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (inferred >= 0) return invalid_argument("reshape: more than one -1 in the new shape");
      inferred = static_cast<int64_t>(i);
    } else {
      known_dims.push_back(shape[i]);
    }
  }
  auto known_count = checked_shape_numel(known_dims);
  if (!known_count.ok()) return invalid_argument("cannot reshape " + describe() + " to " + shape_to_string(new_shape) +
                                                 ": " + known_count.status().message());
  const int64_t known = known_count.value();
  if (inferred >= 0 && known > 0) shape[inferred] = numel() / known;
  if (shape_numel(shape) != numel()) {
    return invalid_argument("cannot reshape " + describe() + " to " + shape_to_string(new_shape));
  }
  return Tensor(storage_, shape, contiguous_strides(shape), dtype_, offset_);
}

Result<Tensor> Tensor::clone() const {
  WAN_ASSIGN_OR_RETURN(Tensor out, empty(shape_, dtype_, device()));
  WAN_RETURN_IF_ERROR(out.copy_from(*this));
  return out;
}

Result<Tensor> Tensor::to(Device target) const {
  WAN_ASSIGN_OR_RETURN(Tensor out, empty(shape_, dtype_, target));
  WAN_RETURN_IF_ERROR(out.copy_from(*this));
  return out;
}

namespace {

// Strided host copy, element size `esize`, recursion over dimensions.
void strided_copy_host(char* dst, const Shape& dst_strides, const char* src,
                       const Shape& src_strides, const Shape& shape, size_t esize, size_t d) {
  if (d == shape.size()) {
    std::memcpy(dst, src, esize);
    return;
  }
  for (int64_t i = 0; i < shape[d]; ++i) {
    strided_copy_host(dst + i * dst_strides[d] * static_cast<int64_t>(esize), dst_strides,
                      src + i * src_strides[d] * static_cast<int64_t>(esize), src_strides, shape,
                      esize, d + 1);
  }
}

}  // namespace

Status Tensor::copy_from(const Tensor& src) {
  if (!defined() || !src.defined()) return invalid_argument("copy_from with an undefined tensor");
  if (src.shape_ != shape_ || src.dtype_ != dtype_) {
    return invalid_argument("copy_from: source " + src.describe() + " does not match " +
                            describe());
  }
  if (numel() == 0) return Status();
  if (device().is_cpu() && src.device().is_cpu()) {
    if (is_contiguous() && src.is_contiguous()) {
      std::memmove(raw_data(), src.raw_data(), nbytes());
    } else {
      strided_copy_host(static_cast<char*>(raw_data()), strides_,
                        static_cast<const char*>(src.raw_data()), src.strides_, shape_,
                        dtype_size(dtype_), 0);
    }
    return Status();
  }
  // A device is involved: copy contiguous bytes; a strided host side is staged through a
  // contiguous host buffer.
  if (!src.is_contiguous()) {
    if (!src.device().is_cpu()) {
      return unimplemented("strided copy from " + src.device().to_string() +
                           " is not supported; make the source contiguous on the device first");
    }
    WAN_ASSIGN_OR_RETURN(Tensor staged, src.clone());
    return copy_from(staged);
  }
  if (!is_contiguous()) {
    if (!device().is_cpu()) {
      return unimplemented("strided copy into " + device().to_string() + " is not supported");
    }
    WAN_ASSIGN_OR_RETURN(Tensor staged, src.to(Device::cpu()));
    return copy_from(staged);
  }
  WAN_CUDA_CHECK(cudaMemcpy(raw_data(), src.raw_data(), nbytes(), cudaMemcpyDefault));
  // cudaMemcpy may return before a device-to-device (or pageable host-to-device) copy lands;
  // work on other (non-blocking) streams must see it: copy_from is synchronous by contract.
  WAN_CUDA_CHECK(cudaStreamSynchronize(cudaStreamLegacy));
  return Status();
}

std::string Tensor::describe() const {
  if (!defined()) return "undefined tensor";
  return std::string(dtype_name(dtype_)) + shape_to_string(shape_) + " " + device().to_string() +
         (is_contiguous() ? "" : " (strided " + shape_to_string(strides_) + ")");
}

}  // namespace wan
