// Sage on the GPU against (a) its CPU emulation (kernels/cpu/attention_sage: the same smooth-k,
// INT8 groups, e4m3 P and V, block softmax) and (b) dense attention (the CPU f32 reference), on
// fresh random bf16 inputs: head_dim 64 and 128, partial last query and key blocks, batch 2,
// keys with a large common offset (what smooth-k removes), 1 to 3 heads. Bounds:
//  (a) relative L2 < 2e-3 and max abs < 3e-2 against the emulation: they differ only where the
//      hardware's ex2.approx or the per-thread order of the row sums moves a P value across an
//      e4m3 rounding boundary (a 1/16 step of one key's weight);
//  (b) against dense: cosine similarity >= 0.999 for every (batch, head) (the bound) and
//      relative L2 < 5e-2 (e4m3 P and V: 3 mantissa bits), with the figures printed;
//  (c) a second launch is bit-identical, and so is each consumer schedule (free, ping-pong).
#include "kernels/attention/sage/sage_attention.h"

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/common/cuda_check.h"
#include "kernels/common/testing/device_buffer.h"
#include "kernels/common/testing/gpu_test.h"
#include "kernels/common/testing/random_bf16.h"
#include "kernels/cpu/attention_dense.h"
#include "kernels/cpu/attention_sage.h"

namespace wan {
namespace {

using testing::DeviceBuffer;

struct Case {
  int tokens, heads, head_dim, batch = 1;
  float k_mean = 0.2f;  // common offset of every key channel
};

std::string describe(const Case& c) {
  char buf[160];
  std::snprintf(buf, sizeof(buf), "%d tokens, batch %d, %d heads, head_dim %d, k offset %.1f", c.tokens, c.batch,
                c.heads, c.head_dim, c.k_mean);
  return buf;
}

std::string unavailable_reason() {
  uint16_t* placeholder = reinterpret_cast<uint16_t*>(256);
  return sage_attention_unsupported_reason(
      packed_attention_params(1, 1, 128, 128, 128, placeholder, placeholder, placeholder, placeholder, 0.125f));
}

// Cosine similarity of the (batch, head) slice h of two [batch, tokens, heads, d] tensors.
double head_cosine(const std::vector<float>& a, const std::vector<float>& b, const Case& c, int bh) {
  const int batch = bh / c.heads, head = bh % c.heads;
  double ab = 0, aa = 0, bb = 0;
  for (int t = 0; t < c.tokens; ++t)
    for (int x = 0; x < c.head_dim; ++x) {
      const size_t i = ((static_cast<size_t>(batch) * c.tokens + t) * c.heads + head) * c.head_dim + x;
      ab += static_cast<double>(a[i]) * b[i];
      aa += static_cast<double>(a[i]) * a[i];
      bb += static_cast<double>(b[i]) * b[i];
    }
  return ab / std::sqrt(aa * bb);
}

void check_case(const Case& c, uint32_t seed) {
  SCOPED_TRACE(describe(c));
  const size_t row = static_cast<size_t>(c.heads) * c.head_dim, per_batch = c.tokens * row,
               n = per_batch * c.batch;
  const testing::Bf16Data q = testing::random_bf16(n, seed, 1.5f);
  const testing::Bf16Data k = testing::random_bf16(n, seed + 1, 1.5f, c.k_mean);
  const testing::Bf16Data v = testing::random_bf16(n, seed + 2);
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));

  std::vector<float> emulated(n), dense(n);
  cpu::SageAttentionParams r;
  r.q = q.values.data();
  r.k = k.values.data();
  r.v = v.values.data();
  r.out = emulated.data();
  r.batch = c.batch;
  r.heads = c.heads;
  r.head_dim = c.head_dim;
  r.tokens = c.tokens;
  r.scale = scale;
  cpu::attention_sage_f32(r);
  for (int b = 0; b < c.batch; ++b) {
    cpu::DenseAttentionParams dp;
    dp.q = q.values.data() + b * per_batch;
    dp.k = k.values.data() + b * per_batch;
    dp.v = v.values.data() + b * per_batch;
    dp.out = dense.data() + b * per_batch;
    dp.heads = c.heads;
    dp.head_dim = c.head_dim;
    dp.q_tokens = dp.kv_tokens = c.tokens;
    dp.scale = scale;
    cpu::attention_dense_f32(dp);
  }

