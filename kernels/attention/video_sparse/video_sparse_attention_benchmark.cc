// Video-sparse attention throughput at the 480p 1.3B shape: batch 1, 12 heads, head_dim 128,
// token grid 21x30x52 = 624 tiles of (4,4,4) (32,760 tokens, 39,936 padded), sparsity 0.8 / 0.9.
// BM_VideoSparseAttention times the whole launch (tile means, selection, fine branch, and with
// a gate the coarse output and combine); BM_VideoSparseFineMainLoop times only the fine branch
// (the block-sparse main loop, V transpose included) on a fixed random schedule, to compare with
// FastVideo's Triton fine kernel. TFLOP/s counts the fine branch as 4 * heads * tiles * topk *
// 64 * 64 * head_dim: with partial tiles (tokens < padded) this is an upper bound on the work.
// CUDA-event timing (kernels/common/testing/cuda_benchmark.h); inputs random (scores spread).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "kernels/attention/block_sparse/block_sparse_attention_sm90.h"
#include "kernels/attention/common/tile_layout.h"
#include "kernels/attention/video_sparse/video_sparse_attention.h"
#include "kernels/attention/video_sparse/video_sparse_numerics.h"
#include "kernels/common/float16.h"
#include "kernels/common/testing/cuda_benchmark.h"

