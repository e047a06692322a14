// Device Philox normal fill: write bandwidth (GB/s) and samples per second.
#include <benchmark/benchmark.h>

#include "kernels/common/testing/cuda_benchmark.h"
#include "kernels/rng/philox_normal.h"

namespace wan {
namespace {

void BM_FillNormalPhilox(benchmark::State& state) {
  if (testing::skip_without_gpu(state)) return;
  const int64_t count = state.range(0);
  testing::DeviceBuffer out(count * sizeof(float));
  testing::time_cuda(state, [&](cudaStream_t stream) {
    launch_fill_normal_philox(out.as<float>(), count, 1024, 0, 0, stream);
  });
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(count * sizeof(float)) * state.iterations() / 1e9,
                                              benchmark::Counter::kIsRate);
  state.counters["Gsamples/s"] = benchmark::Counter(static_cast<double>(count) * state.iterations() / 1e9,
                                                    benchmark::Counter::kIsRate);
}
// 1.3B latents at 480x832x81 (2.1M samples) and 14B at 720x1280x81 (4.8M).
BENCHMARK(BM_FillNormalPhilox)->Arg(16 * 21 * 60 * 104)->Arg(16 * 21 * 90 * 160)->UseManualTime();

}  // namespace
}  // namespace wan
