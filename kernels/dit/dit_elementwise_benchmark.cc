// Element-wise DiT kernels at the 1.3B shape (latents 16x21x60x104, 32,760 tokens), GB/s.
#include <benchmark/benchmark.h>

#include "kernels/common/testing/cuda_benchmark.h"
#include "kernels/dit/dit_elementwise.h"

namespace wan {
namespace {

constexpr int64_t kC = 16, kT = 21, kH = 60, kW = 104, kCount = kC * kT * kH * kW;

void BM_Patchify(benchmark::State& state) {
  if (testing::skip_without_gpu(state)) return;
  testing::DeviceBuffer lat(kCount * 4), patches(kCount * 2);
  WAN_CUDA_CHECK(cudaMemset(lat.as<void>(), 0, lat.bytes()));
  testing::time_cuda(state, [&](cudaStream_t s) { launch_patchify(lat.as<float>(), patches.as<uint16_t>(), kC, kT, kH, kW, s); });
  state.counters["GB/s"] = benchmark::Counter(6.0 * kCount * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}

void BM_CfgUniPCStep(benchmark::State& state) {
  if (testing::skip_without_gpu(state)) return;
  testing::DeviceBuffer c(kCount * 4), u(kCount * 4), x(kCount * 4), last(kCount * 4), m1(kCount * 4), m2(kCount * 4);
  for (auto* b : {&c, &u, &x, &last, &m1, &m2}) WAN_CUDA_CHECK(cudaMemset(b->as<void>(), 0, b->bytes()));
  FlowUniPCCoefficients k;
  k.corrector_order = 2;
  k.predictor_order = 2;
  k.c_rk = k.p_rk = 1.0f;
  testing::time_cuda(state, [&](cudaStream_t s) {
    launch_cfg_unipc_step(c.as<float>(), u.as<float>(), 3.0f, k, x.as<float>(), last.as<float>(), m1.as<float>(),
                          m2.as<float>(), kCount, s);
  });
  // reads cond, uncond, x, last, m1, m2; writes x, last, m1, m2
  state.counters["GB/s"] = benchmark::Counter(40.0 * kCount * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}

void BM_Unpatchify(benchmark::State& state) {
  if (testing::skip_without_gpu(state)) return;
  testing::DeviceBuffer head(kCount * 2), out(kCount * 4);
  WAN_CUDA_CHECK(cudaMemset(head.as<void>(), 0, head.bytes()));
  testing::time_cuda(state, [&](cudaStream_t s) { launch_unpatchify(head.as<uint16_t>(), out.as<float>(), kC, kT, kH, kW, s); });
  state.counters["GB/s"] = benchmark::Counter(6.0 * kCount * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}

void BM_F32ToBf16(benchmark::State& state) {  // context rounding, 512 x 4096
  if (testing::skip_without_gpu(state)) return;
  constexpr int64_t n = 512 * 4096;
  testing::DeviceBuffer x(n * 4), y(n * 2);
  WAN_CUDA_CHECK(cudaMemset(x.as<void>(), 0, x.bytes()));
  testing::time_cuda(state, [&](cudaStream_t s) { launch_f32_to_bf16(x.as<float>(), y.as<uint16_t>(), n, s); });
  state.counters["GB/s"] = benchmark::Counter(6.0 * n * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}

void BM_ModulationAndSilu(benchmark::State& state) {  // per-block e, head modulation, SiLU (dim 1536)
  if (testing::skip_without_gpu(state)) return;
  constexpr int64_t dim = 1536;
  testing::DeviceBuffer table(6 * dim * 2), proj(6 * dim * 2), e(6 * dim * 4), head(2 * dim * 4), silu(6 * dim * 2);
  WAN_CUDA_CHECK(cudaMemset(table.as<void>(), 0, table.bytes()));
  WAN_CUDA_CHECK(cudaMemset(proj.as<void>(), 0, proj.bytes()));
  testing::time_cuda(state, [&](cudaStream_t s) {
    launch_add_bf16_to_f32(table.as<uint16_t>(), proj.as<uint16_t>(), e.as<float>(), 6 * dim, s);
    launch_head_modulation(table.as<uint16_t>(), proj.as<uint16_t>(), head.as<float>(), dim, s);
    launch_silu_bf16(proj.as<uint16_t>(), silu.as<uint16_t>(), 6 * dim, s);
  });
  state.counters["GB/s"] = benchmark::Counter((6 * dim * 8.0 + 2 * dim * 8.0 + 6 * dim * 4.0) * state.iterations() / 1e9,
                                              benchmark::Counter::kIsRate);
}

void BM_CfgEulerStep(benchmark::State& state) {
  if (testing::skip_without_gpu(state)) return;
  testing::DeviceBuffer c(kCount * 4), u(kCount * 4), x(kCount * 4);
  for (auto* b : {&c, &u, &x}) WAN_CUDA_CHECK(cudaMemset(b->as<void>(), 0, b->bytes()));
  testing::time_cuda(state, [&](cudaStream_t s) {
    launch_cfg_euler_step(c.as<float>(), u.as<float>(), 3.0f, -0.1f, x.as<float>(), kCount, s);
  });
  state.counters["GB/s"] = benchmark::Counter(16.0 * kCount * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}

BENCHMARK(BM_Patchify)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Unpatchify)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_F32ToBf16)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ModulationAndSilu)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CfgEulerStep)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CfgUniPCStep)->UseManualTime()->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace wan
