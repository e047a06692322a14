// Flash attention forward throughput (TFLOP/s = 4 * q_tokens * kv_tokens * head_dim * heads /
// time), CUDA-event timing. The headline case is the 1.3B model at 480x832x81: batch 1,
// 12 heads, 32,760 tokens, head_dim 128 (cuDNN: 11.2 ms, 591 TFLOP/s on an H100).
#include <benchmark/benchmark.h>

#include "kernels/attention/flash/flash_attention_fwd.h"
#include "kernels/attention/flash/flash_attention_fwd_sm90.h"
#include "kernels/common/testing/cuda_benchmark.h"

namespace wan {
namespace {

void BM_FlashAttentionFwd(benchmark::State& state) {
  if (testing::skip_without_gpu(state)) return;
  const int heads = static_cast<int>(state.range(0)), tokens = static_cast<int>(state.range(1)),
            head_dim = static_cast<int>(state.range(2)), kv = static_cast<int>(state.range(3));
  const int64_t row = static_cast<int64_t>(heads) * head_dim;
  testing::DeviceBuffer q(tokens * row * 2), k(kv * row * 2), v(kv * row * 2), out(tokens * row * 2);
  WAN_CUDA_CHECK(cudaMemset(q.as<void>(), 0x3c, q.bytes()));
  WAN_CUDA_CHECK(cudaMemset(k.as<void>(), 0x3c, k.bytes()));
  WAN_CUDA_CHECK(cudaMemset(v.as<void>(), 0x3c, v.bytes()));
  FlashAttentionParams p;
  p.q = q.as<uint16_t>();
  p.k = k.as<uint16_t>();
  p.v = v.as<uint16_t>();
  p.out = out.as<uint16_t>();
  p.heads = heads;
  p.head_dim = head_dim;
  p.q_tokens = tokens;
  p.kv_tokens = kv;
  p.q_token_stride = p.kv_token_stride = p.out_token_stride = row;
  p.scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  const bool sm90 = state.range(4) == 1;
  if (sm90) {
    const std::string reason = flash_attention_fwd_sm90_unsupported_reason(p);
    if (!reason.empty()) {
      state.SkipWithError(reason.c_str());
      return;
    }
  }
  testing::DeviceBuffer workspace(sm90 ? flash_attention_fwd_sm90_workspace_bytes(p) : 16);
  testing::time_cuda(state, [&](cudaStream_t s) {
    if (sm90) {
      launch_flash_attention_fwd_sm90(p, workspace.as<void>(), s);
    } else {
      launch_flash_attention_fwd(p, s);
    }
  });
  const double flops = 4.0 * tokens * static_cast<double>(kv) * head_dim * heads;
  state.counters["TFLOP/s"] = benchmark::Counter(flops * state.iterations() / 1e12, benchmark::Counter::kIsRate);
}

BENCHMARK(BM_FlashAttentionFwd)
    ->ArgNames({"heads", "tokens", "head_dim", "kv", "sm90"})
    ->Args({12, 32760, 128, 32760, 0})  // 1.3B at 480x832x81, mma.sync kernel
    ->Args({12, 32760, 128, 32760, 1})  // the same, Hopper wgmma kernel
    ->Args({12, 32760, 128, 512, 0})    // its cross-attention
    ->Args({12, 32760, 128, 512, 1})
    ->Args({40, 75600, 128, 75600, 1})  // 14B at 720x1280x81 (cuDNN: 205.7 ms)
    ->Args({4, 1950, 64, 1950, 0})      // wan-small
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace wan
