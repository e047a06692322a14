// Block-sparse attention (BSA). CPU: the reference (kernels/cpu/attention_bsa) in fp32 against
// masked dense attention with double accumulation over ITS OWN selections (kept rows over the
// selected tiles' keys; each row carries its source row's output), and the selection rules
// checked directly (kept counts, nearest-kept sources, at least min_tiles, threshold 1 keeps
// every tile). Bounds, as FastVideo's STA test states them against masked dense: fp32 mean abs
// < 3e-6, max abs < 4e-2. GPU: the kernels' kept rows, kv tiles and sources bit-identical to
// the CPU reference's; outputs against the bf16 CPU reference and against masked dense, rel L2
// < 8e-3 and max abs < 4e-2 (bf16 P and output); bit-identical run to run. Grids include
// partial tiles; keep ratios 0.25/0.5/0.75 exercise 16-, 32- and 64-row query slots.
#include "kernels/attention/bsa/bsa_attention.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/attention/bsa/bsa_numerics.h"
#include "kernels/attention/common/tile_layout.h"
#include "kernels/common/cuda_check.h"
#include "kernels/common/testing/device_buffer.h"
#include "kernels/common/testing/gpu_test.h"
#include "kernels/common/testing/random_bf16.h"
#include "kernels/cpu/attention_bsa.h"

