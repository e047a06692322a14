// VMoBA throughput at the shape: batch 1, 12 heads x 32,760 tokens (the 21 x 30 x 52 grid
// of 480p 1.3B), head_dim 128, random inputs. BM_VideoMobaAttention times the whole launch
// (gathers, key means, gates and selection, kv lists, the main loop with per-row chunk masks,
// the scatter) for each layer chunking: temporal 2 frames (11 chunks, the last partial),
// spatial 3x4 (130 chunks), spatio-temporal 3x6x4 (455 chunks; 4x6x4 does not divide 21
// frames). Counters: density = keys the rows attend / tokens^2 (from the launch's row masks),
// executed = kv columns the main loop visits / tokens^2 (the union of a 128-row block's chunks),
// TFLOP/s of the attended work (4 * heads * tokens^2 * head_dim * density).
// BM_VideoMobaDense: the dense main loop (128 x 128 tiling) on the same tokens. CUDA-event timing.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "kernels/attention/block_sparse/dense_main_loop_benchmark.h"
#include "kernels/attention/vmoba/vmoba_attention.h"
#include "kernels/common/testing/cuda_benchmark.h"

namespace wan {
namespace {

constexpr int kHeads = 12, kHeadDim = 128, kFrames = 21, kHeight = 30, kWidth = 52;
constexpr int kTokens = kFrames * kHeight * kWidth;

// args: layer (0 temporal, 1 spatial, 2 spatio-temporal), threshold in percent.
void BM_VideoMobaAttention(benchmark::State& state) {
  if (testing::skip_without_gpu(state)) return;
  const size_t n = static_cast<size_t>(kTokens) * kHeads * kHeadDim;
  testing::DeviceBuffer q = testing::random_device_bf16(n, 1, 1.5f), k = testing::random_device_bf16(n, 2, 1.5f),
                        v = testing::random_device_bf16(n, 3, 1.0f), out(n * 2);
  cpu::VmobaParams r;
  r.frames = kFrames;
  r.height = kHeight;
  r.width = kWidth;
  r.layer = static_cast<int>(state.range(0));
  r.st_chunk[0] = 3;
  const VmobaLayout layout = vmoba_layout(r);
  testing::DeviceBuffer tables(vmoba_tables_bytes(layout) + 16);
  VmobaAttentionParams p;
  p.attn = packed_attention_params(1, kHeads, kHeadDim, kTokens, kTokens, q.as<uint16_t>(), k.as<uint16_t>(),
                                   v.as<uint16_t>(), out.as<uint16_t>(), 1.0f / std::sqrt(float(kHeadDim)));
  p.tables = upload_vmoba_tables(layout, tables.as<void>());
  p.threshold = state.range(1) / 100.0;
  const std::string reason = vmoba_attention_unsupported_reason(p);
  if (!reason.empty()) {
    state.SkipWithError(reason.c_str());
    return;
  }
  state.SetLabel(vmoba_attention_kernels(p));
  testing::DeviceBuffer workspace(vmoba_attention_workspace_bytes(p));
  testing::time_cuda(state, [&](cudaStream_t s) { launch_vmoba_attention(p, workspace.as<void>(), s); });
  // Density from the row masks of the last launch.
  const int words = vmoba_mask_words(p.tables.chunks);
  std::vector<uint32_t> masks(static_cast<size_t>(kHeads) * kTokens * words);
  cudaMemcpy(masks.data(), vmoba_row_masks(p, workspace.as<void>()), masks.size() * 4, cudaMemcpyDeviceToHost);
  double attended = 0, executed = 0;
  for (int h = 0; h < kHeads; ++h)
    for (int b0 = 0; b0 < kTokens; b0 += kVmobaRowsPerBlock) {
      std::vector<uint32_t> any(static_cast<size_t>(words), 0u);
      for (int pos = b0; pos < std::min(kTokens, b0 + kVmobaRowsPerBlock); ++pos)
        for (int w = 0; w < words; ++w) {
          const uint32_t m = masks[(static_cast<size_t>(h) * kTokens + pos) * words + w];
          any[w] |= m;
          for (int c = w * 32; c < std::min<int>(w * 32 + 32, p.tables.chunks); ++c)
            if ((m >> (c % 32)) & 1u) attended += layout.chunk_start[c + 1] - layout.chunk_start[c];
        }
      for (int c = 0; c < p.tables.chunks; ++c)
        if ((any[c / 32] >> (c % 32)) & 1u)
          executed += static_cast<double>(kVmobaRowsPerBlock) *
                      (layout.chunk_first_block[c + 1] - layout.chunk_first_block[c]) * kVmobaKeysPerBlock;
    }
  const double all = static_cast<double>(kHeads) * kTokens * kTokens;
  state.counters["chunks"] = p.tables.chunks;
  state.counters["density"] = attended / all;
  state.counters["executed"] = executed / all;
  state.counters["TFLOP/s"] = benchmark::Counter(4.0 * kHeadDim * attended * state.iterations() / 1e12,
                                                 benchmark::Counter::kIsRate);
}

void BM_VideoMobaDense(benchmark::State& state) {
  if (testing::skip_without_gpu(state)) return;
  const size_t n = static_cast<size_t>(kTokens) * kHeads * kHeadDim;
  testing::DeviceBuffer q = testing::random_device_bf16(n, 1, 1.5f), k = testing::random_device_bf16(n, 2, 1.5f),
                        v = testing::random_device_bf16(n, 3, 1.0f), out(n * 2);
  testing::time_dense_main_loop(state, kHeads, kHeadDim, kTokens, q.as<uint16_t>(), k.as<uint16_t>(),
                                v.as<uint16_t>(), out.as<uint16_t>());
}

BENCHMARK(BM_VideoMobaAttention)
    ->ArgNames({"layer", "threshold_pct"})
    ->Args({0, 25})
    ->Args({1, 25})
    ->Args({2, 25})
    ->Args({1, 100})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

BENCHMARK(BM_VideoMobaDense)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace wan
