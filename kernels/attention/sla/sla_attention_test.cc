// Sparse-linear attention on the GPU against the CPU reference (kernels/cpu/attention_sla, bf16
// rounding points on) on fresh random bf16 inputs: token counts with partial query and key
// blocks, head_dim 64 and 128, ratios 0.1 / 0.3 / 1, all three feature maps, with and without a
// proj_l weight, batch 2, and exact-tie keys. Checks: (a) the selected key blocks equal the
// CPU's exactly (the selection numerics are shared, sla_numerics.h); (b) output relative L2 <
// 1e-2 and max abs < 6e-2 against the CPU reference (bf16 rounding of the sparse branch's P
// and of the linear branch's intermediates; the CPU sums in double); (c) a second launch is
// bit-identical; (d) ratio 1 without proj_l is dense attention: relative L2 < 8e-3 against the
// CPU dense reference.
#include "kernels/attention/sla/sla_attention.h"

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
#include "kernels/cpu/attention_sla.h"

namespace wan {
namespace {

using testing::DeviceBuffer;

struct Case {
  int tokens, head_dim;
  double ratio;
  sla::FeatureMap map;
  bool proj;
  int batch = 1, heads = 2;
  bool identical_keys = false;  // every token's k equal: all pooled scores tie exactly
};

std::string describe(const Case& c, int64_t topk) {
  static const char* const kMaps[] = {"softmax", "elu", "relu"};
  char buf[256];
  std::snprintf(buf, sizeof(buf), "tokens %d batch %d heads %d d %d ratio %.2f (top-%lld) phi %s%s%s", c.tokens,
                c.batch, c.heads, c.head_dim, c.ratio, static_cast<long long>(topk), kMaps[static_cast<int>(c.map)],
                c.proj ? " proj_l" : " no proj_l", c.identical_keys ? " identical-keys" : "");
  return buf;
}

std::string unavailable_reason() {
  SparseLinearAttentionParams probe;
  probe.attn = packed_attention_params(1, 1, 64, 128, 128, reinterpret_cast<uint16_t*>(256),
                                       reinterpret_cast<uint16_t*>(256), reinterpret_cast<uint16_t*>(256),
                                       reinterpret_cast<uint16_t*>(256), 0.125f);
  return sla_attention_unsupported_reason(probe);
}

std::vector<float> cpu_dense(const Case& c, const std::vector<float>& q, const std::vector<float>& k,
                             const std::vector<float>& v, float scale) {
  const size_t row = static_cast<size_t>(c.heads) * c.head_dim;
  std::vector<float> ref(q.size());
  for (int b = 0; b < c.batch; ++b) {
    cpu::DenseAttentionParams r;
    r.q = q.data() + b * c.tokens * row;
    r.k = k.data() + b * c.tokens * row;
    r.v = v.data() + b * c.tokens * row;
    r.out = ref.data() + b * c.tokens * row;
    r.heads = c.heads;
    r.head_dim = c.head_dim;
    r.q_tokens = r.kv_tokens = c.tokens;
    r.scale = scale;
    r.round_p_to_bf16 = true;
    cpu::attention_dense_f32(r);
  }
  return ref;
}

void check_case(const Case& c, uint32_t seed) {
  const int d = c.head_dim;
  const int64_t key_blocks = (c.tokens + sla::kBlockK - 1) / sla::kBlockK;
  const int64_t query_blocks = (c.tokens + sla::kBlockQ - 1) / sla::kBlockQ;
  const int64_t topk = sla::topk_count(key_blocks, c.ratio);
  SCOPED_TRACE(describe(c, topk));
  const size_t row = static_cast<size_t>(c.heads) * d, n = static_cast<size_t>(c.batch) * c.tokens * row;
  const testing::Bf16Data q = testing::random_bf16(n, seed, 1.5f);
  testing::Bf16Data k = testing::random_bf16(n, seed + 1, 1.5f, 0.3f);  // a mean for smooth-k to remove
  const testing::Bf16Data v = testing::random_bf16(n, seed + 2);
  // proj_l like a trained Linear(head_dim, head_dim): weights ~ N(0, 1/d), a small bias.
  const testing::Bf16Data w = testing::random_bf16(static_cast<size_t>(d) * d, seed + 3, 1.0f / std::sqrt(float(d)));
  const testing::Bf16Data bias = testing::random_bf16(static_cast<size_t>(d), seed + 4, 0.1f);
  if (c.identical_keys)
    for (int b = 0; b < c.batch; ++b)
      for (int64_t t = 1; t < c.tokens; ++t)
        for (size_t x = 0; x < row; ++x) {
          const size_t src = b * c.tokens * row + x, dst = (b * c.tokens + t) * row + x;
          k.bits[dst] = k.bits[src];
          k.values[dst] = k.values[src];
        }
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));

  cpu::SlaAttentionParams r;
  r.q = q.values.data();
  r.k = k.values.data();
  r.v = v.values.data();
  std::vector<float> ref(n);
  r.out = ref.data();
  r.batch = c.batch;
  r.heads = c.heads;
  r.head_dim = d;
  r.tokens = c.tokens;
  r.scale = scale;
  r.ratio = c.ratio;
  r.feature_map = c.map;
  r.proj_weight = c.proj ? w.values.data() : nullptr;
  r.proj_bias = c.proj ? bias.values.data() : nullptr;
  r.round_to_bf16 = true;
  cpu::attention_sla_f32(r);

