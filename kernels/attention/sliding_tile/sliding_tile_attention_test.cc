// Sliding-tile attention (STA): the block lists against the spec's mask written out again here
// on raster coordinates, and the block-sparse main loop running those lists against masked
// dense attention with double accumulation, on canvases with partial tiles, both tilings, per-
// head windows and head_dim 64/128. Bounds (stated against FastVideo's STA test, mean abs < 3e-6
// and max abs < 4e-2 against masked dense): the fp32 CPU reference mean abs < 3e-6 and max abs
// < 4e-2; the bf16 GPU main loop (bf16 P and output, 2^-9 each) relative L2 < 8e-3 and max abs
// < 4e-2. Run to run bit-identical; the full window equals the dense schedule bit for bit where
// the tiles are whole (same 128-token blocks in the same order).
#include "kernels/attention/sliding_tile/sliding_tile_schedule.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/attention/block_sparse/block_sparse_attention_sm90.h"
#include "kernels/common/cuda_check.h"
#include "kernels/common/float16.h"
#include "kernels/common/testing/device_buffer.h"
#include "kernels/common/testing/gpu_test.h"
#include "kernels/common/testing/random_bf16.h"
#include "kernels/cpu/attention_tile_sparse.h"

namespace wan {
namespace {

using testing::DeviceBuffer;
using testing::first_difference;

struct Canvas {
  int64_t t, h, w;
  int64_t tile[3];
};

// The spec's mask on raster token coordinates, independent of TileLayout.
bool spec_allows(const Canvas& c, const TileWindow& win, int64_t qi, int64_t kj) {
  const int64_t grid[3] = {c.t, c.h, c.w}, k[3] = {win.t, win.h, win.w};
  const int64_t qc[3] = {qi / (c.h * c.w), (qi / c.w) % c.h, qi % c.w};
  const int64_t kc[3] = {kj / (c.h * c.w), (kj / c.w) % c.h, kj % c.w};
  for (int a = 0; a < 3; ++a) {
    const int64_t n = (grid[a] + c.tile[a] - 1) / c.tile[a], half = k[a] / 2;
    const int64_t q_tile = qc[a] / c.tile[a], kv_tile = kc[a] / c.tile[a];
    int64_t center = q_tile > (n - 1) - half ? (n - 1) - half : q_tile;  // Triton's clamp_int
    center = center < half ? half : center;
    if (std::abs(center - kv_tile) > half) return false;
  }
  return true;
}

TileLayout layout_of(const Canvas& c) {
  TileLayout l;
  EXPECT_EQ(make_tile_layout(c.t, c.h, c.w, c.tile, &l), "");
  return l;
}

TEST(SlidingTileSchedule, ListsEqualTheSpecMaskOnEveryCanvas) {
  const std::vector<Canvas> canvases = {{18, 48, 80, {6, 8, 8}}, {7, 20, 21, {6, 8, 8}}, {5, 9, 13, {4, 4, 4}},
                                        {21, 30, 52, {6, 8, 8}}, {3, 5, 4, {2, 3, 2}}};
  const std::vector<TileWindow> windows = {{3, 3, 5}, {1, 1, 1}, {2, 4, 2}, {3, 6, 10}, {1 << 20, 1 << 20, 1 << 20}};
  for (const Canvas& c : canvases) {
    const TileLayout l = layout_of(c);
    for (int block : {64, 128}) {
      const SlidingTileSchedule s = make_sliding_tile_schedule(l, windows, block);
      ASSERT_EQ(s.list_start.size(), windows.size() * (s.blocks + 1));
      for (int32_t b = 0; b < s.blocks; ++b) ASSERT_LE(s.block_start[b + 1] - s.block_start[b], block);
      for (size_t wi = 0; wi < windows.size(); ++wi) {
        SCOPED_TRACE(std::to_string(c.t) + "x" + std::to_string(c.h) + "x" + std::to_string(c.w) + " window " +
                     windows[wi].text() + " block " + std::to_string(block));
        // Sample query tokens: the first of up to ~48 blocks spread over the canvas (the last
        // included); check every key token against the spec.
        const int32_t stride = std::max(1, s.blocks / 48);
        for (int32_t b = 0; b < s.blocks; b = (b + stride < s.blocks || b == s.blocks - 1) ? b + stride : s.blocks - 1) {
          const int32_t* begin = s.kv_index.data() + s.list_start[wi * (s.blocks + 1) + b];
          const int32_t* end = s.kv_index.data() + s.list_start[wi * (s.blocks + 1) + b + 1];
          ASSERT_TRUE(std::is_sorted(begin, end));
          ASSERT_GT(end - begin, 0);
          std::vector<char> listed(static_cast<size_t>(l.tokens), 0);
          for (const int32_t* j = begin; j < end; ++j)
            for (int32_t pos = s.block_start[*j]; pos < s.block_start[*j + 1]; ++pos) listed[pos] = 1;
          const int64_t qi = l.raster_of_tiled[s.block_start[b]];
          for (int64_t pos = 0; pos < l.tokens; ++pos)
            ASSERT_EQ(listed[pos] != 0, spec_allows(c, windows[wi], qi, l.raster_of_tiled[pos])) << "key " << pos;
        }
      }
    }
  }
  // FastVideo's Wan canvas: 3x6x10 tiles of 384 tokens; (3,3,5) keeps 45 of 180 tiles per query tile.
  const TileLayout wan = layout_of(canvases[0]);
  EXPECT_EQ(wan.tile_count, 180);
  EXPECT_DOUBLE_EQ(sliding_tile_density(wan, {3, 3, 5}), 45.0 / 180.0);
  EXPECT_DOUBLE_EQ(sliding_tile_density(wan, {3, 6, 10}), 1.0);
}

struct Problem {
  Canvas c;
  int heads, d;
  std::vector<TileWindow> head_windows;
  TileLayout layout;
  testing::Bf16Data q, k, v;  // raster order [tokens, heads, d]

