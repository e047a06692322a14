// Sliding-tile attention (STA) throughput, batch 1, 12 heads, head_dim 128, on the block-sparse
// main loop (128-token blocks, V transpose included): FastVideo's Wan canvas 18x48x80 (69,120
// tokens, 6x8x8 tiles = 3x6x10 tiles) at windows (3,3,5) and (3,6,10) (= full), against the
// dense all-blocks schedule on the same tokens; and the 480p 1.3B grid 21x30x52 (partial tiles).
// TFLOP/s counts the kept (query, key) token pairs: 4 * heads * density * tokens^2 * head_dim.
// CUDA-event timing (kernels/common/testing/cuda_benchmark.h); inputs random.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "kernels/attention/block_sparse/block_sparse_attention_sm90.h"
#include "kernels/attention/common/tile_layout.h"
#include "kernels/attention/sliding_tile/sliding_tile_schedule.h"
#include "kernels/common/float16.h"
#include "kernels/common/testing/cuda_benchmark.h"

namespace wan {
namespace {

constexpr int kHeads = 12, kHeadDim = 128;


// args: canvas (0: 18x48x80, 1: 21x30x52), window t, h, w (0 0 0: the dense all-blocks schedule).
void BM_SlidingTileAttention(benchmark::State& state) {
  if (testing::skip_without_gpu(state)) return;
  const int64_t canvases[2][3] = {{18, 48, 80}, {21, 30, 52}};
  const int64_t* g = canvases[state.range(0)];
  const TileWindow window{static_cast<int32_t>(state.range(1)), static_cast<int32_t>(state.range(2)),
                          static_cast<int32_t>(state.range(3))};
  const bool dense = window.t == 0;
  TileLayout layout;
  const std::string error = make_tile_layout(g[0], g[1], g[2], {6, 8, 8}, &layout);
  if (!error.empty()) {
    state.SkipWithError(error.c_str());
    return;
  }
  const int tokens = static_cast<int>(layout.tokens);
  const size_t n = static_cast<size_t>(tokens) * kHeads * kHeadDim;
  testing::DeviceBuffer q = testing::random_device_bf16(n, 1, 1.5f), k = testing::random_device_bf16(n, 2, 1.5f),
                        v = testing::random_device_bf16(n, 3, 1.0f), out(n * 2);
  const SlidingTileSchedule s = make_sliding_tile_schedule(layout, {dense ? TileWindow{1, 1, 1} : window}, 128);
  const std::vector<int32_t> head_group(kHeads, 0);
  testing::DeviceBuffer dstart = testing::DeviceBuffer::from(s.block_start),
                        dlists = testing::DeviceBuffer::from(s.list_start),
                        dindex = testing::DeviceBuffer::from(s.kv_index),
                        dgroup = testing::DeviceBuffer::from(head_group);
  BlockSparseAttentionParams b;
  b.attn = packed_attention_params(1, kHeads, kHeadDim, tokens, tokens, q.as<uint16_t>(), k.as<uint16_t>(),
                                   v.as<uint16_t>(), out.as<uint16_t>(), 1.0f / std::sqrt(float(kHeadDim)));
  b.tiling = BlockSparseTiling::kRows128Keys128;
  if (dense) {
    b.schedule = all_blocks_schedule(tokens, tokens, b.tiling);
  } else {
    b.schedule.q_blocks = b.schedule.kv_blocks = s.blocks;
    b.schedule.q_block_start = b.schedule.kv_block_start = dstart.as<int32_t>();
    b.schedule.kv_list_start = dlists.as<int32_t>();
    b.schedule.kv_index = dindex.as<int32_t>();
    b.schedule.head_group = dgroup.as<int32_t>();
  }
  const std::string reason = block_sparse_attention_sm90_unsupported_reason(b);
  if (!reason.empty()) {
    state.SkipWithError(reason.c_str());
    return;
  }
  const double density = dense ? 1.0 : sliding_tile_density(layout, window);
  state.SetLabel(layout.describe() + (dense ? ", dense all-blocks" : ", window " + window.text()) + "; " +
                 block_sparse_attention_sm90_name(b));
  testing::DeviceBuffer workspace(block_sparse_attention_sm90_workspace_bytes(b));
  testing::time_cuda(state, [&](cudaStream_t st) { launch_block_sparse_attention_sm90(b, workspace.as<void>(), st); });
  const double flops = 4.0 * kHeads * density * double(tokens) * double(tokens) * kHeadDim;
  state.counters["TFLOP/s"] = benchmark::Counter(flops * state.iterations() / 1e12, benchmark::Counter::kIsRate);
  state.counters["density"] = density;
  state.counters["launch_time"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

BENCHMARK(BM_SlidingTileAttention)
    ->ArgNames({"canvas", "wt", "wh", "ww"})
    ->Args({0, 3, 3, 5})
    ->Args({0, 3, 6, 10})
    ->Args({0, 0, 0, 0})
    ->Args({1, 3, 3, 5})
    ->Args({1, 0, 0, 0})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace wan
