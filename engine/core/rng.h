// Seeded standard-normal tensors from Philox4x32-10 (kernels/common/philox.h): the same
// values on the CPU and on any GPU, for any thread count. Element i of the tensor (in
// contiguous order) is philox_normal(seed, stream, i).
#pragma once

#include <cstdint>
#include <string_view>

#include "engine/core/status.h"
#include "engine/core/tensor.h"

namespace wan {

// A Philox stream id that is a function of a name only (FNV-1a of its bytes): seeded synthetic
// weights draw each tensor from the stream of its name, so values do not depend on load order.
uint64_t philox_stream_for_name(std::string_view name);

// Fills a contiguous f32 tensor on its own device (CPU: fixed 4-sample blocks, any thread
// count; CUDA: one kernel on the default stream, synchronised).
Status fill_normal(Tensor& out, uint64_t seed, uint64_t stream = 0);

}  // namespace wan
