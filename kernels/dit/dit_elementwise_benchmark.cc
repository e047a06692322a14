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

BENCHMARK(BM_Patchify)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CfgUniPCStep)->UseManualTime()->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace wan