  Problem(const Canvas& c_, int heads_, int d_, std::vector<TileWindow> w, uint32_t seed)
      : c(c_), heads(heads_), d(d_), head_windows(std::move(w)), layout(layout_of(c_)) {
    const size_t n = static_cast<size_t>(layout.tokens) * heads * d;
    q = testing::random_bf16(n, seed, 1.5f);
    k = testing::random_bf16(n, seed + 1, 1.5f);
    v = testing::random_bf16(n, seed + 2);
  }
  float scale() const { return 1.0f / std::sqrt(static_cast<float>(d)); }
  template <typename T>
  std::vector<T> tiled(const std::vector<T>& raster) const {
    std::vector<T> out(raster.size());
    const size_t row = static_cast<size_t>(heads) * d;
    for (int64_t pos = 0; pos < layout.tokens; ++pos)
      std::copy_n(raster.begin() + layout.raster_of_tiled[pos] * row, row, out.begin() + pos * row);
    return out;
  }
  template <typename T>
  std::vector<T> untiled(const std::vector<T>& tiled_values) const {
    std::vector<T> out(tiled_values.size());
    const size_t row = static_cast<size_t>(heads) * d;
    for (int64_t pos = 0; pos < layout.tokens; ++pos)
      std::copy_n(tiled_values.begin() + pos * row, row, out.begin() + layout.raster_of_tiled[pos] * row);
    return out;
  }
  // Masked dense, double accumulation, raster order.
  std::vector<float> reference() const {
    const int64_t n = layout.tokens;
    std::vector<float> out(q.values.size());
    std::vector<double> s(static_cast<size_t>(n)), acc(static_cast<size_t>(d));
    for (int h = 0; h < heads; ++h)
      for (int64_t i = 0; i < n; ++i) {
        double m = -INFINITY;
        for (int64_t j = 0; j < n; ++j) {
          s[j] = -INFINITY;
          if (!spec_allows(c, head_windows[h], i, j)) continue;
          double dot = 0;
          for (int x = 0; x < d; ++x) dot += double(q.values[(i * heads + h) * d + x]) * k.values[(j * heads + h) * d + x];
          s[j] = dot * scale();
          m = std::max(m, s[j]);
        }
        double l = 0;
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t j = 0; j < n; ++j) {
          if (s[j] == -INFINITY) continue;
          const double p = std::exp(s[j] - m);
          l += p;
          for (int x = 0; x < d; ++x) acc[x] += p * v.values[(j * heads + h) * d + x];
        }
        for (int x = 0; x < d; ++x) out[(i * heads + h) * d + x] = static_cast<float>(acc[x] / l);
      }
    return out;
  }
};

using Errors = testing::ErrorNorms;
Errors errors(const std::vector<float>& got, const std::vector<float>& want) { return testing::error_norms(got, want); }

// The CPU reference path (kernels/cpu/attention_tile_sparse) in fp32 over the STA lists.
std::vector<float> cpu_sliding_tile(const Problem& p, bool round_p) {
  const std::vector<float> tq = p.tiled(p.q.values), tk = p.tiled(p.k.values), tv = p.tiled(p.v.values);
  std::vector<float> out(tq.size()), scores;
  const int64_t row = static_cast<int64_t>(p.heads) * p.d;
  for (int h = 0; h < p.heads; ++h) {
    cpu::TileSparseRowArgs a;
    a.k = tk.data() + h * p.d;
    a.v = tv.data() + h * p.d;
    a.row_stride = row;
    a.head_dim = p.d;
    a.tile_start = p.layout.tile_start.data();
    a.scale = p.scale();
    a.round_p = round_p;
    for (int64_t tile = 0; tile < p.layout.tile_count; ++tile) {
      const std::vector<int32_t> kv = sliding_tile_kv_tiles(p.layout, p.head_windows[h], tile);
      for (int64_t r = p.layout.tile_start[tile]; r < p.layout.tile_start[tile + 1]; ++r)
        cpu::attend_row_over_tiles_f32(a, tq.data() + r * row + h * p.d, kv.data(), static_cast<int64_t>(kv.size()),
                                       &scores, out.data() + r * row + h * p.d);
    }
  }
  return p.untiled(out);
}

TEST(SlidingTileAttention, CpuReferenceMatchesMaskedDense) {
  const Problem p({7, 10, 11, {6, 8, 8}}, 2, 64, {{1, 1, 1}, {3, 3, 5}}, 21);
  const Errors e = errors(cpu_sliding_tile(p, /*round_p=*/false), p.reference());
  std::printf("STA CPU fp32 vs masked dense: mean abs %.3g, max abs %.3g\n", e.mean_abs, e.max_abs);
  EXPECT_LT(e.mean_abs, 3e-6);
  EXPECT_LT(e.max_abs, 4e-2);
}

std::string unavailable_reason() {
  BlockSparseAttentionParams probe;
  probe.attn.head_dim = 128;
  probe.attn.batch = probe.attn.heads = probe.attn.q_tokens = probe.attn.kv_tokens = 1;
  probe.attn.q_token_stride = probe.attn.kv_token_stride = probe.attn.out_token_stride = 128;
  probe.attn.q = probe.attn.k = probe.attn.v = probe.attn.out = reinterpret_cast<uint16_t*>(256);
  probe.schedule = all_blocks_schedule(1, 1, probe.tiling);
  return block_sparse_attention_sm90_unsupported_reason(probe);
}

struct GpuRun {
  std::vector<uint16_t> out;  // tile order
};

// The main loop over the STA lists (one list group per head's window) on tile-ordered tokens.
std::vector<uint16_t> run_gpu(const Problem& p, BlockSparseTiling tiling, bool all_blocks = false) {
  const SlidingTileSchedule s = make_sliding_tile_schedule(p.layout, p.head_windows, block_sparse_rows(tiling));
  std::vector<int32_t> head_group(static_cast<size_t>(p.heads));
  for (int h = 0; h < p.heads; ++h) head_group[h] = h;  // window h serves head h
  DeviceBuffer dq = DeviceBuffer::from(p.tiled(p.q.bits)), dk = DeviceBuffer::from(p.tiled(p.k.bits)),
               dv = DeviceBuffer::from(p.tiled(p.v.bits)), dout(p.q.bits.size() * 2);
  DeviceBuffer dstart = DeviceBuffer::from(s.block_start), dlists = DeviceBuffer::from(s.list_start),
               dindex = DeviceBuffer::from(s.kv_index), dgroup = DeviceBuffer::from(head_group);
  const int tokens = static_cast<int>(p.layout.tokens);
  BlockSparseAttentionParams bp;
  bp.attn = packed_attention_params(1, p.heads, p.d, tokens, tokens, dq.as<uint16_t>(), dk.as<uint16_t>(),
                                    dv.as<uint16_t>(), dout.as<uint16_t>(), p.scale());
  bp.tiling = tiling;
  if (all_blocks) {
    bp.schedule = all_blocks_schedule(tokens, tokens, tiling);
  } else {
    bp.schedule.q_blocks = bp.schedule.kv_blocks = s.blocks;
    bp.schedule.q_block_start = bp.schedule.kv_block_start = dstart.as<int32_t>();
    bp.schedule.kv_list_start = dlists.as<int32_t>();
    bp.schedule.kv_index = dindex.as<int32_t>();
    bp.schedule.head_group = dgroup.as<int32_t>();
  }
  EXPECT_EQ(block_sparse_attention_sm90_unsupported_reason(bp), "");
  DeviceBuffer workspace(block_sparse_attention_sm90_workspace_bytes(bp));
  WAN_CUDA_CHECK(cudaMemset(dout.as<void>(), 0xff, dout.bytes()));  // NaN: an unstored row shows
  launch_block_sparse_attention_sm90(bp, workspace.as<void>(), nullptr);
  WAN_CUDA_CHECK(cudaDeviceSynchronize());
  return dout.to_host<uint16_t>();
}

void check_gpu(const Canvas& c, int heads, int d, std::vector<TileWindow> windows, BlockSparseTiling tiling,
               uint32_t seed) {
  const Problem p(c, heads, d, std::move(windows), seed);
  std::string name = std::to_string(c.t) + "x" + std::to_string(c.h) + "x" + std::to_string(c.w) + " tile " +
                     std::to_string(c.tile[0]) + "x" + std::to_string(c.tile[1]) + "x" + std::to_string(c.tile[2]) +
                     " d " + std::to_string(d) + " windows";
  for (const TileWindow& w : p.head_windows) name += " " + w.text();
  SCOPED_TRACE(name);
  const std::vector<uint16_t> first = run_gpu(p, tiling), second = run_gpu(p, tiling);
  EXPECT_EQ(first_difference(first, second), -1) << "not bit-identical run to run";
  const Errors e = errors(p.untiled(testing::bf16_to_f32(first)), p.reference());
  std::printf("STA GPU vs masked dense: %s: rel L2 %.3g, mean abs %.3g, max abs %.3g\n", name.c_str(), e.rel_l2,
              e.mean_abs, e.max_abs);
  EXPECT_LT(e.rel_l2, 8e-3);
  EXPECT_LT(e.max_abs, 4e-2);
}

TEST(SlidingTileAttention, MainLoopMatchesMaskedDense) {
  WAN_SKIP_WITHOUT_GPU();
  const std::string reason = unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  const auto k128 = BlockSparseTiling::kRows128Keys128, k64 = BlockSparseTiling::kRows64Keys64;
  check_gpu({6, 16, 24, {6, 8, 8}}, 2, 128, {{1, 1, 1}, {1, 1, 3}}, k128, 1);       // whole tiles
  check_gpu({7, 20, 21, {6, 8, 8}}, 3, 128, {{3, 3, 5}, {1, 2, 2}, {2, 1, 1}}, k128, 2);  // partial tiles
  check_gpu({7, 20, 21, {6, 8, 8}}, 2, 64, {{3, 3, 3}, {1, 1, 1}}, k128, 3);        // head_dim 64
  check_gpu({5, 9, 13, {4, 4, 4}}, 2, 128, {{1, 1, 1}, {3, 1, 3}}, k64, 4);          // 64-token tiles
  check_gpu({9, 10, 7, {3, 5, 4}}, 2, 64, {{1, 1, 1}, {2, 2, 2}}, k64, 5);           // odd tile shape
}

TEST(SlidingTileAttention, FullWindowEqualsDenseScheduleOnWholeTiles) {
  WAN_SKIP_WITHOUT_GPU();
  const std::string reason = unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  const TileWindow full{1 << 20, 1 << 20, 1 << 20};
  const Problem p({6, 16, 24, {6, 8, 8}}, 2, 128, {full, full}, 31);
  const auto k128 = BlockSparseTiling::kRows128Keys128;
  EXPECT_EQ(first_difference(run_gpu(p, k128), run_gpu(p, k128, /*all_blocks=*/true)), -1);
}

}  // namespace
}  // namespace wan
