// CUPTI tracer (tag gpu): kernels come back with names, launch shapes and the NVTX range path
// they were launched in; range grouping drops step indices. The grouping test runs anywhere.
#include "harness/kernel_tracer.h"

#include <gtest/gtest.h>

#include "engine/core/nvtx.h"
#include "kernels/common/cuda_check.h"
#include "kernels/common/testing/gpu_test.h"
#include "kernels/rng/philox_normal.h"

namespace wan {
namespace {

TEST(RangeGroup, DropsStepIndices) {
  EXPECT_EQ(range_group("denoising/step/12/dit_forward/block/3/self_attn/dense"),
            "denoising/dit_forward/block/3/self_attn/dense");
  EXPECT_EQ(range_group("step/0"), "");
  EXPECT_EQ(range_group("vae_decode/frame/7/up1"), "vae_decode/up1");
  EXPECT_EQ(range_group(""), "");
}

TEST(KernelTracer, KernelsAttributedToRanges) {
  WAN_SKIP_WITHOUT_GPU();
  auto tracer = KernelTracer::start();
  ASSERT_TRUE(tracer.ok()) << tracer.status().to_string();
  float* buf = nullptr;
  WAN_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&buf), 1 << 20));
  {
    ScopedRange outer("step/3");
    ScopedRange inner("fill");
    launch_fill_normal_philox(buf, 1 << 18, 1, 0, 0, nullptr);
  }
  launch_fill_normal_philox(buf, 1000, 2, 0, 0, nullptr);
  auto records = tracer.value()->collect(true);
  ASSERT_TRUE(records.ok()) << records.status().to_string();
  ASSERT_EQ(records->size(), 2u);
  EXPECT_NE(records->at(0).name.find("fill_normal_philox_kernel"), std::string::npos) << records->at(0).name;
  EXPECT_EQ(records->at(0).range, "step/3/fill");
  EXPECT_EQ(records->at(1).range, "");
  EXPECT_EQ(records->at(0).block[0], 256);
  EXPECT_GT(records->at(0).end_ns, records->at(0).start_ns);
  EXPECT_GT(records->at(0).registers, 0);
  EXPECT_EQ(tracer.value()->dropped_records(), 0u);
  WAN_CUDA_CHECK(cudaFree(buf));
}

}  // namespace
}  // namespace wan
