// Element-wise DiT kernels: patchify/unpatchify exactly match the CPU index maps; the CFG
// combine + UniPC/Euler step kernels are bit-identical to the same per-element functions on
// the host (so GPU and CPU schedulers agree bit for bit); modulation and SiLU values.
#include "kernels/dit/dit_elementwise.h"

#include <cmath>
#include <cstring>

#include <gtest/gtest.h>

#include "kernels/common/float16.h"
#include "kernels/common/testing/device_buffer.h"
#include "kernels/common/testing/gpu_test.h"
#include "kernels/common/testing/random_bf16.h"

namespace wan {
namespace {

using testing::DeviceBuffer;

TEST(DitElementwise, PatchifyAndUnpatchifyIndexMaps) {
  WAN_SKIP_WITHOUT_GPU();
  const int64_t c = 16, t = 3, h = 6, w = 10, tokens = t * (h / 2) * (w / 2);
  std::vector<float> lat(c * t * h * w);
  for (size_t i = 0; i < lat.size(); ++i) lat[i] = static_cast<float>(i % 251) - 100.0f;  // exact in bf16
  DeviceBuffer dl = DeviceBuffer::from(lat), patches(tokens * c * 4 * 2), back(lat.size() * 4);
  launch_patchify(dl.as<float>(), patches.as<uint16_t>(), c, t, h, w, nullptr);
  const auto p = patches.to_host<uint16_t>();
  for (int64_t tt = 0; tt < t; ++tt)
    for (int64_t y = 0; y < h / 2; ++y)
      for (int64_t x = 0; x < w / 2; ++x)
        for (int64_t ch = 0; ch < c; ++ch)
          for (int64_t ph = 0; ph < 2; ++ph)
            for (int64_t pw = 0; pw < 2; ++pw) {
              const int64_t token = (tt * (h / 2) + y) * (w / 2) + x;
              ASSERT_EQ(bf16_bits_to_f32(p[token * 64 + ch * 4 + ph * 2 + pw]),
                        lat[((ch * t + tt) * h + 2 * y + ph) * w + 2 * x + pw]);
            }
  // Unpatchify of a head output laid out as ((ph*2 + pw)*C + c) reproduces the latents.
  std::vector<uint16_t> head(tokens * 64);
  for (int64_t token = 0; token < tokens; ++token)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t q = 0; q < 4; ++q) head[token * 64 + q * c + ch] = p[token * 64 + ch * 4 + q];
  DeviceBuffer dh = DeviceBuffer::from(head);
  launch_unpatchify(dh.as<uint16_t>(), back.as<float>(), c, t, h, w, nullptr);
  EXPECT_EQ(back.to_host<float>(), lat);
}

TEST(DitElementwise, CfgUniPCStepBitIdenticalToHost) {
  WAN_SKIP_WITHOUT_GPU();
  const int64_t n = 100003;
  const auto cond = testing::random_bf16(n, 1).values, uncond = testing::random_bf16(n, 2).values;
  std::vector<float> x = testing::random_bf16(n, 3).values, last(n, 0), m1(n, 0), m2(n, 0);
  DeviceBuffer dc = DeviceBuffer::from(cond), du = DeviceBuffer::from(uncond), dx = DeviceBuffer::from(x),
               dlast = DeviceBuffer::from(last), dm1 = DeviceBuffer::from(m1), dm2 = DeviceBuffer::from(m2);
  const float g = 3.0f;
  for (int step = 0; step < 4; ++step) {
    FlowUniPCCoefficients k;
    k.sigma = 0.9f - 0.2f * step;
    k.corrector_order = step == 0 ? 0 : (step == 1 ? 1 : 2);
    k.c_ratio = 1.07f, k.c_alpha_phi = -0.031f, k.c_alpha_bh = -0.029f, k.c_rk = -1.3f, k.c_rho0 = 0.41f, k.c_rho1 = 0.5f;
    k.predictor_order = step == 0 || step == 3 ? 1 : 2;
    k.p_ratio = 0.93f, k.p_alpha_phi = -0.07f, k.p_alpha_bh = -0.069f, k.p_rk = -0.77f, k.p_rho = 0.5f;
    launch_cfg_unipc_step(dc.as<float>(), du.as<float>(), g, k, dx.as<float>(), dlast.as<float>(), dm1.as<float>(),
                          dm2.as<float>(), n, nullptr);
    for (int64_t i = 0; i < n; ++i) {
      const float pred = fp32::add(uncond[i], fp32::mul(g, fp32::sub(cond[i], uncond[i])));
      flow_unipc_update_element(k, pred, &x[i], &last[i], &m1[i], &m2[i]);
    }
    const auto got = dx.to_host<float>();
    ASSERT_EQ(std::memcmp(got.data(), x.data(), n * 4), 0) << "step " << step;
  }
  EXPECT_EQ(std::memcmp(dm2.to_host<float>().data(), m2.data(), n * 4), 0);
  // Euler, without CFG.
  launch_cfg_euler_step(dc.as<float>(), nullptr, g, -0.25f, dx.as<float>(), n, nullptr);
  for (int64_t i = 0; i < n; ++i) flow_euler_update_element(-0.25f, cond[i], &x[i]);
  EXPECT_EQ(std::memcmp(dx.to_host<float>().data(), x.data(), n * 4), 0);
}

TEST(DitElementwise, ModulationAndSilu) {
  WAN_SKIP_WITHOUT_GPU();
  const int64_t dim = 512;
  const auto table = testing::random_bf16(6 * dim, 4), proj = testing::random_bf16(6 * dim, 5);
  DeviceBuffer dt = DeviceBuffer::from(table.bits), dp = DeviceBuffer::from(proj.bits), e(6 * dim * 4),
               head(2 * dim * 4), silu(6 * dim * 2);
  launch_add_bf16_to_f32(dt.as<uint16_t>(), dp.as<uint16_t>(), e.as<float>(), 6 * dim, nullptr);
  launch_head_modulation(dt.as<uint16_t>(), dp.as<uint16_t>(), head.as<float>(), dim, nullptr);
  launch_silu_bf16(dp.as<uint16_t>(), silu.as<uint16_t>(), 6 * dim, nullptr);
  const auto ge = e.to_host<float>(), gh = head.to_host<float>();
  const auto gs = silu.to_host<uint16_t>();
  for (int64_t i = 0; i < 6 * dim; ++i) {
    ASSERT_EQ(ge[i], table.values[i] + proj.values[i]);
    const double s = proj.values[i] / (1.0 + std::exp(-double(proj.values[i])));
    ASSERT_NEAR(bf16_bits_to_f32(gs[i]), s, std::fabs(s) * 8e-3 + 1e-6);  // one bf16 ulp
  }
  for (int64_t i = 0; i < 2 * dim; ++i) ASSERT_EQ(gh[i], round_to_bf16(table.values[i] + proj.values[i % dim]));
}

}  // namespace
}  // namespace wan
