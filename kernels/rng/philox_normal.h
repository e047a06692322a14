// Device fill of standard-normal f32 samples from Philox4x32-10 (kernels/common/philox.h).
// out[i] = philox_normal(seed, stream, first + i): the same values the host fill produces.
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace wan {

// out: [count] f32 on the device. Asynchronous on `stream_handle`; allocates nothing.
void launch_fill_normal_philox(float* out, int64_t count, uint64_t seed, uint64_t stream,
                               uint64_t first, cudaStream_t stream_handle);

}  // namespace wan
