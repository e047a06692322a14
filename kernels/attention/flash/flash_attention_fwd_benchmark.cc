// Dense attention forward throughput (TFLOP/s = 4 * q_tokens * kv_tokens * head_dim * heads /
// time), CUDA-event timing, for the three dense kernels: the mma.sync kernel, the plain sm90
// kernel and the block-sparse main loop's all-blocks schedule (128x128 tiling; its default consumer
// schedule, softmax overlapping P V with the warpgroups' ping-pong; the serial one; the overlap
// without the ping-pong: the same bits). The headline
// case is the 1.3B model at 480x832x81: batch 1, 12 heads, 32,760 tokens, head_dim 128
// (cuDNN: 11.2 ms, 591 TFLOP/s on an H100). sm90 times include the V transpose.
#include <cmath>
#include <string>

#include <benchmark/benchmark.h>

#include "kernels/attention/block_sparse/block_sparse_attention_sm90.h"
#include "kernels/attention/flash/flash_attention_fwd.h"
#include "kernels/attention/flash/flash_attention_fwd_sm90.h"
#include "kernels/common/testing/cuda_benchmark.h"

namespace wan {
namespace {

// The `kernel` argument.
// 5, 6: bound measurements of the default with WRONG outputs (MainLoopAblation): no global loads
// after one ring pass, no softmax.
constexpr int kMmaSync = 0, kSm90Plain = 1, kMainLoopDense = 2, kMainLoopDenseSerial = 3,
              kMainLoopDenseNoPingPong = 4, kMainLoopNoLoads = 5, kMainLoopNoSoftmax = 6;

void BM_FlashAttentionFwd(benchmark::State& state) {
  if (testing::skip_without_gpu(state)) return;
  const int heads = static_cast<int>(state.range(0)), tokens = static_cast<int>(state.range(1)),
            head_dim = static_cast<int>(state.range(2)), kv = static_cast<int>(state.range(3)),
            kernel = static_cast<int>(state.range(4));
  const int64_t row = static_cast<int64_t>(heads) * head_dim;
  // Random N(0, 1) inputs, as the peers' (torch.randn) get: constant ones ran ~4% faster on an
  // H200 (less switching, less power, a higher clock), which flattered the comparison.
  testing::DeviceBuffer q = testing::random_device_bf16(tokens * row, 1, 1.0f),
                        k = testing::random_device_bf16(kv * row, 2, 1.0f),
                        v = testing::random_device_bf16(kv * row, 3, 1.0f), out(tokens * row * 2);
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
  BlockSparseAttentionParams b = dense_block_sparse_params(p);
  if (kernel == kMainLoopDenseSerial) b.consumer_schedule = ConsumerSchedule::kSerial;
  if (kernel == kMainLoopDenseNoPingPong) b.consumer_schedule = ConsumerSchedule::kOverlapped;
  if (kernel == kMainLoopNoLoads) b.ablation = MainLoopAblation::kNoLoads;
  if (kernel == kMainLoopNoSoftmax) b.ablation = MainLoopAblation::kNoSoftmax;

  std::string reason, label;
  size_t workspace_bytes = 16;
  if (kernel == kMmaSync) {
    reason = flash_attention_fwd_unsupported_reason(p);
    label = "mma_sync";
  } else if (kernel == kSm90Plain) {
    reason = flash_attention_fwd_sm90_plain_unsupported_reason(p);
    if (reason.empty()) workspace_bytes = flash_attention_fwd_sm90_plain_workspace_bytes(p);
    label = "sm90_plain";
  } else {
    reason = block_sparse_attention_sm90_unsupported_reason(b);
    if (reason.empty()) workspace_bytes = block_sparse_attention_sm90_workspace_bytes(b);
    label = block_sparse_attention_sm90_name(b);
  }
  if (!reason.empty()) {
    state.SkipWithError(reason.c_str());
    return;
  }
  state.SetLabel(label);
  testing::DeviceBuffer workspace(workspace_bytes);
  testing::time_cuda(state, [&](cudaStream_t s) {
    if (kernel == kMmaSync) {
      launch_flash_attention_fwd(p, s);
    } else if (kernel == kSm90Plain) {
      launch_flash_attention_fwd_sm90_plain(p, workspace.as<void>(), s);
    } else {
      launch_block_sparse_attention_sm90(b, workspace.as<void>(), s);
    }
  });
  const double flops = 4.0 * tokens * static_cast<double>(kv) * head_dim * heads;
  state.counters["TFLOP/s"] = benchmark::Counter(flops * state.iterations() / 1e12, benchmark::Counter::kIsRate);
}

BENCHMARK(BM_FlashAttentionFwd)
    // kernel: 0 mma_sync, 1 sm90_plain, 2 main loop (default: overlapped, ping-pong consumers),
    // 3 main loop with serial consumers, 4 overlapped without the ping-pong
    ->ArgNames({"heads", "tokens", "head_dim", "kv", "kernel"})
    ->Args({12, 32760, 128, 32760, kMmaSync})        // 1.3B at 480x832x81
    ->Args({12, 32760, 128, 32760, kSm90Plain})
    ->Args({12, 32760, 128, 32760, kMainLoopDense})
    ->Args({12, 32760, 128, 32760, kMainLoopDenseSerial})
    ->Args({12, 32760, 128, 32760, kMainLoopDenseNoPingPong})
    ->Args({12, 32760, 128, 32760, kMainLoopNoLoads})
    ->Args({12, 32760, 128, 32760, kMainLoopNoSoftmax})
    ->Args({24, 32760, 64, 32760, kMainLoopDense})   // head_dim 64, same width
    ->Args({24, 32760, 64, 32760, kMainLoopDenseSerial})
    ->Args({24, 32760, 64, 32760, kMainLoopDenseNoPingPong})
    ->Args({12, 32760, 128, 512, kMmaSync})          // its cross-attention
    ->Args({12, 32760, 128, 512, kMainLoopDense})
    ->Args({40, 75600, 128, 75600, kMmaSync})        // 14B at 720x1280x81 (cuDNN: 205.7 ms)
    ->Args({40, 75600, 128, 75600, kSm90Plain})
    ->Args({40, 75600, 128, 75600, kMainLoopDense})
    ->Args({40, 75600, 128, 75600, kMainLoopDenseSerial})
    ->Args({40, 75600, 128, 75600, kMainLoopDenseNoPingPong})
    ->Args({4, 1950, 64, 1950, kMmaSync})            // wan-small
    ->Args({4, 1950, 64, 1950, kMainLoopDense})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace wan