namespace wan {
namespace {

constexpr int kHeads = 12, kHeadDim = 128;
constexpr int64_t kGrid[3] = {21, 30, 52};  // 480x832x81 after the VAE and 1x2x2 patches


FlashAttentionParams packed_params(int64_t tokens, const testing::DeviceBuffer& q, const testing::DeviceBuffer& k,
                                   const testing::DeviceBuffer& v, testing::DeviceBuffer& out) {
  FlashAttentionParams a;
  a.q = q.as<uint16_t>();
  a.k = k.as<uint16_t>();
  a.v = v.as<uint16_t>();
  a.out = out.as<uint16_t>();
  a.heads = kHeads;
  a.head_dim = kHeadDim;
  a.q_tokens = a.kv_tokens = static_cast<int>(tokens);
  a.q_token_stride = a.kv_token_stride = a.out_token_stride = kHeads * kHeadDim;
  a.scale = 1.0f / std::sqrt(static_cast<float>(kHeadDim));
  return a;
}

void set_counters(benchmark::State& state, int64_t tiles, int64_t topk) {
  const double flops = 4.0 * kHeads * tiles * topk * vsa::kTileTokens * vsa::kTileTokens * kHeadDim;
  state.counters["TFLOP/s"] = benchmark::Counter(flops * state.iterations() / 1e12, benchmark::Counter::kIsRate);
  // Seconds per launch (iterations per second, inverted): the console prints it in ms
  // ("launch_time=3.68ms"), JSON in seconds. The Time column gives the same in ms.
  state.counters["launch_time"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["topk"] = static_cast<double>(topk);
}

// args: sparsity in percent, gate (0: fine branch + selection only; 1: with the coarse term).
void BM_VideoSparseAttention(benchmark::State& state) {
  if (testing::skip_without_gpu(state)) return;
  const double sparsity = state.range(0) / 100.0;
  const bool gate = state.range(1) == 1;
  TileLayout layout;
  const std::string layout_error = make_tile_layout(kGrid[0], kGrid[1], kGrid[2], {4, 4, 4}, &layout);
  if (!layout_error.empty()) {
    state.SkipWithError(layout_error.c_str());
    return;
  }
  const size_t n = static_cast<size_t>(layout.tokens) * kHeads * kHeadDim;
  testing::DeviceBuffer q = testing::random_device_bf16(n, 1, 1.5f), k = testing::random_device_bf16(n, 2, 1.5f),
                        v = testing::random_device_bf16(n, 3, 1.0f), out(n * 2);
  testing::DeviceBuffer g = gate ? testing::random_device_bf16(n, 4, 1.0f) : testing::DeviceBuffer(16);
  testing::DeviceBuffer tile_start = testing::DeviceBuffer::from(layout.tile_start);
  VideoSparseAttentionParams p;
  p.attn = packed_params(layout.tokens, q, k, v, out);
  if (gate) {
    p.gate = g.as<uint16_t>();
    p.gate_token_stride = p.attn.q_token_stride;
  }
  p.tile_start = tile_start.as<int32_t>();
  p.tiles = static_cast<int>(layout.tile_count);
  p.topk = static_cast<int>(vsa::topk_count(layout.tile_count, sparsity));
  const std::string reason = video_sparse_attention_unsupported_reason(p);
  if (!reason.empty()) {
    state.SkipWithError(reason.c_str());
    return;
  }
  state.SetLabel(layout.describe() + "; " + video_sparse_attention_kernels(p));
  testing::DeviceBuffer workspace(video_sparse_attention_workspace_bytes(p));
  testing::time_cuda(state, [&](cudaStream_t s) { launch_video_sparse_attention(p, workspace.as<void>(), s); });
  set_counters(state, p.tiles, p.topk);
}

// args: sparsity in percent, padded (0: the unpadded tile layout, partial tiles masked;
// 1: FastVideo's padded layout, 624 full 64-token tiles = 39,936 tokens, uniform blocks).
void BM_VideoSparseFineMainLoop(benchmark::State& state) {
  if (testing::skip_without_gpu(state)) return;
  const double sparsity = state.range(0) / 100.0;
  const bool padded = state.range(1) == 1;
  TileLayout layout;
  const std::string layout_error = make_tile_layout(kGrid[0], kGrid[1], kGrid[2], {4, 4, 4}, &layout);
  if (!layout_error.empty()) {
    state.SkipWithError(layout_error.c_str());
    return;
  }
  const int64_t tiles = layout.tile_count, tokens = padded ? layout.padded_tokens() : layout.tokens;
  const int64_t topk = vsa::topk_count(tiles, sparsity);
  const size_t n = static_cast<size_t>(tokens) * kHeads * kHeadDim;
  testing::DeviceBuffer q = testing::random_device_bf16(n, 1, 1.5f), k = testing::random_device_bf16(n, 2, 1.5f),
                        v = testing::random_device_bf16(n, 3, 1.0f), out(n * 2);
  testing::DeviceBuffer tile_start = testing::DeviceBuffer::from(layout.tile_start);
  // A fixed random schedule: topk distinct kv tiles per (head, query tile), ascending.
  std::mt19937 gen(5);
  std::vector<int32_t> lists, all(static_cast<size_t>(tiles));
  for (int64_t i = 0; i < kHeads * tiles; ++i) {
    std::iota(all.begin(), all.end(), 0);
    std::shuffle(all.begin(), all.end(), gen);
    std::sort(all.begin(), all.begin() + topk);
    lists.insert(lists.end(), all.begin(), all.begin() + topk);
  }
  testing::DeviceBuffer kv_index = testing::DeviceBuffer::from(lists);
  BlockSparseAttentionParams b;
  b.attn = packed_params(tokens, q, k, v, out);
  b.tiling = BlockSparseTiling::kRows64Keys64;
  b.schedule.q_blocks = b.schedule.kv_blocks = static_cast<int>(tiles);
  if (!padded) b.schedule.q_block_start = b.schedule.kv_block_start = tile_start.as<int32_t>();
  b.schedule.kv_index = kv_index.as<int32_t>();
  b.schedule.kv_count = static_cast<int>(topk);
  const std::string reason = block_sparse_attention_sm90_unsupported_reason(b);
  if (!reason.empty()) {
    state.SkipWithError(reason.c_str());
    return;
  }
  state.SetLabel(std::string(padded ? "padded, " : "tile layout, ") + block_sparse_attention_sm90_name(b));
  testing::DeviceBuffer workspace(block_sparse_attention_sm90_workspace_bytes(b));
  testing::time_cuda(state, [&](cudaStream_t s) { launch_block_sparse_attention_sm90(b, workspace.as<void>(), s); });
  set_counters(state, tiles, topk);
}

BENCHMARK(BM_VideoSparseAttention)
    ->ArgNames({"sparsity_pct", "gate"})
    ->Args({80, 0})
    ->Args({90, 0})
    ->Args({80, 1})
    ->Args({90, 1})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

BENCHMARK(BM_VideoSparseFineMainLoop)
    ->ArgNames({"sparsity_pct", "padded"})
    ->Args({80, 0})
    ->Args({90, 0})
    ->Args({80, 1})
    ->Args({90, 1})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace wan