  DeviceBuffer dq = DeviceBuffer::from(q.bits), dk = DeviceBuffer::from(k.bits), dv = DeviceBuffer::from(v.bits);
  DeviceBuffer dw = DeviceBuffer::from(w.bits), dbias = DeviceBuffer::from(bias.bits), dout(n * 2);
  SparseLinearAttentionParams p;
  p.attn = packed_attention_params(c.batch, c.heads, d, c.tokens, c.tokens, dq.as<uint16_t>(), dk.as<uint16_t>(),
                                   dv.as<uint16_t>(), dout.as<uint16_t>(), scale);
  p.topk = static_cast<int>(topk);
  p.feature_map = c.map;
  p.proj_weight = c.proj ? dw.as<uint16_t>() : nullptr;
  p.proj_bias = c.proj ? dbias.as<uint16_t>() : nullptr;
  ASSERT_EQ(sla_attention_unsupported_reason(p), "");
  ASSERT_EQ(sla_query_blocks(p), query_blocks);
  ASSERT_EQ(sla_key_blocks(p), key_blocks);
  DeviceBuffer workspace(sla_attention_workspace_bytes(p));
  auto launch = [&] {
    WAN_CUDA_CHECK(cudaMemset(dout.as<void>(), 0xff, dout.bytes()));  // NaN: an unwritten row shows
    launch_sla_attention(p, workspace.as<void>(), nullptr);
    WAN_CUDA_CHECK(cudaDeviceSynchronize());
    return dout.to_host<uint16_t>();
  };
  const std::vector<uint16_t> first = launch();
  std::vector<int32_t> lists(static_cast<size_t>(c.batch * c.heads * query_blocks * topk));
  WAN_CUDA_CHECK(cudaMemcpy(lists.data(), sla_selected_blocks(p, workspace.as<void>()), lists.size() * 4,
                            cudaMemcpyDeviceToHost));
  const std::vector<uint16_t> second = launch();
  EXPECT_EQ(testing::first_difference(first, second), -1) << "not bit-identical run to run";

  // (a) The selection, exactly.
  for (int b = 0; b < c.batch; ++b)
    for (int h = 0; h < c.heads; ++h) {
      const std::vector<std::vector<int64_t>> want = cpu::sla_select_blocks(r, b, h);
      ASSERT_EQ(static_cast<int64_t>(want.size()), query_blocks);
      for (int64_t i = 0; i < query_blocks; ++i)
        for (int64_t j = 0; j < topk; ++j)
          ASSERT_EQ(lists[((static_cast<int64_t>(b) * c.heads + h) * query_blocks + i) * topk + j], want[i][j])
              << "selected key block " << j << " of query block " << i << " (batch " << b << ", head " << h
              << ") differs from the CPU reference";
    }
  if (c.identical_keys) {
    for (int64_t j = 0; j < topk; ++j) EXPECT_EQ(lists[j], j) << "exact ties go to the lowest key blocks";
  }

  // (b) The output against the CPU reference.
  const std::vector<float> got = testing::bf16_to_f32(first);
  const testing::ErrorNorms e = testing::error_norms(got, ref);
  std::printf("SLA GPU vs CPU reference: %s: mean abs %.3g, max abs %.3g, rel L2 %.3g\n", describe(c, topk).c_str(),
              e.mean_abs, e.max_abs, e.rel_l2);
  EXPECT_LT(e.rel_l2, 1e-2);
  EXPECT_LT(e.max_abs, 6e-2);
  // (d) Ratio 1 without proj_l: dense attention.
  if (c.ratio == 1.0 && !c.proj) {
    const double vs_dense = testing::rel_l2(got, cpu_dense(c, q.values, k.values, v.values, scale));
    std::printf("  ratio 1, no proj_l vs CPU dense: rel L2 %.3g\n", vs_dense);
    EXPECT_LT(vs_dense, 8e-3);
  }
}

// The linear branch reads q, k, v after the sparse branch wrote out: an out overlapping them is
// refused with the reason (host-side check, before any CUDA call).
TEST(SlaAttention, RefusesAnOutputOverlappingTheInputsWithProjL) {
  std::vector<uint16_t> buffer(3 * 256 * 2 * 64 + 64 * 64);
  uint16_t* q = buffer.data();
  SparseLinearAttentionParams p;
  p.attn = packed_attention_params(1, 2, 64, 256, 256, q, q + 256 * 128, q + 2 * 256 * 128, q, 0.125f);
  p.topk = 1;
  p.proj_weight = q + 3 * 256 * 128;  // 16-byte aligned like the vector's storage
  EXPECT_NE(sla_attention_unsupported_reason(p).find("out must not overlap q, k or v"), std::string::npos)
      << sla_attention_unsupported_reason(p);
}

// Small shapes (also what compute-sanitizer runs): partial query and key blocks, exact ties.
TEST(SlaAttention, PartialBlocksAndTies) {
  WAN_SKIP_WITHOUT_GPU();
  const std::string reason = unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  check_case({1000, 64, 0.3, sla::FeatureMap::kSoftmax, true}, 1);
  check_case({1100, 64, 0.2, sla::FeatureMap::kSoftmax, true, 1, 3, true}, 7);
}

TEST(SlaAttention, KernelsMatchTheCpuReference) {
  WAN_SKIP_WITHOUT_GPU();
  const std::string reason = unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  using M = sla::FeatureMap;
  check_case({4096, 128, 0.1, M::kSoftmax, true}, 2);   // whole blocks, top-6 of 64
  check_case({3000, 128, 0.3, M::kElu, true, 2}, 3);    // batch 2
  check_case({2500, 64, 0.1, M::kRelu, true}, 4);
  check_case({2000, 128, 0.25, M::kSoftmax, false}, 5);  // no proj_l: sparse branch only
  check_case({1500, 128, 1.0, M::kSoftmax, false}, 6);   // every block: dense
}

}  // namespace
}  // namespace wan