  DeviceBuffer dq = DeviceBuffer::from(q.bits), dk = DeviceBuffer::from(k.bits), dv = DeviceBuffer::from(v.bits);
  DeviceBuffer dout(n * 2);
  const FlashAttentionParams p =
      packed_attention_params(c.batch, c.heads, c.head_dim, c.tokens, c.tokens, dq.as<uint16_t>(), dk.as<uint16_t>(),
                              dv.as<uint16_t>(), dout.as<uint16_t>(), scale);
  ASSERT_EQ(sage_attention_unsupported_reason(p), "");
  DeviceBuffer workspace(sage_attention_workspace_bytes(p));
  auto launch = [&] {
    WAN_CUDA_CHECK(cudaMemset(dout.as<void>(), 0xff, dout.bytes()));  // NaN: an unwritten row shows
    launch_sage_attention(p, workspace.as<void>(), nullptr);
    WAN_CUDA_CHECK(cudaDeviceSynchronize());
    return dout.to_host<uint16_t>();
  };
  const std::vector<uint16_t> first = launch(), second = launch();
  EXPECT_EQ(testing::first_difference(first, second), -1) << "not bit-identical run to run";
  for (const SageSchedule schedule : {SageSchedule::kFree, SageSchedule::kPingPong}) {  // same arithmetic
    WAN_CUDA_CHECK(cudaMemset(dout.as<void>(), 0xff, dout.bytes()));
    launch_sage_quantize(p, workspace.as<void>(), nullptr);
    launch_sage_attention_kernel(p, workspace.as<void>(), nullptr, schedule);
    WAN_CUDA_CHECK(cudaDeviceSynchronize());
    EXPECT_EQ(testing::first_difference(first, dout.to_host<uint16_t>()), -1)
        << "schedule " << static_cast<int>(schedule) << " differs from the default launch";
  }

  const std::vector<float> got = testing::bf16_to_f32(first);
  const testing::ErrorNorms e = testing::error_norms(got, emulated);
  const testing::ErrorNorms d = testing::error_norms(got, dense);
  const testing::ErrorNorms emu_vs_dense = testing::error_norms(emulated, dense);
  double min_cos = 1.0;
  for (int bh = 0; bh < c.batch * c.heads; ++bh) min_cos = std::min(min_cos, head_cosine(got, dense, c, bh));
  std::printf(
      "sage GPU (%s): vs CPU emulation mean abs %.3g max abs %.3g rel L2 %.3g; vs dense rel L2 %.3g max abs %.3g "
      "min head cosine %.6f (emulation vs dense rel L2 %.3g)\n",
      describe(c).c_str(), e.mean_abs, e.max_abs, e.rel_l2, d.rel_l2, d.max_abs, min_cos, emu_vs_dense.rel_l2);
  EXPECT_LT(e.rel_l2, 2e-3);
  EXPECT_LT(e.max_abs, 3e-2);
  EXPECT_GE(min_cos, 0.999);
  EXPECT_LT(d.rel_l2, 5e-2);
}

// Small shapes (also what compute-sanitizer runs): partial blocks, both head dims.
TEST(SageAttention, SmallShapes) {
  WAN_SKIP_WITHOUT_GPU();
  const std::string reason = unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  check_case({200, 2, 128}, 11);
  check_case({130, 1, 64}, 12);
  check_case({64, 1, 128}, 13);  // one query block half full, one key block
}

TEST(SageAttention, LargerShapesBatchAndOffsetKeys) {
  WAN_SKIP_WITHOUT_GPU();
  const std::string reason = unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  check_case({1000, 3, 128, 2}, 21);
  check_case({1560, 2, 64}, 22);
  check_case({777, 2, 128, 1, 4.0f}, 23);  // keys far from zero: smooth-k keeps the INT8 range
  check_case({2048, 1, 128}, 24);          // whole blocks only
}

TEST(SageAttention, RefusesWhatItCannotServe) {
  uint16_t* placeholder = reinterpret_cast<uint16_t*>(256);
  FlashAttentionParams p = packed_attention_params(1, 1, 96, 128, 128, placeholder, placeholder, placeholder,
                                                   placeholder, 0.1f);
  EXPECT_NE(sage_attention_unsupported_reason(p).find("head_dim 64 and 128"), std::string::npos);
  p = packed_attention_params(1, 1, 128, 128, 128, placeholder, placeholder, placeholder, placeholder, 0.1f);
  p.q = reinterpret_cast<const uint16_t*>(258);
  EXPECT_NE(sage_attention_unsupported_reason(p).find("16-byte aligned"), std::string::npos);
  p = packed_attention_params(1, 1, 128, 128, 128, placeholder, placeholder, placeholder, placeholder, 0.1f);
  p.q_token_stride = 132;
  EXPECT_NE(sage_attention_unsupported_reason(p).find("multiples of 8"), std::string::npos);
}

}  // namespace
}  // namespace wan
