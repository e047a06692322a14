// Full DiT forward on the GPU (synthetic weights, generated on the device): the 1.3B model at
// 480x832x81 (32,760 tokens; FastVideo's default path: 1007 ms per forward on an H100) and the
// small test config. Reports ms per forward and the split by kernel family (GEMM, attention,
// the rest) from CUDA events.
#include <benchmark/benchmark.h>

#include <chrono>

#include "engine/core/rng.h"
#include "engine/model/wan_dit_cuda.h"
#include "kernels/common/testing/gpu_test.h"

namespace wan {
namespace {

void BM_WanDitCudaForward(benchmark::State& state, const char* model, Shape latent_shape, bool graphs) {
  const std::string reason = testing::gpu_unavailable_reason();
  if (!reason.empty()) {
    state.SkipWithError(("no GPU: " + reason).c_str());
    return;
  }
  const WanConfig c = config_by_name(model).value();
  auto weights = WanWeights::synthetic(c, 0, Device::cuda(0));
  if (!weights.ok()) {
    state.SkipWithError(weights.status().to_string().c_str());
    return;
  }
  auto dit = WanDitCuda::create(weights.value(), Device::cuda(0), parse_attention_config("dense").value()).value();
  dit->enable_graphs(graphs);
  Tensor latents = Tensor::empty(latent_shape, DType::kF32, Device::cuda(0)).value();
  Tensor context = Tensor::empty({c.text_len, c.text_dim}, DType::kF32, Device::cuda(0)).value();
  (void)fill_normal(latents, 1);
  (void)fill_normal(context, 2);
  (void)dit->forward(latents, 999, context, nullptr).value();  // plan + warm-up (eager)
  (void)dit->forward(latents, 999, context, nullptr).value();  // graph capture when enabled
  size_t free_bytes = 0, total_bytes = 0;
  cudaMemGetInfo(&free_bytes, &total_bytes);
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    auto out = dit->forward(latents, 999, context, nullptr);
    if (!out.ok()) {
      state.SkipWithError(out.status().to_string().c_str());
      return;
    }
    state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  // One more forward with family timing (event records only) for the split.
  dit->enable_family_timing(true);
  (void)dit->forward(latents, 999, context, nullptr).value();
  const auto t = dit->family_times();
  state.counters["gemm_ms"] = t.gemm_ms;
  state.counters["attention_ms"] = t.attention_ms;
  state.counters["rest_ms"] = t.rest_ms();
  state.counters["timed_total_ms"] = t.total_ms;
  state.counters["device_mem_used_GiB"] = static_cast<double>(total_bytes - free_bytes) / (1 << 30);
}

BENCHMARK_CAPTURE(BM_WanDitCudaForward, wan2_1_1_3b_480x832x81_graph, "wan2.1-t2v-1.3b", Shape{16, 21, 60, 104}, true)
    ->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(5);
BENCHMARK_CAPTURE(BM_WanDitCudaForward, wan2_1_1_3b_480x832x81_eager, "wan2.1-t2v-1.3b", Shape{16, 21, 60, 104}, false)
    ->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(5);
BENCHMARK_CAPTURE(BM_WanDitCudaForward, wan_small_graph, "wan-small", Shape{16, 5, 30, 52}, true)
    ->UseManualTime()->Unit(benchmark::kMillisecond)->Repetitions(5);
BENCHMARK_CAPTURE(BM_WanDitCudaForward, wan_small_eager, "wan-small", Shape{16, 5, 30, 52}, false)
    ->UseManualTime()->Unit(benchmark::kMillisecond)->Repetitions(5);

}  // namespace
}  // namespace wan
