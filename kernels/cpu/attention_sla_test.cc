// SLA CPU reference against an independent straightforward implementation in this file (dense
// masked softmax over the selected blocks, the linear branch by its formula, all in double),
// at several token counts with tail blocks, all three feature maps, with and without proj_l;
// the selection rule (top-k count, ties to the lower index); ratio 1 with no proj_l equals
// dense attention; bit-identical repeated runs; bf16 outputs in bf16 mode.
#include "kernels/cpu/attention_sla.h"

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/common/float16.h"
#include "kernels/cpu/attention_dense.h"

namespace wan::cpu {
namespace {

struct Inputs {
  std::vector<float> q, k, v, w, bias;
};

Inputs random_inputs(int64_t batch, int64_t tokens, int64_t heads, int64_t d, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n;
  Inputs in;
  for (auto* x : {&in.q, &in.k, &in.v}) {
    x->resize(static_cast<size_t>(batch * tokens * heads * d));
    for (float& f : *x) f = n(rng);
  }
  in.w.resize(static_cast<size_t>(d * d));
  for (float& f : in.w) f = 0.2f * n(rng);
  in.bias.resize(static_cast<size_t>(d));
  for (float& f : in.bias) f = 0.1f * n(rng);
  return in;
}

// The naive reference: selection recomputed here, then masked dense + linear formula in double.
std::vector<double> naive_sla(const SlaAttentionParams& p) {
  const int64_t d = p.head_dim, L = p.tokens, row = p.heads * d;
  std::vector<double> out(static_cast<size_t>(p.batch * L * row));
  auto at = [&](const float* x, int64_t b, int64_t t, int64_t h, int64_t c) { return static_cast<double>(x[(b * L + t) * row + h * d + c]); };
  auto phi = [&](std::vector<double> x) {
    if (p.feature_map == SlaFeatureMap::kSoftmax) {
      double m = x[0], l = 0;
      for (double y : x) m = std::max(m, y);
      for (double& y : x) l += (y = std::exp(y - m));
      for (double& y : x) y /= l;
    } else if (p.feature_map == SlaFeatureMap::kElu) {
      for (double& y : x) y = y > 0 ? y + 1 : std::exp(y);
    } else {
      for (double& y : x) y = std::max(y, 0.0);
    }
    return x;
  };
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t h = 0; h < p.heads; ++h) {
      // Selection: smooth-k, block means, scores, top-k with ties to the lower index.
      std::vector<double> kmean(static_cast<size_t>(d), 0.0);
      for (int64_t t = 0; t < L; ++t)
        for (int64_t c = 0; c < d; ++c) kmean[c] += at(p.k, b, t, h, c) / L;
      const int64_t QB = (L + p.block_q - 1) / p.block_q, KB = (L + p.block_k - 1) / p.block_k;
      auto mean_block = [&](const float* x, int64_t blk, int64_t size, bool smooth) {
        std::vector<double> m(static_cast<size_t>(d), 0.0);
        const int64_t lo = blk * size, hi = std::min(L, lo + size);
        for (int64_t t = lo; t < hi; ++t)
          for (int64_t c = 0; c < d; ++c) m[c] += (at(x, b, t, h, c) - (smooth ? kmean[c] : 0.0)) / (hi - lo);
        return m;
      };
      const int64_t topk = std::max<int64_t>(1, std::min<int64_t>(KB, static_cast<int64_t>(std::floor(p.ratio * KB))));
      std::vector<std::vector<double>> phik;
      std::vector<std::vector<double>> kv(static_cast<size_t>(d), std::vector<double>(static_cast<size_t>(d), 0.0));
      std::vector<double> ks(static_cast<size_t>(d), 0.0);
      for (int64_t t = 0; t < L; ++t) {
        std::vector<double> kr(static_cast<size_t>(d));
        for (int64_t c = 0; c < d; ++c) kr[c] = at(p.k, b, t, h, c);
        const std::vector<double> f = phi(kr);
        for (int64_t c1 = 0; c1 < d; ++c1) {
          ks[c1] += f[c1];
          for (int64_t c2 = 0; c2 < d; ++c2) kv[c1][c2] += f[c1] * at(p.v, b, t, h, c2);
        }
      }
      for (int64_t qb = 0; qb < QB; ++qb) {
        const std::vector<double> qm = mean_block(p.q, qb, p.block_q, false);
        std::vector<std::pair<double, int64_t>> sc;
        for (int64_t kb = 0; kb < KB; ++kb) {
          const std::vector<double> km = mean_block(p.k, kb, p.block_k, true);
          double s = 0;
          for (int64_t c = 0; c < d; ++c) s += qm[c] * km[c];
          sc.push_back({-s, kb});  // ascending: highest score, then lowest index
        }
        std::sort(sc.begin(), sc.end());
        std::vector<bool> keep(static_cast<size_t>(KB), false);
        for (int64_t j = 0; j < topk; ++j) keep[sc[j].second] = true;
        for (int64_t i = qb * p.block_q; i < std::min(L, (qb + 1) * p.block_q); ++i) {
          std::vector<double> s(static_cast<size_t>(L), -INFINITY);
          double m = -INFINITY;
          for (int64_t t = 0; t < L; ++t) {
            if (!keep[t / p.block_k]) continue;
            double dot = 0;
            for (int64_t c = 0; c < d; ++c) dot += at(p.q, b, i, h, c) * at(p.k, b, t, h, c);
            s[t] = dot * p.scale;
            m = std::max(m, s[t]);
          }
          double l = 0;
          std::vector<double> o(static_cast<size_t>(d), 0.0);
          for (int64_t t = 0; t < L; ++t) {
            if (!keep[t / p.block_k]) continue;
            const double e = std::exp(s[t] - m);
            l += e;
            for (int64_t c = 0; c < d; ++c) o[c] += e * at(p.v, b, t, h, c);
          }
          for (double& x : o) x /= l;
          if (p.proj_weight) {
            std::vector<double> qr(static_cast<size_t>(d));
            for (int64_t c = 0; c < d; ++c) qr[c] = at(p.q, b, i, h, c);
            const std::vector<double> fq = phi(qr);
            double den = 1e-5;
            for (int64_t c = 0; c < d; ++c) den += fq[c] * ks[c];
            std::vector<double> ol(static_cast<size_t>(d), 0.0);
            for (int64_t c2 = 0; c2 < d; ++c2) {
              for (int64_t c1 = 0; c1 < d; ++c1) ol[c2] += fq[c1] * kv[c1][c2];
              ol[c2] /= den;
            }
            for (int64_t c = 0; c < d; ++c) {
              double y = p.proj_bias ? p.proj_bias[c] : 0.0;
              for (int64_t c1 = 0; c1 < d; ++c1) y += p.proj_weight[c * d + c1] * ol[c1];
              o[c] += y;
            }
          }
          for (int64_t c = 0; c < d; ++c) out[(b * L + i) * row + h * d + c] = o[c];
        }
      }
    }
  return out;
}

SlaAttentionParams params_for(Inputs& in, std::vector<float>& out, int64_t batch, int64_t tokens, int64_t heads, int64_t d) {
  out.assign(static_cast<size_t>(batch * tokens * heads * d), 0.0f);
  SlaAttentionParams p;
  p.q = in.q.data();
  p.k = in.k.data();
  p.v = in.v.data();
  p.out = out.data();
  p.batch = batch;
  p.tokens = tokens;
  p.heads = heads;
  p.head_dim = d;
  p.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d)));
  return p;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<double>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

