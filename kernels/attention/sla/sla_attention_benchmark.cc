// Sparse-linear attention throughput at the shape: batch 1, 12 heads x 32,760 tokens,
// head_dim 128 (480p 1.3B), raster order, random inputs (scores spread). BM_SparseLinearAttention
// times the whole launch (selection, the sparse branch on the main loop, and with proj_l the
// linear branch); BM_SparseLinearDense times the dense main loop (128 x 128 tiling) on the same
// tokens, the figure SLA's "at most 0.2x our dense time" is judged against. TFLOP/s counts the
// sparse branch as 4 * heads * query_blocks * topk * 128 * 64 * head_dim (an upper bound with the
// partial last blocks) and, with proj_l, the linear branch's three head_dim^2 products per token
// and head (6 * tokens * heads * head_dim^2). CUDA-event timing (testing/cuda_benchmark.h).
#include <cmath>
#include <cstdint>
#include <string>

#include <benchmark/benchmark.h>

#include "kernels/attention/block_sparse/dense_main_loop_benchmark.h"
#include "kernels/attention/sla/sla_attention.h"
#include "kernels/common/testing/cuda_benchmark.h"

namespace wan {
namespace {

constexpr int kHeads = 12, kHeadDim = 128, kTokens = 32760;

void set_counters(benchmark::State& state, double flops) {
  state.counters["TFLOP/s"] = benchmark::Counter(flops * state.iterations() / 1e12, benchmark::Counter::kIsRate);
  state.counters["launch_time"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// args: ratio in percent, proj_l (0: none, the linear branch is zero; 1: a random weight),
// feature map (0 softmax, 1 elu, 2 relu).
void BM_SparseLinearAttention(benchmark::State& state) {
  if (testing::skip_without_gpu(state)) return;
  const size_t n = static_cast<size_t>(kTokens) * kHeads * kHeadDim;
  testing::DeviceBuffer q = testing::random_device_bf16(n, 1, 1.5f), k = testing::random_device_bf16(n, 2, 1.5f),
                        v = testing::random_device_bf16(n, 3, 1.0f), out(n * 2);
  testing::DeviceBuffer w = testing::random_device_bf16(kHeadDim * kHeadDim, 4, 0.09f),
                        bias = testing::random_device_bf16(kHeadDim, 5, 0.1f);
  SparseLinearAttentionParams p;
  p.attn = packed_attention_params(1, kHeads, kHeadDim, kTokens, kTokens, q.as<uint16_t>(), k.as<uint16_t>(),
                                   v.as<uint16_t>(), out.as<uint16_t>(), 1.0f / std::sqrt(float(kHeadDim)));
  p.topk = static_cast<int>(sla::topk_count(sla_key_blocks(p), state.range(0) / 100.0));
  p.feature_map = static_cast<sla::FeatureMap>(state.range(2));
  if (state.range(1) == 1) {
    p.proj_weight = w.as<uint16_t>();
    p.proj_bias = bias.as<uint16_t>();
  }
  const std::string reason = sla_attention_unsupported_reason(p);
  if (!reason.empty()) {
    state.SkipWithError(reason.c_str());
    return;
  }
  state.SetLabel(sla_attention_kernels(p));
  testing::DeviceBuffer workspace(sla_attention_workspace_bytes(p));
  testing::time_cuda(state, [&](cudaStream_t s) { launch_sla_attention(p, workspace.as<void>(), s); });
  double flops = 4.0 * kHeads * sla_query_blocks(p) * p.topk * sla::kBlockQ * sla::kBlockK * kHeadDim;
  if (p.proj_weight) flops += 6.0 * kTokens * kHeads * kHeadDim * kHeadDim;
  set_counters(state, flops);
  state.counters["topk"] = p.topk;
  state.counters["density"] = static_cast<double>(p.topk) / sla_key_blocks(p);
}

void BM_SparseLinearDense(benchmark::State& state) {
  if (testing::skip_without_gpu(state)) return;
  const size_t n = static_cast<size_t>(kTokens) * kHeads * kHeadDim;
  testing::DeviceBuffer q = testing::random_device_bf16(n, 1, 1.5f), k = testing::random_device_bf16(n, 2, 1.5f),
                        v = testing::random_device_bf16(n, 3, 1.0f), out(n * 2);
  testing::time_dense_main_loop(state, kHeads, kHeadDim, kTokens, q.as<uint16_t>(), k.as<uint16_t>(),
                                v.as<uint16_t>(), out.as<uint16_t>());
}

BENCHMARK(BM_SparseLinearAttention)
    ->ArgNames({"ratio_pct", "proj_l", "phi"})
    ->Args({10, 0, 0})
    ->Args({10, 1, 0})
    ->Args({10, 1, 1})
    ->Args({10, 1, 2})
    ->Args({20, 1, 0})
    ->Args({50, 1, 0})
    ->Args({100, 0, 0})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

BENCHMARK(BM_SparseLinearDense)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace wan
