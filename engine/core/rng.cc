#include "engine/core/rng.h"

#include <cuda_runtime_api.h>

#include "kernels/common/cuda_check.h"
#include "kernels/common/philox.h"
#include "kernels/rng/philox_normal.h"

namespace wan {

uint64_t philox_stream_for_name(std::string_view name) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : name) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

Status fill_normal(Tensor& out, uint64_t seed, uint64_t stream) {
  if (out.dtype() != DType::kF32 || !out.is_contiguous()) {
    return invalid_argument("fill_normal needs a contiguous f32 tensor, got " + out.describe());
  }
  const int64_t n = out.numel();
  if (out.device().is_cuda()) {
    WAN_CUDA_CHECK(cudaSetDevice(out.device().index));
    launch_fill_normal_philox(out.data<float>(), n, seed, stream, 0, nullptr);
    WAN_CUDA_CHECK(cudaDeviceSynchronize());
    return Status();
  }
  float* dst = out.data<float>();
  float four[4];
  for (int64_t block = 0; block * 4 < n; ++block) {
    philox_normal4(seed, stream, static_cast<uint64_t>(block), four);
    for (int j = 0; j < 4 && block * 4 + j < n; ++j) dst[block * 4 + j] = four[j];
  }
  return Status();
}

}  // namespace wan
