// Seeded standard-normal tensors from Philox4x32-10 (kernels/common/philox.h): the same
// values on the CPU and on any GPU, for any thread count. Element i of the tensor (in
// contiguous order) is philox_normal(seed, stream, i).
#pragma once

#include <cstdint>

#include "engine/core/status.h"
#include "engine/core/tensor.h"

namespace wan {

// Fills a contiguous f32 tensor on its own device (CPU: fixed 4-sample blocks, any thread
// count; CUDA: one kernel on the default stream, synchronised).
Status fill_normal(Tensor& out, uint64_t seed, uint64_t stream = 0);

}  // namespace wan
