// fill_normal: host fill is a pure function of (seed, stream, index); the GPU fill (tag gpu)
// gives the same bytes.
#include "engine/core/rng.h"

#include <cstring>

#include <gtest/gtest.h>

#include "kernels/common/philox.h"
#include "kernels/common/testing/gpu_test.h"

namespace wan {
namespace {

TEST(FillNormal, HostMatchesScalarSampler) {
  Tensor t = Tensor::empty({3, 5, 7}, DType::kF32).value();
  ASSERT_TRUE(fill_normal(t, 1024, 2).ok());
  for (int64_t i = 0; i < t.numel(); ++i) EXPECT_EQ(t.data<float>()[i], philox_normal(1024, 2, i));
}

TEST(FillNormal, RejectsWrongDtype) {
  Tensor t = Tensor::empty({4}, DType::kBF16).value();
  const Status s = fill_normal(t, 1);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("contiguous f32"), std::string::npos);
}

TEST(FillNormalGpu, DeviceTensorIdenticalToHost) {
  WAN_SKIP_WITHOUT_GPU();
  const Shape latent_shape = {1, 16, 21, 60, 104};  // 1.3B 480x832x81 latents
  Tensor host = Tensor::empty(latent_shape, DType::kF32).value();
  Tensor dev = Tensor::empty(latent_shape, DType::kF32, Device::cuda(0)).value();
  ASSERT_TRUE(fill_normal(host, 1024).ok());
  ASSERT_TRUE(fill_normal(dev, 1024).ok());
  const Tensor back = dev.to(Device::cpu()).value();
  EXPECT_EQ(std::memcmp(back.raw_data(), host.raw_data(), host.nbytes()), 0);
}

}  // namespace
}  // namespace wan
