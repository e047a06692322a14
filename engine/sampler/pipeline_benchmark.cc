// CPU generation time: the ~2,000-token config (wan-small, 1,950 tokens) for 4 steps with CFG
// (8 DiT forwards), and the 256-token config (wan-tiny) for 8 steps. Reports forwards/s and
// DiT GFLOP/s (matmul FLOPs of the forward, counted from the config).
#include <benchmark/benchmark.h>

#include "engine/model/wan_dit_cpu.h"
#include "engine/sampler/pipeline.h"

namespace wan {
namespace {

// Multiply-add FLOPs of one DiT forward (linear layers and attention matmuls).
double forward_flops(const WanConfig& c, int64_t tokens) {
  const double L = static_cast<double>(tokens), d = static_cast<double>(c.dim);
  const double per_block = 2 * L * (6 * d * d + 2 * d * c.ffn_dim) + 2 * 2 * c.text_len * d * d +
                           4 * L * L * d + 4 * L * c.text_len * d;
  return c.layers * per_block + 2 * L * d * c.patch_values() + 2 * L * d * c.out_patch_values();
}

void BM_GenerateCpu(benchmark::State& state, const char* model, int steps) {
  const WanConfig config = config_by_name(model).value();
  Pipeline pipeline(WanDitCpu::create(WanWeights::synthetic(config, 0).value(), Precision::kBf16).value());
  GenerationRequest r;
  r.steps = steps;
  r.frames = config.default_frames;
  r.height = config.default_height;
  r.width = config.default_width;
  const int64_t tokens = latent_grid(config, r.frames, r.height, r.width).value().tokens();
  for (auto _ : state) {
    auto latents = pipeline.generate(r);
    if (!latents.ok()) {
      state.SkipWithError(latents.status().to_string().c_str());
      return;
    }
    benchmark::DoNotOptimize(latents.value().raw_data());
  }
  const double forwards = 2.0 * steps;
  state.counters["tokens"] = static_cast<double>(tokens);
  state.counters["forwards/s"] = benchmark::Counter(forwards * state.iterations(), benchmark::Counter::kIsRate);
  state.counters["GFLOP/s"] = benchmark::Counter(forward_flops(config, tokens) * forwards * state.iterations() / 1e9,
                                                 benchmark::Counter::kIsRate);
}

BENCHMARK_CAPTURE(BM_GenerateCpu, wan_small_4_steps_cfg, "wan-small", 4)
    ->Unit(benchmark::kSecond)->UseRealTime()->Iterations(1)->Repetitions(3);
BENCHMARK_CAPTURE(BM_GenerateCpu, wan_tiny_8_steps_cfg, "wan-tiny", 8)
    ->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

}  // namespace
}  // namespace wan
