// VMoBA CPU reference against an independent implementation in this file (chunks by explicit
// coordinates, the threshold rule by sorting, masked dense softmax in double) on several grids
// and all three layer types; chunk shapes (partial temporal chunks); threshold 1 = dense;
// bit-identical repeated runs.
#include "kernels/cpu/attention_vmoba.h"

#include <cmath>
#include <cstring>
#include <random>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/cpu/attention_dense.h"

namespace wan::cpu {
namespace {

struct Data {
  std::vector<float> q, k, v, out;
};

Data random_data(int64_t tokens, int64_t heads, int64_t d, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n;
  Data x;
  for (auto* t : {&x.q, &x.k, &x.v}) {
    t->resize(static_cast<size_t>(tokens * heads * d));
    for (float& f : *t) f = n(rng);
  }
  x.out.assign(x.q.size(), 0.0f);
  return x;
}

VmobaParams params(Data& x, int64_t T, int64_t H, int64_t W, int64_t heads, int64_t d, int layer) {
  VmobaParams p;
  p.q = x.q.data();
  p.k = x.k.data();
  p.v = x.v.data();
  p.out = x.out.data();
  p.heads = heads;
  p.head_dim = d;
  p.frames = T;
  p.height = H;
  p.width = W;
  p.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d)));
  p.layer = layer;
  return p;
}

// Naive: chunk id from coordinates, selection by the rule, masked dense in double.
std::vector<double> naive(const VmobaParams& p) {
  const int64_t T = p.frames, H = p.height, W = p.width, L = T * H * W, d = p.head_dim;
  auto chunk = [&](int64_t tok) -> int64_t {
    const int64_t t = tok / (H * W), y = (tok / W) % H, x = tok % W;
    if (p.layer % 3 == 0) return t / p.temporal_chunk;
    if (p.layer % 3 == 1) return (y / p.spatial_chunk[0]) * (W / p.spatial_chunk[1]) + x / p.spatial_chunk[1];
    return ((t / p.st_chunk[0]) * (H / p.st_chunk[1]) + y / p.st_chunk[1]) * (W / p.st_chunk[2]) + x / p.st_chunk[2];
  };
  int64_t C = 0;
  for (int64_t t = 0; t < L; ++t) C = std::max(C, chunk(t) + 1);
  auto val = [&](const float* a, int64_t t, int64_t h, int64_t c) { return static_cast<double>(a[(t * p.heads + h) * d + c]); };
  std::vector<double> out(static_cast<size_t>(L * p.heads * d));
  for (int64_t h = 0; h < p.heads; ++h) {
    std::vector<std::vector<double>> mean(static_cast<size_t>(C), std::vector<double>(static_cast<size_t>(d), 0.0));
    std::vector<int64_t> n(static_cast<size_t>(C), 0);
    for (int64_t t = 0; t < L; ++t) {
      ++n[chunk(t)];
      for (int64_t c = 0; c < d; ++c) mean[chunk(t)][c] += val(p.k, t, h, c);
    }
    for (int64_t ch = 0; ch < C; ++ch)
      for (double& m : mean[ch]) m /= n[ch];
    for (int64_t i = 0; i < L; ++i) {
      std::set<int64_t> use = {chunk(i)};
      if (C > 1) {
        std::vector<double> g(static_cast<size_t>(C));
        for (int64_t ch = 0; ch < C; ++ch) {
          g[ch] = 0;
          for (int64_t c = 0; c < d; ++c) g[ch] += mean[ch][c] * val(p.q, i, h, c);
        }
        const double mn = *std::min_element(g.begin(), g.end()), mx = *std::max_element(g.begin(), g.end());
        const double range = mx - mn <= 1e-6 ? 1.0 : mx - mn;
        double total = 0;
        for (double& x : g) total += (x = (x - mn) / range);
        const double remain = std::max(0.0, p.threshold - g[chunk(i)] / (total + 1e-6));
        std::vector<std::pair<double, int64_t>> others;
        for (int64_t ch = 0; ch < C; ++ch) others.push_back({ch == chunk(i) ? 0.0 : -g[ch], ch});
        std::sort(others.begin(), others.end());  // descending value, lower index first
        double cum = 0;
        for (const auto& [neg, ch] : others) {
          cum += -neg;
          if (ch != chunk(i)) use.insert(ch);
          if (cum / (total + 1e-6) >= remain) break;
        }
      }
      std::vector<double> s(static_cast<size_t>(L), -INFINITY);
      double m = -INFINITY;
      for (int64_t t = 0; t < L; ++t) {
        if (!use.count(chunk(t))) continue;
        double dot = 0;
        for (int64_t c = 0; c < d; ++c) dot += val(p.q, i, h, c) * val(p.k, t, h, c);
        m = std::max(m, s[t] = dot * p.scale);
      }
      double l = 0;
      std::vector<double> o(static_cast<size_t>(d), 0.0);
      for (int64_t t = 0; t < L; ++t) {
        if (!use.count(chunk(t))) continue;
        const double e = std::exp(s[t] - m);
        l += e;
        for (int64_t c = 0; c < d; ++c) o[c] += e * val(p.v, t, h, c);
      }
      for (int64_t c = 0; c < d; ++c) out[(i * p.heads + h) * d + c] = o[c] / l;
    }
  }
  return out;
}

