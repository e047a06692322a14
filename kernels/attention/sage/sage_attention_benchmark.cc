// Sage throughput at the shape: batch 1, 12 heads x 32,760 tokens (the 21 x 30 x 52 grid
// of 480p 1.3B), head_dim 128 (and 64 at 24 heads, the same model width), random inputs.
// BM_SageAttention times the whole launch (column statistics, INT8/FP8 quantisation, the
// attention kernel); BM_SageDense the dense main loop (128 x 128 tiling) on the same tokens, so
// the ratio (sage throughput / dense throughput) comes from one binary and call.
// Counters: TFLOP/s of the attention (4 * heads * tokens^2 * head_dim), launch_time.
// CUDA-event timing.
#include <cmath>
#include <cstdint>
#include <string>

#include <benchmark/benchmark.h>

#include "kernels/attention/block_sparse/dense_main_loop_benchmark.h"
#include "kernels/attention/sage/sage_attention.h"
#include "kernels/common/testing/cuda_benchmark.h"

namespace wan {
namespace {

constexpr int kTokens = 21 * 30 * 52;
constexpr int kModelWidth = 12 * 128;

// args: head_dim (heads = kModelWidth / head_dim), phase (0 the whole launch, 1 the statistics and
// quantisation only, 2 the attention kernel only on quantised inputs, 3 the same with the
// ping-pong consumer schedule).
void BM_SageAttention(benchmark::State& state) {
  if (testing::skip_without_gpu(state)) return;
  const int head_dim = static_cast<int>(state.range(0)), heads = kModelWidth / head_dim;
  const size_t n = static_cast<size_t>(kTokens) * kModelWidth;
  testing::DeviceBuffer q = testing::random_device_bf16(n, 1, 1.5f), k = testing::random_device_bf16(n, 2, 1.5f),
                        v = testing::random_device_bf16(n, 3, 1.0f), out(n * 2);
  const FlashAttentionParams p =
      packed_attention_params(1, heads, head_dim, kTokens, kTokens, q.as<uint16_t>(), k.as<uint16_t>(),
                              v.as<uint16_t>(), out.as<uint16_t>(), 1.0f / std::sqrt(static_cast<float>(head_dim)));
  const std::string reason = sage_attention_unsupported_reason(p);
  if (!reason.empty()) {
    state.SkipWithError(reason.c_str());
    return;
  }
  state.SetLabel(sage_attention_kernels(p));
  testing::DeviceBuffer workspace(sage_attention_workspace_bytes(p));
  const int phase = static_cast<int>(state.range(1));
  if (phase >= 2) launch_sage_quantize(p, workspace.as<void>(), nullptr);
  testing::time_cuda(state, [&](cudaStream_t s) {
    if (phase == 0) launch_sage_attention(p, workspace.as<void>(), s);
    if (phase == 1) launch_sage_quantize(p, workspace.as<void>(), s);
    if (phase == 2) launch_sage_attention_kernel(p, workspace.as<void>(), s, SageSchedule::kFree);
    if (phase == 3) launch_sage_attention_kernel(p, workspace.as<void>(), s, SageSchedule::kPingPong);
  });
  state.counters["launch_time"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                     benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["TFLOP/s"] = benchmark::Counter(
      4.0 * heads * static_cast<double>(kTokens) * kTokens * head_dim * state.iterations() / 1e12,
      benchmark::Counter::kIsRate);
}

void BM_SageDense(benchmark::State& state) {
  if (testing::skip_without_gpu(state)) return;
  const int head_dim = static_cast<int>(state.range(0)), heads = kModelWidth / head_dim;
  const size_t n = static_cast<size_t>(kTokens) * kModelWidth;
  testing::DeviceBuffer q = testing::random_device_bf16(n, 1, 1.5f), k = testing::random_device_bf16(n, 2, 1.5f),
                        v = testing::random_device_bf16(n, 3, 1.0f), out(n * 2);
  testing::time_dense_main_loop(state, heads, head_dim, kTokens, q.as<uint16_t>(), k.as<uint16_t>(),
                                v.as<uint16_t>(), out.as<uint16_t>());
}

BENCHMARK(BM_SageAttention)
    ->ArgNames({"head_dim", "phase"})
    ->Args({128, 0})
    ->Args({128, 1})
    ->Args({128, 2})
    ->Args({128, 3})
    ->Args({64, 0})
    ->Args({64, 2})
    ->Args({64, 3})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SageDense)->ArgName("head_dim")->Arg(128)->Arg(64)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace wan
