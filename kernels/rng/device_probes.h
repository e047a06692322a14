// Test-only device probes: run the host+device conversion code on the GPU for every
// 16-bit pattern and for given f32 inputs, so tests can compare with the host bit for bit.
#pragma once

#include <cstdint>
#include <vector>

namespace wan::testing {

// For each f32 input: bf16 bits, f16 bits (ours, on the device).
void device_round_f32(const std::vector<float>& in, std::vector<uint16_t>* bf16_out,
                      std::vector<uint16_t>* f16_out);
// For every pattern 0..65535: f32 bits of bf16 and f16 decoding on the device.
void device_decode_all(std::vector<uint32_t>* bf16_f32_bits, std::vector<uint32_t>* f16_f32_bits);
// The CUDA toolkit's own __float2bfloat16_rn / __float2half_rn on the device.
void device_cuda_intrinsics_round(const std::vector<float>& in, std::vector<uint16_t>* bf16_out,
                                  std::vector<uint16_t>* f16_out);

}  // namespace wan::testing
