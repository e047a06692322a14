// The dense attention kernels against the CPU reference (kernels/cpu/attention_dense, P rounded
// to bf16) on fresh random inputs: the mma.sync kernel (head_dim 64, 128), the plain sm90 kernel
// (head_dim 128) and the dense all-blocks schedule of the block-sparse main loop (128x128
// tiling, head_dim 64 and 128). Bound: relative L2 < 8e-3 (bf16 output rounding, 2^-9, plus P
// rounded relative to the running rather than the final max). Every kernel is bit-identical
// across repeated launches. The main loop's log-sum-exp output is within 1e-3 (absolute) of a
// double-precision ln sum exp(scale * q.k) (fp32 sums and exp2 approximations, ~1e-6 relative).
#include "kernels/attention/flash/flash_attention_fwd.h"
#include "kernels/attention/flash/flash_attention_fwd_sm90.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/attention/block_sparse/block_sparse_attention_sm90.h"
#include "kernels/common/cuda_check.h"
#include "kernels/common/testing/device_buffer.h"
#include "kernels/common/testing/gpu_test.h"
#include "kernels/common/testing/random_bf16.h"
#include "kernels/cpu/attention_dense.h"

namespace wan {
namespace {

using testing::DeviceBuffer;

using testing::first_difference;

struct Case {
  int batch, heads, head_dim, q_tokens, kv_tokens;
};

enum class Kernel { kMmaSync, kSm90Plain, kMainLoopDense };

const char* kernel_name(Kernel k) {
  switch (k) {
    case Kernel::kMmaSync: return "mma_sync";
    case Kernel::kSm90Plain: return "sm90_plain";
    case Kernel::kMainLoopDense: return "main_loop_dense";
  }
  return "?";
}

// Packed [batch, tokens, heads, head_dim] params for c on the given device buffers.
FlashAttentionParams packed_params(const Case& c, const uint16_t* q, const uint16_t* k, const uint16_t* v,
                                   uint16_t* out) {
  const int64_t row = static_cast<int64_t>(c.heads) * c.head_dim;
  FlashAttentionParams p;
  p.q = q;
  p.k = k;
  p.v = v;
  p.out = out;
  p.batch = c.batch;
  p.heads = c.heads;
  p.head_dim = c.head_dim;
  p.q_tokens = c.q_tokens;
  p.kv_tokens = c.kv_tokens;
  p.q_token_stride = p.kv_token_stride = p.out_token_stride = row;
  p.q_batch_stride = p.out_batch_stride = static_cast<int64_t>(c.q_tokens) * row;
  p.kv_batch_stride = static_cast<int64_t>(c.kv_tokens) * row;
  p.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  return p;
}


// Why the kernel cannot run on this machine (not Hopper, no sm_90a code), probed on a tiny
// aligned shape; empty when it can.
std::string unavailable_reason(Kernel kernel, int head_dim) {
  FlashAttentionParams probe;
  probe.head_dim = head_dim;
  probe.batch = probe.heads = probe.q_tokens = probe.kv_tokens = 1;
  probe.q_token_stride = probe.kv_token_stride = probe.out_token_stride = head_dim;
  probe.q = probe.k = probe.v = probe.out = reinterpret_cast<uint16_t*>(256);
  switch (kernel) {
    case Kernel::kMmaSync: return flash_attention_fwd_unsupported_reason(probe);
    case Kernel::kSm90Plain: return flash_attention_fwd_sm90_plain_unsupported_reason(probe);
    case Kernel::kMainLoopDense: return block_sparse_attention_sm90_unsupported_reason(dense_block_sparse_params(probe));
  }
  return "unknown kernel";
}

// CPU reference for every batch (attention_dense_f32 handles one batch's packed tensors).
std::vector<float> cpu_reference(const Case& c, const std::vector<float>& q, const std::vector<float>& k,
                                 const std::vector<float>& v, float scale) {
  const size_t row = static_cast<size_t>(c.heads) * c.head_dim;
  std::vector<float> ref(static_cast<size_t>(c.batch) * c.q_tokens * row);
  for (int b = 0; b < c.batch; ++b) {
    cpu::DenseAttentionParams r;
    r.q = q.data() + b * c.q_tokens * row;
    r.k = k.data() + b * c.kv_tokens * row;
    r.v = v.data() + b * c.kv_tokens * row;
    r.out = ref.data() + b * c.q_tokens * row;
    r.heads = c.heads;
    r.head_dim = c.head_dim;
    r.q_tokens = c.q_tokens;
    r.kv_tokens = c.kv_tokens;
    r.scale = scale;
    r.round_p_to_bf16 = true;
    cpu::attention_dense_f32(r);
  }
  return ref;
}

void check_case(const Case& c, uint32_t seed, Kernel kernel) {
  SCOPED_TRACE(std::string(kernel_name(kernel)) + " batch " + std::to_string(c.batch) + " heads " +
               std::to_string(c.heads) + " d " + std::to_string(c.head_dim) + " q " + std::to_string(c.q_tokens) +
               " kv " + std::to_string(c.kv_tokens));
  const size_t row = static_cast<size_t>(c.heads) * c.head_dim;
  const auto q = testing::random_bf16(c.batch * c.q_tokens * row, seed, 1.5f);
  const auto k = testing::random_bf16(c.batch * c.kv_tokens * row, seed + 1, 1.5f);
  const auto v = testing::random_bf16(c.batch * c.kv_tokens * row, seed + 2);
  DeviceBuffer dq = DeviceBuffer::from(q.bits), dk = DeviceBuffer::from(k.bits), dv = DeviceBuffer::from(v.bits);
  DeviceBuffer dout(q.bits.size() * 2);
  const FlashAttentionParams p = packed_params(c, dq.as<uint16_t>(), dk.as<uint16_t>(), dv.as<uint16_t>(),
                                               dout.as<uint16_t>());
  const BlockSparseAttentionParams b = dense_block_sparse_params(p);
  size_t workspace_bytes = 16;
  switch (kernel) {
    case Kernel::kMmaSync:
      ASSERT_EQ(flash_attention_fwd_unsupported_reason(p), "");
      break;
    case Kernel::kSm90Plain:
      ASSERT_EQ(flash_attention_fwd_sm90_plain_unsupported_reason(p), "");
      workspace_bytes = flash_attention_fwd_sm90_plain_workspace_bytes(p);
      break;
    case Kernel::kMainLoopDense:
      ASSERT_EQ(block_sparse_attention_sm90_unsupported_reason(b), "");
      workspace_bytes = block_sparse_attention_sm90_workspace_bytes(b);
      break;
  }
  DeviceBuffer workspace(workspace_bytes);
  auto launch = [&] {
    switch (kernel) {
      case Kernel::kMmaSync: launch_flash_attention_fwd(p, nullptr); break;
      case Kernel::kSm90Plain: launch_flash_attention_fwd_sm90_plain(p, workspace.as<void>(), nullptr); break;
      case Kernel::kMainLoopDense: launch_block_sparse_attention_sm90(b, workspace.as<void>(), nullptr); break;
    }
    WAN_CUDA_CHECK(cudaDeviceSynchronize());
  };
  launch();
  const std::vector<uint16_t> first = dout.to_host<uint16_t>();
  WAN_CUDA_CHECK(cudaMemset(dout.as<void>(), 0xff, dout.bytes()));  // NaN: a skipped row shows
  launch();
  const std::vector<uint16_t> second = dout.to_host<uint16_t>();
  EXPECT_EQ(first_difference(first, second), -1) << "not bit-identical run to run (first differing element)";

  const std::vector<float> ref = cpu_reference(c, q.values, k.values, v.values, p.scale);
  const double err = testing::rel_l2(testing::bf16_to_f32(first), ref);
  EXPECT_LT(err, 8e-3);
  std::printf("%s vs CPU: batch %d heads %d d %d q %d kv %d: rel L2 %.3g\n", kernel_name(kernel), c.batch, c.heads,
              c.head_dim, c.q_tokens, c.kv_tokens, err);
}

TEST(FlashAttentionFwd, MatchesCpuReferenceHeadDim128) {
  WAN_SKIP_WITHOUT_GPU();
  check_case({1, 2, 128, 256, 256}, 1, Kernel::kMmaSync);
  check_case({1, 3, 128, 300, 517}, 2, Kernel::kMmaSync);   // ragged tiles on both axes
  check_case({2, 2, 128, 64, 512}, 3, Kernel::kMmaSync);    // batch 2, cross-attention-like kv
  check_case({2, 2, 128, 1000, 777}, 6, Kernel::kMmaSync);  // ragged, batch 2
}

TEST(FlashAttentionFwd, MatchesCpuReferenceHeadDim64) {
  WAN_SKIP_WITHOUT_GPU();
  check_case({1, 4, 64, 1950, 1950}, 4, Kernel::kMmaSync);  // wan-small self-attention
  check_case({1, 2, 64, 37, 5}, 5, Kernel::kMmaSync);       // tiny
  check_case({2, 2, 64, 130, 70}, 7, Kernel::kMmaSync);     // one ragged key tile, batch 2
}

TEST(FlashAttentionFwdSm90Plain, MatchesCpuReference) {
  WAN_SKIP_WITHOUT_GPU();
  const std::string reason = unavailable_reason(Kernel::kSm90Plain, 128);
  if (!reason.empty()) GTEST_SKIP() << reason;
  check_case({1, 2, 128, 256, 256}, 11, Kernel::kSm90Plain);
  check_case({1, 3, 128, 300, 517}, 12, Kernel::kSm90Plain);   // ragged query and key tiles
  check_case({2, 2, 128, 64, 512}, 13, Kernel::kSm90Plain);    // batch 2, cross-attention-like kv
  check_case({1, 1, 128, 1000, 77}, 14, Kernel::kSm90Plain);   // one ragged key tile
  check_case({2, 2, 128, 1000, 777}, 15, Kernel::kSm90Plain);  // ragged, batch 2
  check_case({1, 2, 128, 130, 70}, 16, Kernel::kSm90Plain);    // two query blocks, one key block
}

TEST(BlockSparseMainLoopDense, MatchesCpuReference) {
  WAN_SKIP_WITHOUT_GPU();
  const std::string reason = unavailable_reason(Kernel::kMainLoopDense, 128);
  if (!reason.empty()) GTEST_SKIP() << reason;
  for (int d : {128, 64}) {
    const uint32_t seed = 21 + d;
    check_case({1, 2, d, 256, 256}, seed, Kernel::kMainLoopDense);
    check_case({1, 3, d, 300, 517}, seed + 1, Kernel::kMainLoopDense);    // ragged query and key blocks
    check_case({2, 2, d, 64, 512}, seed + 2, Kernel::kMainLoopDense);     // batch 2, cross-attention-like kv
    check_case({1, 1, d, 1000, 77}, seed + 3, Kernel::kMainLoopDense);    // one ragged key block
    check_case({2, 2, d, 1000, 777}, seed + 4, Kernel::kMainLoopDense);   // ragged, batch 2
    check_case({2, 2, d, 130, 70}, seed + 5, Kernel::kMainLoopDense);     // two query blocks, one key block
    check_case({1, 2, d, 200, 1000}, seed + 6, Kernel::kMainLoopDense);   // several blocks through the ring
  }
}

// params.lse [batch, heads, q_tokens] = ln sum_j exp(scale * q.k_j), against double precision.
void check_lse(const Case& c, uint32_t seed) {
  SCOPED_TRACE("lse batch " + std::to_string(c.batch) + " d " + std::to_string(c.head_dim) + " q " +
               std::to_string(c.q_tokens) + " kv " + std::to_string(c.kv_tokens));
  const size_t row = static_cast<size_t>(c.heads) * c.head_dim;
  const auto q = testing::random_bf16(c.batch * c.q_tokens * row, seed, 1.5f);
  const auto k = testing::random_bf16(c.batch * c.kv_tokens * row, seed + 1, 1.5f);
  const auto v = testing::random_bf16(c.batch * c.kv_tokens * row, seed + 2);
  DeviceBuffer dq = DeviceBuffer::from(q.bits), dk = DeviceBuffer::from(k.bits), dv = DeviceBuffer::from(v.bits);
  DeviceBuffer dout(q.bits.size() * 2);
  const size_t lse_count = static_cast<size_t>(c.batch) * c.heads * c.q_tokens;
  DeviceBuffer dlse(lse_count * sizeof(float));
  BlockSparseAttentionParams b = dense_block_sparse_params(
      packed_params(c, dq.as<uint16_t>(), dk.as<uint16_t>(), dv.as<uint16_t>(), dout.as<uint16_t>()));
  b.lse = dlse.as<float>();
  ASSERT_EQ(block_sparse_attention_sm90_unsupported_reason(b), "");
  DeviceBuffer workspace(block_sparse_attention_sm90_workspace_bytes(b));
  launch_block_sparse_attention_sm90(b, workspace.as<void>(), nullptr);
  WAN_CUDA_CHECK(cudaDeviceSynchronize());
  const std::vector<float> lse = dlse.to_host<float>();

  double max_err = 0;
  std::vector<double> s(static_cast<size_t>(c.kv_tokens));
  for (int bt = 0; bt < c.batch; ++bt) {
    for (int h = 0; h < c.heads; ++h) {
      for (int i = 0; i < c.q_tokens; ++i) {
        const float* qi = q.values.data() + (static_cast<size_t>(bt) * c.q_tokens + i) * row + h * c.head_dim;
        double m = -INFINITY;
        for (int j = 0; j < c.kv_tokens; ++j) {
          const float* kj = k.values.data() + (static_cast<size_t>(bt) * c.kv_tokens + j) * row + h * c.head_dim;
          double dot = 0;
          for (int d = 0; d < c.head_dim; ++d) dot += static_cast<double>(qi[d]) * kj[d];
          s[j] = dot * b.attn.scale;
          m = std::max(m, s[j]);
        }
        double l = 0;
        for (int j = 0; j < c.kv_tokens; ++j) l += std::exp(s[j] - m);
        const double want = m + std::log(l);
        const double got = lse[(static_cast<size_t>(bt) * c.heads + h) * c.q_tokens + i];
        max_err = std::max(max_err, std::abs(got - want));
        if (!(std::abs(got - want) < 1e-3)) {  // also catches NaN
          ADD_FAILURE() << "lse (batch " << bt << ", head " << h << ", row " << i << "): got " << got << ", want "
                        << want;
          return;
        }
      }
    }
  }
  std::printf("main loop lse vs double: batch %d heads %d d %d q %d kv %d: max abs err %.3g\n", c.batch, c.heads,
              c.head_dim, c.q_tokens, c.kv_tokens, max_err);
}

TEST(BlockSparseMainLoopDense, LogSumExpMatchesDouble) {
  WAN_SKIP_WITHOUT_GPU();
  const std::string reason = unavailable_reason(Kernel::kMainLoopDense, 128);
  if (!reason.empty()) GTEST_SKIP() << reason;
  check_lse({2, 2, 128, 1000, 777}, 41);
  check_lse({2, 2, 64, 130, 70}, 42);
  check_lse({1, 3, 64, 300, 517}, 43);
}

TEST(FlashAttentionFwd, RejectsUnsupportedHeadDim) {
  FlashAttentionParams p;
  p.head_dim = 96;
  p.batch = p.heads = p.q_tokens = p.kv_tokens = 1;
  EXPECT_NE(flash_attention_fwd_unsupported_reason(p).find("head_dim 96"), std::string::npos);
}

TEST(FlashAttentionFwdSm90Plain, RejectsHeadDim64) {
  FlashAttentionParams p;
  p.head_dim = 64;
  p.batch = p.heads = p.q_tokens = p.kv_tokens = 1;
  p.q_token_stride = p.kv_token_stride = p.out_token_stride = 64;
  p.q = p.k = p.v = p.out = reinterpret_cast<uint16_t*>(256);
  EXPECT_NE(flash_attention_fwd_sm90_plain_unsupported_reason(p), "");
}

}  // namespace
}  // namespace wan