TEST(Vmoba, ChunksByLayer) {
  Data x = random_data(5 * 6 * 8, 1, 8, 1);
  VmobaParams p = params(x, 5, 6, 8, 1, 8, 0);
  int64_t chunks = 0;
  auto c = vmoba_chunk_of_tokens(p, &chunks);
  EXPECT_EQ(chunks, 3);                   // 2 + 2 + 1 frames: the last temporal chunk is partial
  EXPECT_EQ(c[4 * 48], 2);
  p.layer = 1;                            // spatial 3x4 across all frames: 2 x 2 chunks
  c = vmoba_chunk_of_tokens(p, &chunks);
  EXPECT_EQ(chunks, 4);
  EXPECT_EQ(c[0], c[4 * 48]);             // same tile, another frame
  EXPECT_EQ(c[3 * 8 + 4], 3);             // row 3, column 4
  p.layer = 2;                            // spatio-temporal 4x6x4 does not divide 5 frames
  c = vmoba_chunk_of_tokens(p, &chunks);
  EXPECT_TRUE(c.empty());
  p.st_chunk[0] = 5;
  c = vmoba_chunk_of_tokens(p, &chunks);
  EXPECT_EQ(chunks, 2);
}

// Error bound (fp32 mode): double sums with f32 scores and outputs, within 1e-5 of the double
// reference for unit-variance inputs.
TEST(Vmoba, MatchesTheNaiveReference) {
  struct Case { int64_t T, H, W, d; int layer; double threshold; };
  const Case cases[] = {{5, 6, 8, 32, 0, 0.25}, {4, 6, 8, 64, 1, 0.25}, {4, 6, 8, 64, 2, 0.25},
                        {3, 6, 4, 16, 0, 0.6},  {4, 6, 8, 32, 1, 0.0},  {6, 6, 8, 32, 3, 0.25}};
  uint32_t seed = 3;
  for (const Case& c : cases) {
    Data x = random_data(c.T * c.H * c.W, 2, c.d, seed++);
    VmobaParams p = params(x, c.T, c.H, c.W, 2, c.d, c.layer);
    p.spatial_chunk[0] = 3;
    p.spatial_chunk[1] = 4;
    p.st_chunk[0] = 2;
    p.st_chunk[1] = 3;
    p.st_chunk[2] = 4;
    p.threshold = c.threshold;
    attention_vmoba_f32(p);
    const std::vector<double> want = naive(p);
    double err = 0;
    for (size_t i = 0; i < want.size(); ++i) err = std::max(err, std::abs(x.out[i] - want[i]));
    EXPECT_LT(err, 1e-5) << "grid " << c.T << "x" << c.H << "x" << c.W << " layer " << c.layer;
  }
}

TEST(Vmoba, ThresholdOneIsDense) {
  Data x = random_data(4 * 6 * 8, 2, 32, 8);
  VmobaParams p = params(x, 4, 6, 8, 2, 32, 1);
  p.threshold = 1.0;
  attention_vmoba_f32(p);
  std::vector<float> dense(x.q.size());
  DenseAttentionParams dp;
  dp.q = x.q.data();
  dp.k = x.k.data();
  dp.v = x.v.data();
  dp.out = dense.data();
  dp.heads = 2;
  dp.head_dim = 32;
  dp.q_tokens = dp.kv_tokens = 4 * 6 * 8;
  dp.scale = p.scale;
  attention_dense_f32(dp);
  double err = 0;
  for (size_t i = 0; i < dense.size(); ++i) err = std::max(err, static_cast<double>(std::abs(dense[i] - x.out[i])));
  EXPECT_LT(err, 2e-6);
}

// Threshold 0 still takes the top other chunk (FastVideo's cutoff is inclusive). With only two
// chunks, the zeroed self entry can tie with the other (min-max normalised to 0) and sort first:
// then nothing else is taken, as in FastVideo; four chunks here.
TEST(Vmoba, SelectsAtLeastOneOtherChunkAndIsBitIdentical) {
  Data x = random_data(8 * 6 * 8, 1, 16, 12);
  VmobaParams p = params(x, 8, 6, 8, 1, 16, 0);
  p.threshold = 0.0;
  int64_t chunks = 0;
  const auto c = vmoba_chunk_of_tokens(p, &chunks);
  ASSERT_EQ(chunks, 4);
  for (int64_t i = 0; i < 8 * 6 * 8; i += 7) {
    const auto sel = vmoba_select(p, c, chunks, 0, 0, i);
    ASSERT_EQ(sel.size(), 1u);
    EXPECT_NE(sel[0], c[i]);
  }
  p.round_to_bf16 = true;
  attention_vmoba_f32(p);
  const std::vector<float> first = x.out;
  attention_vmoba_f32(p);
  EXPECT_EQ(std::memcmp(first.data(), x.out.data(), first.size() * sizeof(float)), 0);
}

}  // namespace
}  // namespace wan::cpu
