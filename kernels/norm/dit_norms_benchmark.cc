// Fused DiT norm kernels at the 1.3B shape (32,760 x 1536), GB/s of bytes read + written, in
// both row layouts (block_per_row:0 the default warp per row, 1 one block per row).
#include <benchmark/benchmark.h>

#include "kernels/common/testing/cuda_benchmark.h"
#include "kernels/norm/dit_norms.h"

namespace wan {
namespace {

constexpr int64_t kRows = 32760, kDim = 1536;

// The row layout from the benchmark's argument (block_per_row:0 = the default warp per row,
// 1 = one block per row), restored at the end of the benchmark.
class LayoutArg {
 public:
  explicit LayoutArg(const benchmark::State& state)
      : previous_(set_norm_row_layout(state.range(0) ? NormRowLayout::kBlockPerRow : NormRowLayout::kAuto)) {}
  ~LayoutArg() { set_norm_row_layout(previous_); }
  LayoutArg(const LayoutArg&) = delete;
  LayoutArg& operator=(const LayoutArg&) = delete;

 private:
  NormRowLayout previous_;
};

void BM_LayerNormModulate(benchmark::State& state) {
  if (testing::skip_without_gpu(state)) return;
  const LayoutArg layout(state);
  testing::DeviceBuffer x(kRows * kDim * 2), out(kRows * kDim * 2), shift(kDim * 4), scale(kDim * 4);
  WAN_CUDA_CHECK(cudaMemset(x.as<void>(), 0x3c, x.bytes()));
  WAN_CUDA_CHECK(cudaMemset(shift.as<void>(), 0, shift.bytes()));
  WAN_CUDA_CHECK(cudaMemset(scale.as<void>(), 0, scale.bytes()));
  testing::time_cuda(state, [&](cudaStream_t s) {
    launch_layer_norm_modulate(x.as<uint16_t>(), shift.as<float>(), scale.as<float>(), out.as<uint16_t>(), kRows,
                               kDim, 1e-6f, s);
  });
  state.counters["GB/s"] = benchmark::Counter(4.0 * kRows * kDim * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}

void BM_GatedResidualLayerNorm(benchmark::State& state) {
  if (testing::skip_without_gpu(state)) return;
  const LayoutArg layout(state);
  testing::DeviceBuffer x(kRows * kDim * 2), a(kRows * kDim * 2), h(kRows * kDim * 2), n(kRows * kDim * 2),
      gate(kDim * 4), w(kDim * 2), b(kDim * 2);
  WAN_CUDA_CHECK(cudaMemset(x.as<void>(), 0x3c, x.bytes()));
  WAN_CUDA_CHECK(cudaMemset(a.as<void>(), 0x3c, a.bytes()));
  WAN_CUDA_CHECK(cudaMemset(gate.as<void>(), 0, gate.bytes()));
  testing::time_cuda(state, [&](cudaStream_t s) {
    launch_gated_residual_layer_norm(x.as<uint16_t>(), a.as<uint16_t>(), gate.as<float>(), w.as<uint16_t>(),
                                     b.as<uint16_t>(), h.as<uint16_t>(), n.as<uint16_t>(), kRows, kDim, 1e-6f, s);
  });
  state.counters["GB/s"] = benchmark::Counter(8.0 * kRows * kDim * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}

void BM_QkNormRope(benchmark::State& state) {
  if (testing::skip_without_gpu(state)) return;
  const LayoutArg layout(state);
  testing::DeviceBuffer qkv(kRows * kDim * 3 * 2), w(kDim * 2), cs(kRows * 64 * 4), sn(kRows * 64 * 4);
  WAN_CUDA_CHECK(cudaMemset(qkv.as<void>(), 0x3c, qkv.bytes()));
  WAN_CUDA_CHECK(cudaMemset(cs.as<void>(), 0, cs.bytes()));
  WAN_CUDA_CHECK(cudaMemset(sn.as<void>(), 0, sn.bytes()));
  testing::time_cuda(state, [&](cudaStream_t s) {
    launch_qk_norm_rope(qkv.as<uint16_t>(), 3 * kDim, w.as<uint16_t>(), cs.as<float>(), sn.as<float>(), kRows, kDim,
                        128, 1e-6f, s);
  });
  state.counters["GB/s"] = benchmark::Counter((4.0 * kDim + 512.0) * kRows * state.iterations() / 1e9,
                                              benchmark::Counter::kIsRate);
}

void BM_ResidualAddLayerNormModulate(benchmark::State& state) {
  if (testing::skip_without_gpu(state)) return;
  const LayoutArg layout(state);
  testing::DeviceBuffer h(kRows * kDim * 2), a(kRows * kDim * 2), out(kRows * kDim * 2), shift(kDim * 4), scale(kDim * 4);
  for (auto* b : {&h, &a, &shift, &scale}) WAN_CUDA_CHECK(cudaMemset(b->as<void>(), 0, b->bytes()));
  testing::time_cuda(state, [&](cudaStream_t s) {
    launch_residual_add_layer_norm_modulate(h.as<uint16_t>(), a.as<uint16_t>(), shift.as<float>(), scale.as<float>(),
                                            out.as<uint16_t>(), kRows, kDim, 1e-6f, s);
  });
  state.counters["GB/s"] = benchmark::Counter(8.0 * kRows * kDim * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}

void BM_GatedResidual(benchmark::State& state) {
  if (testing::skip_without_gpu(state)) return;
  testing::DeviceBuffer h(kRows * kDim * 2), f(kRows * kDim * 2), x(kRows * kDim * 2), gate(kDim * 4);
  for (auto* b : {&h, &f, &gate}) WAN_CUDA_CHECK(cudaMemset(b->as<void>(), 0, b->bytes()));
  testing::time_cuda(state, [&](cudaStream_t s) {
    launch_gated_residual(h.as<uint16_t>(), f.as<uint16_t>(), gate.as<float>(), x.as<uint16_t>(), kRows, kDim, s);
  });
  state.counters["GB/s"] = benchmark::Counter(6.0 * kRows * kDim * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}

// q and k of the fused QKV buffer in one launch (the DiT's self-attention): 2 x (read + write)
// of [rows, dim] bf16 and one read of the row's RoPE table (cos + sin, f32).
void BM_QkNormRopePair(benchmark::State& state) {
  if (testing::skip_without_gpu(state)) return;
  const LayoutArg layout(state);
  testing::DeviceBuffer qkv(kRows * kDim * 3 * 2), wq(kDim * 2), wk(kDim * 2), cs(kRows * 64 * 4), sn(kRows * 64 * 4);
  WAN_CUDA_CHECK(cudaMemset(qkv.as<void>(), 0x3c, qkv.bytes()));
  for (auto* b : {&wq, &wk, &cs, &sn}) WAN_CUDA_CHECK(cudaMemset(b->as<void>(), 0, b->bytes()));
  testing::time_cuda(state, [&](cudaStream_t s) {
    launch_qk_norm_rope_pair(qkv.as<uint16_t>(), qkv.as<uint16_t>() + kDim, 3 * kDim, wq.as<uint16_t>(),
                             wk.as<uint16_t>(), cs.as<float>(), sn.as<float>(), kRows, kDim, 128, 1e-6f, s);
  });
  state.counters["GB/s"] = benchmark::Counter((8.0 * kDim + 512.0) * kRows * state.iterations() / 1e9,
                                              benchmark::Counter::kIsRate);
}

BENCHMARK(BM_ResidualAddLayerNormModulate)->ArgName("block_per_row")->Arg(0)->Arg(1)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_GatedResidual)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_LayerNormModulate)->ArgName("block_per_row")->Arg(0)->Arg(1)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_GatedResidualLayerNorm)->ArgName("block_per_row")->Arg(0)->Arg(1)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_QkNormRope)->ArgName("block_per_row")->Arg(0)->Arg(1)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_QkNormRopePair)->ArgName("block_per_row")->Arg(0)->Arg(1)->UseManualTime()->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace wan
