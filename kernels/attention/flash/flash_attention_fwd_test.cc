// GPU flash attention against the CPU reference (kernels/cpu/attention_dense, P rounded to bf16)
// on fresh random inputs. Bound: relative L2 < 8e-3 (bf16 output rounding, 2^-9, plus P rounded
// relative to the running rather than the final max). Bit-identical across repeated launches.
#include "kernels/attention/flash/flash_attention_fwd.h"
#include "kernels/attention/flash/flash_attention_fwd_sm90.h"

#include <cstring>

#include <gtest/gtest.h>

#include "kernels/common/testing/device_buffer.h"
#include "kernels/common/testing/gpu_test.h"
#include "kernels/common/testing/random_bf16.h"
#include "kernels/cpu/attention_dense.h"

namespace wan {
namespace {

using testing::DeviceBuffer;

struct Case {
  int batch, heads, head_dim, q_tokens, kv_tokens;
};

void check_case(const Case& c, uint32_t seed, bool sm90 = false, Sm90Schedule schedule = Sm90Schedule::kDefault) {
  const size_t row = static_cast<size_t>(c.heads) * c.head_dim;
  const auto q = testing::random_bf16(c.batch * c.q_tokens * row, seed, 1.5f);
  const auto k = testing::random_bf16(c.batch * c.kv_tokens * row, seed + 1, 1.5f);
  const auto v = testing::random_bf16(c.batch * c.kv_tokens * row, seed + 2);
  DeviceBuffer dq = DeviceBuffer::from(q.bits), dk = DeviceBuffer::from(k.bits), dv = DeviceBuffer::from(v.bits);
  DeviceBuffer dout(q.bits.size() * 2);
  FlashAttentionParams p;
  p.q = dq.as<uint16_t>();
  p.k = dk.as<uint16_t>();
  p.v = dv.as<uint16_t>();
  p.out = dout.as<uint16_t>();
  p.batch = c.batch;
  p.heads = c.heads;
  p.head_dim = c.head_dim;
  p.q_tokens = c.q_tokens;
  p.kv_tokens = c.kv_tokens;
  p.q_token_stride = p.kv_token_stride = p.out_token_stride = static_cast<int64_t>(row);
  p.q_batch_stride = p.out_batch_stride = static_cast<int64_t>(c.q_tokens) * row;
  p.kv_batch_stride = static_cast<int64_t>(c.kv_tokens) * row;
  p.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  ASSERT_EQ(flash_attention_fwd_unsupported_reason(p), "");
  DeviceBuffer workspace(sm90 ? flash_attention_fwd_sm90_workspace_bytes(p) : 16);
  auto launch = [&] {
    if (sm90) {
      launch_flash_attention_fwd_sm90(p, workspace.as<void>(), nullptr, schedule);
    } else {
      launch_flash_attention_fwd(p, nullptr);
    }
  };
  launch();
  const std::vector<uint16_t> first = dout.to_host<uint16_t>();
  launch();
  const std::vector<uint16_t> second = dout.to_host<uint16_t>();
  EXPECT_EQ(first, second) << "not bit-identical run to run";

  std::vector<float> ref(q.values.size());
  for (int b = 0; b < c.batch; ++b) {
    cpu::DenseAttentionParams r;
    r.q = q.values.data() + b * c.q_tokens * row;
    r.k = k.values.data() + b * c.kv_tokens * row;
    r.v = v.values.data() + b * c.kv_tokens * row;
    r.out = ref.data() + b * c.q_tokens * row;
    r.heads = c.heads;
    r.head_dim = c.head_dim;
    r.q_tokens = c.q_tokens;
    r.kv_tokens = c.kv_tokens;
    r.scale = p.scale;
    r.round_p_to_bf16 = true;
    cpu::attention_dense_f32(r);
  }
  const double err = testing::rel_l2(testing::bf16_to_f32(first), ref);
  EXPECT_LT(err, 8e-3) << "batch " << c.batch << " heads " << c.heads << " d " << c.head_dim << " q "
                       << c.q_tokens << " kv " << c.kv_tokens;
  std::printf("flash%s vs CPU: d=%d q=%d kv=%d rel L2 %.3g\n", sm90 ? " (sm90 wgmma)" : "", c.head_dim, c.q_tokens,
              c.kv_tokens, err);
}

TEST(FlashAttentionFwd, MatchesCpuReferenceHeadDim128) {
  WAN_SKIP_WITHOUT_GPU();
  check_case({1, 2, 128, 256, 256}, 1);
  check_case({1, 3, 128, 300, 517}, 2);   // ragged tiles on both axes
  check_case({2, 2, 128, 64, 512}, 3);    // batch 2, cross-attention-like kv
}

TEST(FlashAttentionFwd, MatchesCpuReferenceHeadDim64) {
  WAN_SKIP_WITHOUT_GPU();
  check_case({1, 4, 64, 1950, 1950}, 4);  // wan-small self-attention
  check_case({1, 2, 64, 37, 5}, 5);       // tiny
}

TEST(FlashAttentionFwdSm90, MatchesCpuReference) {
  WAN_SKIP_WITHOUT_GPU();
  FlashAttentionParams probe;
  probe.head_dim = 128;
  probe.batch = probe.heads = probe.q_tokens = probe.kv_tokens = 1;
  probe.q = probe.k = probe.v = probe.out = reinterpret_cast<uint16_t*>(256);
  const std::string reason = flash_attention_fwd_sm90_unsupported_reason(probe);
  if (!reason.empty()) GTEST_SKIP() << reason;
  for (Sm90Schedule schedule : {Sm90Schedule::kWarpSpecialized, Sm90Schedule::kPlain}) {
    check_case({1, 2, 128, 256, 256}, 11, true, schedule);
    check_case({1, 3, 128, 300, 517}, 12, true, schedule);  // ragged query and key tiles
    check_case({2, 2, 128, 64, 512}, 13, true, schedule);   // batch 2, cross-attention-like kv
    check_case({1, 1, 128, 1000, 77}, 14, true, schedule);  // one ragged key tile
    check_case({1, 2, 128, 200, 1000}, 15, true, schedule); // several tiles through the ring
  }
}

TEST(FlashAttentionFwd, RejectsUnsupportedHeadDim) {
  FlashAttentionParams p;
  p.head_dim = 96;
  p.batch = p.heads = p.q_tokens = p.kv_tokens = 1;
  EXPECT_NE(flash_attention_fwd_unsupported_reason(p).find("head_dim 96"), std::string::npos);
}

}  // namespace
}  // namespace wan
