// GPU (tag gpu): device results identical to the host's, bit for bit: Philox normals for
// several offsets and lengths, and bf16/f16 conversions for all 65,536 patterns plus
// rounding probes. Also checks our rounding against the CUDA toolkit's intrinsics.
#include "kernels/rng/philox_normal.h"

#include <cmath>
#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/common/cuda_check.h"
#include "kernels/common/float16.h"
#include "kernels/common/philox.h"
#include "kernels/common/testing/gpu_test.h"
#include "kernels/rng/device_probes.h"

namespace wan {
namespace {

std::vector<float> device_normals(int64_t count, uint64_t seed, uint64_t stream, uint64_t first) {
  float* d = nullptr;
  WAN_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&d), count * sizeof(float)));
  launch_fill_normal_philox(d, count, seed, stream, first, nullptr);
  std::vector<float> out(count);
  WAN_CUDA_CHECK(cudaMemcpy(out.data(), d, count * sizeof(float), cudaMemcpyDeviceToHost));
  WAN_CUDA_CHECK(cudaFree(d));
  return out;
}

TEST(PhiloxNormalGpu, IdenticalToHostBitForBit) {
  WAN_SKIP_WITHOUT_GPU();
  struct Case { int64_t count; uint64_t seed, stream, first; };
  const Case cases[] = {{1, 0, 0, 0}, {7, 1024, 0, 3}, {1 << 20, 1024, 0, 0},
                        {100003, 0xdeadbeefcafef00dull, 5, 12345}, {4096, 1, 1ull << 40, 1ull << 33}};
  for (const Case& c : cases) {
    const std::vector<float> gpu = device_normals(c.count, c.seed, c.stream, c.first);
    int64_t mismatches = 0;
    for (int64_t i = 0; i < c.count; ++i) {
      const float host = philox_normal(c.seed, c.stream, c.first + i);
      if (std::memcmp(&host, &gpu[i], 4) != 0 && mismatches++ < 5) {
        ADD_FAILURE() << "sample " << c.first + i << " seed " << c.seed << ": host " << host
                      << " gpu " << gpu[i];
      }
    }
    EXPECT_EQ(mismatches, 0) << "count " << c.count;
  }
}

TEST(PhiloxNormalGpu, RunToRunIdentical) {
  WAN_SKIP_WITHOUT_GPU();
  const std::vector<float> a = device_normals(1 << 22, 7, 0, 0);
  const std::vector<float> b = device_normals(1 << 22, 7, 0, 0);
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0);
}

TEST(Float16Gpu, DecodingIdenticalToHostForAllPatterns) {
  WAN_SKIP_WITHOUT_GPU();
  std::vector<uint32_t> bf, hf;
  testing::device_decode_all(&bf, &hf);
  for (uint32_t p = 0; p < 65536; ++p) {
    ASSERT_EQ(bf[p], f32_bits(bf16_bits_to_f32(static_cast<uint16_t>(p)))) << p;
    ASSERT_EQ(hf[p], f32_bits(f16_bits_to_f32(static_cast<uint16_t>(p)))) << p;
  }
}

TEST(Float16Gpu, RoundingIdenticalToHostAndToCudaIntrinsics) {
  WAN_SKIP_WITHOUT_GPU();
  std::vector<float> in;
  for (uint32_t p = 0; p < 65536; ++p) {  // each bf16 pattern and the f32s around it
    const uint32_t base = p << 16;
    for (uint32_t d : {0u, 1u, 0x7fffu, 0x8000u, 0x8001u, 0xffffu}) in.push_back(f32_from_bits(base | d));
  }
  std::vector<uint16_t> bf, hf, bf_cuda, hf_cuda;
  testing::device_round_f32(in, &bf, &hf);
  testing::device_cuda_intrinsics_round(in, &bf_cuda, &hf_cuda);
  for (size_t i = 0; i < in.size(); ++i) {
    ASSERT_EQ(bf[i], f32_to_bf16_bits(in[i])) << std::hex << f32_bits(in[i]);
    ASSERT_EQ(hf[i], f32_to_f16_bits(in[i])) << std::hex << f32_bits(in[i]);
    if (std::isnan(in[i])) continue;  // NaN payloads differ by design (CUDA: canonical NaN)
    ASSERT_EQ(bf[i], bf_cuda[i]) << "vs __float2bfloat16_rn " << std::hex << f32_bits(in[i]);
    ASSERT_EQ(hf[i], hf_cuda[i]) << "vs __float2half_rn " << std::hex << f32_bits(in[i]);
  }
}

}  // namespace
}  // namespace wan