namespace wan {
namespace {

using testing::DeviceBuffer;
using testing::first_difference;

struct Case {
  int64_t t, h, w;
  int batch, heads, d;
  double keep_ratio, threshold;
  int min_tiles;
  std::string describe() const {
    char buf[160];
    std::snprintf(buf, sizeof(buf), "%lldx%lldx%lld b%d h%d d%d keep %.2f thr %.2f min %d", (long long)t, (long long)h,
                  (long long)w, batch, heads, d, keep_ratio, threshold, min_tiles);
    return buf;
  }
};

struct Problem {
  Case c;
  TileLayout layout;
  testing::Bf16Data q, k, v;  // tile order [batch, tokens, heads, d]
  float scale;
  Problem(const Case& c_, uint32_t seed) : c(c_) {
    EXPECT_EQ(make_tile_layout(c.t, c.h, c.w, {4, 4, 4}, &layout), "");
    const size_t n = size_t(c.batch) * layout.tokens * c.heads * c.d;
    q = testing::random_bf16(n, seed, 1.0f);
    k = testing::random_bf16(n, seed + 1, 1.0f);
    v = testing::random_bf16(n, seed + 2);
    scale = 1.0f / std::sqrt(static_cast<float>(c.d));
  }
  int64_t bh() const { return int64_t(c.batch) * c.heads; }
};

struct CpuResult {
  std::vector<float> out;
  std::vector<int32_t> kept, kept_count, selected, selected_count, source;
};

CpuResult run_cpu(const Problem& p, bool round) {
  const int64_t nt = p.layout.tile_count, bh = p.bh();
  CpuResult r;
  r.out.resize(p.q.values.size());
  r.kept.assign(bh * nt * 64, -1);
  r.kept_count.assign(bh * nt, 0);
  r.selected.assign(bh * nt * nt, -1);
  r.selected_count.assign(bh * nt, 0);
  r.source.assign(bh * p.layout.tokens, -1);
  cpu::BsaAttentionParams a;
  a.q = p.q.values.data();
  a.k = p.k.values.data();
  a.v = p.v.values.data();
  a.out = r.out.data();
  a.tile_start = p.layout.tile_start.data();
  a.tile_tokens = p.layout.tile_tokens.data();
  a.batch = p.c.batch;
  a.heads = p.c.heads;
  a.head_dim = p.c.d;
  a.tiles = nt;
  a.scale = p.scale;
  a.select = {p.c.keep_ratio, p.c.threshold, p.c.min_tiles};
  a.round_to_bf16 = round;
  a.kept = r.kept.data();
  a.kept_count = r.kept_count.data();
  a.selected = r.selected.data();
  a.selected_count = r.selected_count.data();
  a.source_position = r.source.data();
  cpu::attention_bsa_f32(a);
  return r;
}

// Masked dense (double) over the CPU reference's own selections.
std::vector<float> masked_reference(const Problem& p, const CpuResult& r) {
  const int64_t nt = p.layout.tile_count, tokens = p.layout.tokens, row = int64_t(p.c.heads) * p.c.d, d = p.c.d;
  std::vector<float> out(p.q.values.size());
  std::vector<double> s, acc(d);
  for (int b = 0; b < p.c.batch; ++b)
    for (int h = 0; h < p.c.heads; ++h) {
      const int64_t bh = int64_t(b) * p.c.heads + h;
      for (int64_t i = 0; i < nt; ++i) {
        std::vector<int64_t> keys;
        for (int e = 0; e < r.selected_count[bh * nt + i]; ++e) {
          const int32_t j = r.selected[(bh * nt + i) * nt + e];
          for (int32_t pos = p.layout.tile_start[j]; pos < p.layout.tile_start[j + 1]; ++pos) keys.push_back(pos);
        }
        for (int32_t pos = p.layout.tile_start[i]; pos < p.layout.tile_start[i + 1]; ++pos) {
          const int64_t src = p.layout.tile_start[i] + r.source[bh * tokens + pos];
          const float* qi = p.q.values.data() + (b * tokens + src) * row + h * d;
          s.assign(keys.size(), 0.0);
          double m = -INFINITY;
          for (size_t n = 0; n < keys.size(); ++n) {
            const float* kj = p.k.values.data() + (b * tokens + keys[n]) * row + h * d;
            double dot = 0;
            for (int64_t x = 0; x < d; ++x) dot += double(qi[x]) * kj[x];
            s[n] = dot * p.scale;
            m = std::max(m, s[n]);
          }
          double l = 0;
          std::fill(acc.begin(), acc.end(), 0.0);
          for (size_t n = 0; n < keys.size(); ++n) {
            const double e = std::exp(s[n] - m);
            l += e;
            const float* vj = p.v.values.data() + (b * tokens + keys[n]) * row + h * d;
            for (int64_t x = 0; x < d; ++x) acc[x] += e * vj[x];
          }
          float* o = out.data() + (b * tokens + pos) * row + h * d;
          for (int64_t x = 0; x < d; ++x) o[x] = static_cast<float>(acc[x] / l);
        }
      }
    }
  return out;
}

using Errors = testing::ErrorNorms;
Errors errors(const std::vector<float>& got, const std::vector<float>& want) { return testing::error_norms(got, want); }

void check_selection_rules(const Problem& p, const CpuResult& r) {
  const int64_t nt = p.layout.tile_count;
  for (int64_t bh = 0; bh < p.bh(); ++bh)
    for (int64_t i = 0; i < nt; ++i) {
      const int n = p.layout.tile_tokens[i], keep = r.kept_count[bh * nt + i];
      ASSERT_EQ(keep, bsa::keep_count(n, p.c.keep_ratio));
      const int32_t* kept = r.kept.data() + (bh * nt + i) * 64;
      ASSERT_TRUE(std::is_sorted(kept, kept + keep) && std::adjacent_find(kept, kept + keep) == kept + keep);
      // Every row's source is a kept position at minimal distance, the lower one on ties.
      for (int32_t pos = 0; pos < n; ++pos) {
        const int32_t src = r.source[bh * p.layout.tokens + p.layout.tile_start[i] + pos];
        int best = kept[0];
        for (int s = 1; s < keep; ++s)
          if (std::abs(kept[s] - pos) < std::abs(best - pos)) best = kept[s];
        ASSERT_EQ(src, best) << "tile " << i << " row " << pos;
      }
      const int count = r.selected_count[bh * nt + i];
      const int32_t* sel = r.selected.data() + (bh * nt + i) * nt;
      ASSERT_TRUE(std::is_sorted(sel, sel + count) && std::adjacent_find(sel, sel + count) == sel + count);
      ASSERT_GE(count, std::min<int64_t>(p.c.min_tiles, nt));
      if (p.c.threshold >= 1.0) {
        ASSERT_EQ(count, nt);
      }
    }
}

TEST(BsaAttention, CpuReferenceMatchesMaskedDenseOnItsSelections) {
  for (const Case& c : {Case{8, 16, 16, 1, 2, 64, 0.5, 0.9, 4}, Case{9, 14, 15, 2, 1, 128, 0.5, 0.6, 4},
                        Case{6, 12, 26, 1, 2, 64, 0.25, 0.3, 2}, Case{4, 8, 12, 1, 1, 64, 1.0, 1.0, 4}}) {
    SCOPED_TRACE(c.describe());
    const Problem p(c, 7);
    const CpuResult r = run_cpu(p, /*round=*/false);
    check_selection_rules(p, r);
    const Errors e = errors(r.out, masked_reference(p, r));
    double mean_tiles = 0;
    for (int32_t n : r.selected_count) mean_tiles += n;
    mean_tiles /= double(r.selected_count.size());
    std::printf("BSA CPU fp32 vs masked dense: %s: mean abs %.3g, max abs %.3g, kv tiles %.1f of %lld\n",
                c.describe().c_str(), e.mean_abs, e.max_abs, mean_tiles, (long long)p.layout.tile_count);
    EXPECT_LT(e.mean_abs, 3e-6);
    EXPECT_LT(e.max_abs, 4e-2);
  }
}

std::string unavailable_reason() {
  BsaAttentionParams probe;
  probe.attn = packed_attention_params(1, 1, 64, 64, 64, reinterpret_cast<uint16_t*>(256), reinterpret_cast<uint16_t*>(256),
                                       reinterpret_cast<uint16_t*>(256), reinterpret_cast<uint16_t*>(256), 0.125f);
  probe.tile_start = reinterpret_cast<const int32_t*>(256);
  probe.tiles = 1;
  return bsa_attention_unsupported_reason(probe);
}

struct GpuResult {
  std::vector<uint16_t> out;
  std::vector<int32_t> kept, selected, selected_count, source;
};

// kept_count: the CPU reference's kept rows per (batch * head, tile), the prefix of kept that is compared.
GpuResult run_gpu(const Problem& p, int block_rows, const std::vector<int32_t>& kept_count) {
  const int64_t nt = p.layout.tile_count, bh = p.bh();
  DeviceBuffer dq = DeviceBuffer::from(p.q.bits), dk = DeviceBuffer::from(p.k.bits), dv = DeviceBuffer::from(p.v.bits),
               dout(p.q.bits.size() * 2), dstart = DeviceBuffer::from(p.layout.tile_start);
  BsaAttentionParams a;
  const int tokens = static_cast<int>(p.layout.tokens);
  a.attn = packed_attention_params(p.c.batch, p.c.heads, p.c.d, tokens, tokens, dq.as<uint16_t>(), dk.as<uint16_t>(),
                                   dv.as<uint16_t>(), dout.as<uint16_t>(), p.scale);
  a.tile_start = dstart.as<int32_t>();
  a.tiles = static_cast<int>(nt);
  a.max_keep = bsa::keep_count(64, p.c.keep_ratio);
  a.keep_ratio = p.c.keep_ratio;
  a.threshold = static_cast<float>(p.c.threshold);
  a.min_tiles = p.c.min_tiles;
  a.block_rows = block_rows;
  EXPECT_EQ(bsa_attention_unsupported_reason(a), "");
  DeviceBuffer workspace(bsa_attention_workspace_bytes(a));
  WAN_CUDA_CHECK(cudaMemset(dout.as<void>(), 0xff, dout.bytes()));  // NaN: an unwritten row shows
  launch_bsa_attention(a, workspace.as<void>(), nullptr);
  WAN_CUDA_CHECK(cudaDeviceSynchronize());
  GpuResult g;
  g.out = dout.to_host<uint16_t>();
  const BsaSelections s = bsa_selections(a, workspace.as<void>());
  auto copy = [](const int32_t* src, size_t n) {
    std::vector<int32_t> v(n);
    WAN_CUDA_CHECK(cudaMemcpy(v.data(), src, n * 4, cudaMemcpyDeviceToHost));
    return v;
  };
  // The kernels write only the first count entries of each kept / selected row: only those are
  // copied (the rest stays -1), so compute-sanitizer's initcheck sees no read of unwritten bytes.
  auto copy_prefixes = [](const int32_t* src, int64_t rows, int64_t row_len, const std::vector<int32_t>& count) {
    std::vector<int32_t> v(static_cast<size_t>(rows * row_len), -1);
    for (int64_t r = 0; r < rows; ++r)
      if (count[r] > 0)
        WAN_CUDA_CHECK(cudaMemcpy(v.data() + r * row_len, src + r * row_len, count[r] * 4, cudaMemcpyDeviceToHost));
    return v;
  };
  g.selected_count = copy(s.selected_count, bh * nt);
  g.kept = copy_prefixes(s.kept, bh * nt, 64, kept_count);
  g.selected = copy_prefixes(s.selected, bh * nt, nt, g.selected_count);
  g.source = copy(s.source_slot, bh * p.layout.tokens);
  return g;
}

void check_gpu(const Case& c, uint32_t seed, int block_rows) {
  SCOPED_TRACE(c.describe() + " block_rows " + std::to_string(block_rows));
  const Problem p(c, seed);
  const CpuResult r = run_cpu(p, /*round=*/true);
  const GpuResult g = run_gpu(p, block_rows, r.kept_count), again = run_gpu(p, block_rows, r.kept_count);
  EXPECT_EQ(first_difference(g.out, again.out), -1) << "not bit-identical run to run";
  const int64_t nt = p.layout.tile_count;
  for (int64_t bi = 0; bi < p.bh() * nt; ++bi) {
    const int keep = r.kept_count[bi];
    ASSERT_TRUE(std::equal(r.kept.begin() + bi * 64, r.kept.begin() + bi * 64 + keep, g.kept.begin() + bi * 64))
        << "kept rows differ from the CPU reference at (batch*head, tile) " << bi;
    ASSERT_EQ(g.selected_count[bi], r.selected_count[bi]) << "kv tile count differs at " << bi;
    ASSERT_TRUE(std::equal(r.selected.begin() + bi * nt, r.selected.begin() + bi * nt + r.selected_count[bi],
                           g.selected.begin() + bi * nt))
        << "kv tiles differ from the CPU reference at " << bi;
  }
  // GPU sources are kept slots; the CPU's are positions: map through the kept list.
  for (int64_t bh = 0; bh < p.bh(); ++bh)
    for (int64_t i = 0; i < nt; ++i)
      for (int32_t pos = p.layout.tile_start[i]; pos < p.layout.tile_start[i + 1]; ++pos)
        ASSERT_EQ(g.kept[(bh * nt + i) * 64 + g.source[bh * p.layout.tokens + pos]], r.source[bh * p.layout.tokens + pos]);
  const std::vector<float> got = testing::bf16_to_f32(g.out);
  const Errors vs_cpu = errors(got, r.out), vs_dense = errors(got, masked_reference(p, r));
  double mean_tiles = 0;
  for (int32_t n : r.selected_count) mean_tiles += n;
  mean_tiles /= double(r.selected_count.size());
  std::printf("BSA GPU: %s, %d-row blocks: vs CPU rel L2 %.3g; vs masked dense rel L2 %.3g, max abs %.3g; kv tiles %.1f of %lld\n",
              c.describe().c_str(), block_rows, vs_cpu.rel_l2, vs_dense.rel_l2, vs_dense.max_abs, mean_tiles, (long long)nt);
  EXPECT_LT(vs_cpu.rel_l2, 8e-3);
  EXPECT_LT(vs_dense.rel_l2, 8e-3);
  EXPECT_LT(vs_dense.max_abs, 4e-2);
}

TEST(BsaAttention, KernelsMatchTheCpuReference) {
  WAN_SKIP_WITHOUT_GPU();
  const std::string reason = unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  for (const int rows : {64, 128}) {
    check_gpu({8, 16, 16, 1, 2, 128, 0.5, 0.9, 4}, 1, rows);   // whole tiles, 32-row slots
    check_gpu({9, 14, 15, 2, 2, 128, 0.5, 0.6, 4}, 2, rows);   // partial tiles, batch 2
    check_gpu({6, 12, 26, 1, 3, 64, 0.25, 0.3, 2}, 3, rows);   // 16-row slots, head_dim 64, 63 tiles
    check_gpu({5, 7, 9, 1, 2, 64, 0.75, 0.8, 4}, 4, rows);     // 64-row slots
    check_gpu({4, 8, 12, 1, 2, 128, 1.0, 1.0, 4}, 5, rows);    // keep everything: dense
    check_gpu({8, 20, 24, 1, 2, 128, 0.5, 0.5, 4}, 6, rows);   // 150 tiles
  }
}

}  // namespace
}  // namespace wan