TEST(SlaAttention, TopkCount) {
  EXPECT_EQ(sla_topk(512, 0.1), 51);  // 480p 1.3B: 32,760 tokens, 512 key blocks
  EXPECT_EQ(sla_topk(5, 0.1), 1);     // FastVideo would select none (NaN): at least one
  EXPECT_EQ(sla_topk(5, 1.0), 5);
  EXPECT_EQ(sla_topk(7, 0.5), 3);
}

// Error bound (fp32 mode, double sums): the result is f32-rounded scores and outputs of an
// exact computation, so within 1e-5 of the double reference for unit-variance inputs.
TEST(SlaAttention, MatchesTheNaiveReferenceAtSeveralShapes) {
  struct Case { int64_t batch, tokens, heads, d; double ratio; SlaFeatureMap map; bool proj; };
  const Case cases[] = {
      {1, 300, 2, 64, 0.5, SlaFeatureMap::kSoftmax, true},   // tails: q 44 rows, k 44 rows
      {2, 257, 1, 64, 0.25, SlaFeatureMap::kElu, true},
      {1, 200, 3, 32, 0.3, SlaFeatureMap::kRelu, true},
      {1, 640, 1, 128, 0.1, SlaFeatureMap::kSoftmax, false},  // no proj_l: sparse part only
      {1, 64, 2, 64, 1.0, SlaFeatureMap::kSoftmax, true},     // one block each way
  };
  uint32_t seed = 11;
  for (const Case& c : cases) {
    Inputs in = random_inputs(c.batch, c.tokens, c.heads, c.d, seed++);
    std::vector<float> out;
    SlaAttentionParams p = params_for(in, out, c.batch, c.tokens, c.heads, c.d);
    p.ratio = c.ratio;
    p.feature_map = c.map;
    if (c.proj) {
      p.proj_weight = in.w.data();
      p.proj_bias = in.bias.data();
    }
    attention_sla_f32(p);
    const double err = max_abs_diff(out, naive_sla(p));
    EXPECT_LT(err, 1e-5) << "tokens " << c.tokens << " d " << c.d << " ratio " << c.ratio;
  }
}

