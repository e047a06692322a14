// Device fill of standard-normal f32 samples from Philox4x32-10 (kernels/common/philox.h).
// out[i] = philox_normal(seed, stream, first + i): the same values the host fill produces.
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace wan {

// out: [count] f32 on the device. Asynchronous on `stream_handle`; allocates nothing.
void launch_fill_normal_philox(float* out, int64_t count, uint64_t seed, uint64_t stream,
                               uint64_t first, cudaStream_t stream_handle);

// out[i] = bf16(float(scale * double(philox_normal(seed, stream, i)))) for i < count: seeded
// synthetic weights generated on the device, bit-identical to the same expression on the host.
void launch_scaled_normal_bf16(uint16_t* out, int64_t count, uint64_t seed, uint64_t stream,
                               double scale, cudaStream_t stream_handle);

// out[i] = bf16(value) for i < count.
void launch_fill_bf16(uint16_t* out, int64_t count, float value, cudaStream_t stream_handle);

}  // namespace wan
