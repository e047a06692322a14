// Block-sparse attention (BSA) throughput at the 480p 1.3B shape: batch 1, 12 heads, head_dim
// 128, token grid 20x32x52 (5x8x13 = 520 whole (4,4,4) tiles, 33,280 tokens; FastVideo needs
// every axis divisible by 4) and 21x30x52 (6x8x13 = 624 tiles with partial edge tiles).
// BM_BsaAttention times the whole launch (means, pruning, selection, unions, main loop,
// expansion); the counters give the kept density (kept queries x selected keys / tokens^2)
// and TFLOP/s over the kept pairs; proportionality: launch_time vs the dense time at
// the same tokens x density: compare with BM_DenseMainLoop (same process, same tokens).
// Inputs: random q, k, v, with a per-tile offset on k (`locality` > 0) so the block softmax
// concentrates and the threshold keeps fewer tiles, as in trained models.
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "kernels/attention/block_sparse/block_sparse_attention_sm90.h"
#include "kernels/attention/block_sparse/dense_main_loop_benchmark.h"
#include "kernels/attention/bsa/bsa_attention.h"
#include "kernels/attention/common/tile_layout.h"
#include "kernels/common/float16.h"
#include "kernels/common/testing/cuda_benchmark.h"

namespace wan {
namespace {

constexpr int kHeads = 12, kHeadDim = 128;

struct Inputs {
  TileLayout layout;
  std::unique_ptr<testing::DeviceBuffer> q, k, v, out, tile_start;
};

// Values uniform in [-1.7, 1.7] plus, for q and k, a per-(tile, head, channel) offset of scale
// `locality` (xorshift, deterministic): tokens of one tile share a direction.
Inputs make_inputs(const int64_t (&grid)[3], float locality) {
  Inputs in;
  make_tile_layout(grid[0], grid[1], grid[2], {4, 4, 4}, &in.layout);
  const size_t row = size_t(kHeads) * kHeadDim, n = size_t(in.layout.tokens) * row;
  auto fill = [&](uint32_t seed, bool offset) {
    std::vector<uint16_t> bits(n);
    uint32_t x = seed * 2654435761u + 1;
    auto next = [&] {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      return static_cast<float>(x >> 8) * (1.0f / 16777216.0f) * 2.0f - 1.0f;
    };
    std::vector<float> dir(row);
    for (int64_t t = 0; t < in.layout.tile_count; ++t) {
      for (float& d : dir) d = offset ? locality * next() : 0.0f;
      for (int32_t pos = in.layout.tile_start[t]; pos < in.layout.tile_start[t + 1]; ++pos)
        for (size_t c = 0; c < row; ++c) bits[pos * row + c] = f32_to_bf16_bits(1.7f * next() + dir[c]);
    }
    return std::make_unique<testing::DeviceBuffer>(testing::DeviceBuffer::from(bits));
  };
  in.q = fill(1, true);
  in.k = fill(2, true);
  in.v = fill(3, false);
  in.out = std::make_unique<testing::DeviceBuffer>(n * 2);
  in.tile_start = std::make_unique<testing::DeviceBuffer>(testing::DeviceBuffer::from(in.layout.tile_start));
  return in;
}

const int64_t kGrids[2][3] = {{20, 32, 52}, {21, 30, 52}};

void BM_DenseMainLoop(benchmark::State& state) {
  if (testing::skip_without_gpu(state)) return;
  Inputs in = make_inputs(kGrids[state.range(0)], 0.0f);
  const int tokens = static_cast<int>(in.layout.tokens);
  testing::time_dense_main_loop(state, kHeads, kHeadDim, tokens, in.q->as<uint16_t>(), in.k->as<uint16_t>(),
                                in.v->as<uint16_t>(), in.out->as<uint16_t>());
  state.SetLabel(in.layout.describe());
}

// args: grid, keep ratio %, threshold %, locality x10, query block rows (64 | 128).
void BM_BsaAttention(benchmark::State& state) {
  if (testing::skip_without_gpu(state)) return;
  const int g = static_cast<int>(state.range(0));
  Inputs in = make_inputs(kGrids[g], state.range(3) / 10.0f);
  const int tokens = static_cast<int>(in.layout.tokens);
  BsaAttentionParams p;
  p.attn = packed_attention_params(1, kHeads, kHeadDim, tokens, tokens, in.q->as<uint16_t>(), in.k->as<uint16_t>(),
                                   in.v->as<uint16_t>(), in.out->as<uint16_t>(), 1.0f / std::sqrt(float(kHeadDim)));
  p.tile_start = in.tile_start->as<int32_t>();
  p.tiles = static_cast<int>(in.layout.tile_count);
  p.keep_ratio = state.range(1) / 100.0;
  p.max_keep = std::max(1, static_cast<int>(64 * p.keep_ratio));
  p.threshold = state.range(2) / 100.0f;
  p.min_tiles = 4;
  p.block_rows = static_cast<int>(state.range(4));
  const std::string reason = bsa_attention_unsupported_reason(p);
  if (!reason.empty()) {
    state.SkipWithError(reason.c_str());
    return;
  }
  testing::DeviceBuffer workspace(bsa_attention_workspace_bytes(p));
  testing::time_cuda(state, [&](cudaStream_t s) { launch_bsa_attention(p, workspace.as<void>(), s); });
  // Kept density from the last launch's selections: sum over (head, tile) of kept x keys.
  const int64_t nt = in.layout.tile_count;
  const BsaSelections sel = bsa_selections(p, workspace.as<void>());
  std::vector<int32_t> count(kHeads * nt), selected(kHeads * nt * nt);
  WAN_CUDA_CHECK(cudaMemcpy(count.data(), sel.selected_count, count.size() * 4, cudaMemcpyDeviceToHost));
  WAN_CUDA_CHECK(cudaMemcpy(selected.data(), sel.selected, selected.size() * 4, cudaMemcpyDeviceToHost));
  double pairs = 0;
  for (int64_t bi = 0; bi < kHeads * nt; ++bi) {
    const int64_t tile = bi % nt;
    const int n = in.layout.tile_tokens[tile], keep = std::max(1, static_cast<int>(n * p.keep_ratio));
    int64_t keys = 0;
    for (int e = 0; e < count[bi]; ++e) keys += in.layout.tile_tokens[selected[bi * nt + e]];
    pairs += double(keep) * keys;
  }
  const double density = pairs / (double(kHeads) * tokens * tokens);
  state.SetLabel(in.layout.describe() + "; " + bsa_attention_kernels(p));
  state.counters["density"] = density;
  state.counters["TFLOP/s"] = benchmark::Counter(4.0 * pairs * kHeadDim * state.iterations() / 1e12, benchmark::Counter::kIsRate);
  state.counters["launch_time"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

BENCHMARK(BM_DenseMainLoop)->ArgNames({"grid"})->Arg(0)->Arg(1)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_BsaAttention)
    ->ArgNames({"grid", "keep_pct", "threshold_pct", "locality_x10", "rows"})
    ->ArgsProduct({{0}, {50}, {90}, {0, 20, 30}, {64, 128}})
    ->Args({0, 50, 50, 30, 64})
    ->Args({0, 50, 50, 30, 128})
    ->Args({0, 25, 90, 20, 64})
    ->Args({0, 25, 90, 20, 128})
    ->Args({0, 100, 100, 0, 64})
    ->Args({0, 100, 100, 0, 128})
    ->Args({1, 50, 90, 20, 64})
    ->Args({1, 50, 90, 20, 128})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace wan