TEST(SlaAttention, RatioOneWithoutProjIsDenseAttention) {
  Inputs in = random_inputs(1, 333, 2, 64, 5);
  std::vector<float> out, dense(in.q.size());
  SlaAttentionParams p = params_for(in, out, 1, 333, 2, 64);
  p.ratio = 1.0;
  attention_sla_f32(p);
  DenseAttentionParams dp;
  dp.q = in.q.data();
  dp.k = in.k.data();
  dp.v = in.v.data();
  dp.out = dense.data();
  dp.heads = 2;
  dp.head_dim = 64;
  dp.q_tokens = dp.kv_tokens = 333;
  dp.scale = p.scale;
  attention_dense_f32(dp);
  double err = 0;
  for (size_t i = 0; i < out.size(); ++i) err = std::max(err, static_cast<double>(std::abs(out[i] - dense[i])));
  EXPECT_LT(err, 2e-6);
}

TEST(SlaAttention, TiesGoToTheLowerIndexAndBlocksAreAscending) {
  // Every key block identical: all pooled scores tie, so blocks 0..topk-1 are selected.
  const int64_t L = 64 * 6, d = 16;
  Inputs in = random_inputs(1, L, 1, d, 9);
  for (int64_t t = 64; t < L; ++t)
    for (int64_t c = 0; c < d; ++c) in.k[t * d + c] = in.k[(t % 64) * d + c];
  std::vector<float> out;
  SlaAttentionParams p = params_for(in, out, 1, L, 1, d);
  p.block_q = 128;
  p.ratio = 0.5;
  const auto lut = sla_select_blocks(p, 0, 0);
  ASSERT_EQ(lut.size(), 3u);
  for (const auto& row : lut) EXPECT_EQ(row, (std::vector<int64_t>{0, 1, 2}));
}

TEST(SlaAttention, BitIdenticalRunsAndBf16Outputs) {
  Inputs in = random_inputs(1, 290, 2, 64, 21);
  for (float* x : {in.q.data(), in.k.data(), in.v.data()})
    for (size_t i = 0; i < in.q.size(); ++i) x[i] = round_to_bf16(x[i]);
  std::vector<float> a, b;
  SlaAttentionParams pa = params_for(in, a, 1, 290, 2, 64);
  pa.round_to_bf16 = true;
  pa.proj_weight = in.w.data();
  pa.proj_bias = in.bias.data();
  SlaAttentionParams pb = pa;
  b.assign(a.size(), 0.0f);
  pb.out = b.data();
  attention_sla_f32(pa);
  attention_sla_f32(pb);
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
  for (float x : a) ASSERT_EQ(x, round_to_bf16(x));
  // bf16 rounding points stay within bf16 error of the exact result.
  const double err = max_abs_diff(a, naive_sla(pa));
  EXPECT_LT(err, 0.05);
}

}  // namespace
}  // namespace wan::cpu
