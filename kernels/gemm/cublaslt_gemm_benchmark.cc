// cuBLASLt bf16 linear layers at the Wan2.1-1.3B shapes (480x832x81: 32,760 tokens), TFLOP/s.
#include <benchmark/benchmark.h>

#include "kernels/common/testing/cuda_benchmark.h"
#include "kernels/gemm/cublaslt_gemm.h"

namespace wan {
namespace {

void BM_CublasLtLinear(benchmark::State& state) {
  if (testing::skip_without_gpu(state)) return;
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  const auto epilogue = static_cast<GemmEpilogue>(state.range(3));
  cublasLtHandle_t handle;
  WAN_CUBLAS_CHECK(cublasLtCreate(&handle));
  testing::DeviceBuffer x(m * k * 2), w(n * k * 2), b(n * 2), y(m * n * 2), ws(32 << 20);
  WAN_CUDA_CHECK(cudaMemset(x.as<void>(), 0x3c, x.bytes()));
  WAN_CUDA_CHECK(cudaMemset(w.as<void>(), 0x1c, w.bytes()));
  WAN_CUDA_CHECK(cudaMemset(b.as<void>(), 0, b.bytes()));
  CublasLtGemm gemm;
  const std::string err = gemm.plan(handle, {m, n, k, epilogue}, ws.bytes());
  if (!err.empty()) {
    state.SkipWithError(err.c_str());
    return;
  }
  testing::time_cuda(state, [&](cudaStream_t s) {
    gemm.run(x.as<void>(), k, w.as<void>(), b.as<void>(), y.as<void>(), n, ws.as<void>(), s);
  });
  state.counters["TFLOP/s"] = benchmark::Counter(2.0 * m * n * k * state.iterations() / 1e12, benchmark::Counter::kIsRate);
  state.SetLabel(gemm.algorithm_description());
  cublasLtDestroy(handle);
}

BENCHMARK(BM_CublasLtLinear)
    ->ArgNames({"m", "n", "k", "epilogue"})
    ->Args({32760, 4608, 1536, 1})   // fused QKV
    ->Args({32760, 1536, 1536, 1})   // attention output
    ->Args({32760, 8960, 1536, 2})   // FFN up + GELU
    ->Args({32760, 1536, 8960, 1})   // FFN down
    ->Args({8192, 8192, 8192, 0})    // peak reference (ENGINE.md: 729-771 TFLOP/s)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace wan
