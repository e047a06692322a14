#include "kernels/cpu/attention_sla.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/attention/sla/sla_numerics.h"
#include "kernels/common/float16.h"
#include "kernels/common/portable_math.h"
#include "kernels/cpu/parallel.h"

namespace wan::cpu {
namespace {

float rnd(float x, bool round) { return round ? round_to_bf16(x) : x; }

// Element (token t, channel c) of head h, batch b in [batch, tokens, heads, head_dim].
struct HeadView {
  const float* base;
  int64_t row;  // heads * head_dim
  float at(int64_t t, int64_t c) const { return base[t * row + c]; }
};

HeadView head_of(const float* x, const SlaAttentionParams& p, int64_t b, int64_t h) {
  return {x + b * p.tokens * p.heads * p.head_dim + h * p.head_dim, p.heads * p.head_dim};
}

// Block means of rows [0, tokens) in blocks of `block` rows: [blocks][d], fp32 sums in row
// order (sla_numerics.h), a tail block over its true count.
std::vector<float> block_means(const std::vector<float>& rows, int64_t tokens, int64_t d, int64_t block, bool round) {
  const int64_t blocks = (tokens + block - 1) / block;
  std::vector<float> out(static_cast<size_t>(blocks * d));
  for (int64_t bl = 0; bl < blocks; ++bl) {
    const int64_t lo = bl * block, hi = std::min(tokens, lo + block);
    for (int64_t c = 0; c < d; ++c) {
      float s = 0.0f;
      for (int64_t t = lo; t < hi; ++t) s = sla::sum_step(s, rows[t * d + c]);
      out[bl * d + c] = sla::mean_from_sum(s, hi - lo, round);
    }
  }
  return out;
}

std::vector<float> gather_head(const HeadView& x, int64_t tokens, int64_t d) {
  std::vector<float> out(static_cast<size_t>(tokens * d));
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t c = 0; c < d; ++c) out[t * d + c] = x.at(t, c);
  return out;
}

// phi over head_dim of one row.
void feature_map(const float* x, int64_t d, SlaFeatureMap map, bool round, float* out) {
  switch (map) {
    case SlaFeatureMap::kSoftmax: {
      float m = x[0];
      for (int64_t c = 1; c < d; ++c) m = std::max(m, x[c]);
      double l = 0;
      std::vector<double> e(static_cast<size_t>(d));
      for (int64_t c = 0; c < d; ++c) l += (e[c] = portable::exp(static_cast<double>(x[c]) - m));
      for (int64_t c = 0; c < d; ++c) out[c] = rnd(static_cast<float>(e[c] / l), round);
      return;
    }
    case SlaFeatureMap::kElu:
      for (int64_t c = 0; c < d; ++c)
        out[c] = rnd(x[c] > 0 ? x[c] + 1.0f : static_cast<float>(portable::exp(static_cast<double>(x[c]))), round);
      return;
    case SlaFeatureMap::kRelu:
      for (int64_t c = 0; c < d; ++c) out[c] = rnd(std::max(x[c], 0.0f), round);
      return;
  }
}

}  // namespace

int64_t sla_topk(int64_t key_blocks, double ratio) { return sla::topk_count(key_blocks, ratio); }

std::vector<std::vector<int64_t>> sla_select_blocks(const SlaAttentionParams& p, int64_t b, int64_t h) {
  const int64_t d = p.head_dim, L = p.tokens;
  const bool round = p.round_to_bf16;
  const std::vector<float> q = gather_head(head_of(p.q, p, b, h), L, d);
  std::vector<float> k = gather_head(head_of(p.k, p, b, h), L, d);
  // Smooth-k: subtract the token mean, summed per key block and then over the blocks
  // (sla_numerics.h; FastVideo: a bf16 mean and a bf16 subtraction).
  for (int64_t c = 0; c < d; ++c) {
    float total = 0.0f;
    for (int64_t lo = 0; lo < L; lo += p.block_k) {
      float block_sum = 0.0f;
      for (int64_t t = lo; t < std::min(L, lo + p.block_k); ++t) block_sum = sla::sum_step(block_sum, k[t * d + c]);
      total = sla::sum_step(total, block_sum);
    }
    const float mean = sla::mean_from_sum(total, L, round);
    for (int64_t t = 0; t < L; ++t) k[t * d + c] = sla::smooth_key(k[t * d + c], mean, round);
  }
  const std::vector<float> qm = block_means(q, L, d, p.block_q, round);
  const std::vector<float> km = block_means(k, L, d, p.block_k, round);
  const int64_t qb = static_cast<int64_t>(qm.size()) / d, kb = static_cast<int64_t>(km.size()) / d;
  const int64_t topk = sla_topk(kb, p.ratio);
  std::vector<std::vector<int64_t>> lut(static_cast<size_t>(qb));
  std::vector<float> score(static_cast<size_t>(kb));
  std::vector<int64_t> order(static_cast<size_t>(kb));
  for (int64_t i = 0; i < qb; ++i) {
    for (int64_t j = 0; j < kb; ++j) {
      float dot = 0.0f;
      for (int64_t c = 0; c < d; ++c) dot = sla::score_step(dot, qm[i * d + c], km[j * d + c]);
      score[j] = sla::score_from_dot(dot, round);
    }
    std::iota(order.begin(), order.end(), 0);
    // Highest score first; equal scores: lower index first.
    // NaN ranks above every number, as the CUDA selection's ranking key does (vsa::score_key).
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t c) {
      const bool nan_a = std::isnan(score[a]), nan_c = std::isnan(score[c]);
      return nan_a != nan_c ? nan_a : (!nan_a && score[a] > score[c]);
    });
    lut[i].assign(order.begin(), order.begin() + topk);
    std::sort(lut[i].begin(), lut[i].end());
  }
  return lut;
}

void attention_sla_f32(const SlaAttentionParams& p) {
  const int64_t d = p.head_dim, L = p.tokens, row = p.heads * d;
  const bool round = p.round_to_bf16;
  const bool linear = p.proj_weight != nullptr;  // a zero proj_l makes the linear part vanish
  // proj_l in bf16 when rounding (FastVideo applies it under bf16 autocast).
  std::vector<float> w, bias(static_cast<size_t>(d), 0.0f);
  if (linear) {
    w.assign(p.proj_weight, p.proj_weight + d * d);
    for (float& x : w) x = rnd(x, round);
    if (p.proj_bias)
      for (int64_t c = 0; c < d; ++c) bias[c] = rnd(p.proj_bias[c], round);
  }
  for (int64_t b = 0; b < p.batch; ++b) {
    for (int64_t h = 0; h < p.heads; ++h) {
      const std::vector<std::vector<int64_t>> lut = sla_select_blocks(p, b, h);
      const HeadView q = head_of(p.q, p, b, h), k = head_of(p.k, p, b, h), v = head_of(p.v, p, b, h);
      // Linear part's per-head sums over all keys: kv[d1][d2] = sum_j phi_k[j][d1] v[j][d2], ks[d1].
      std::vector<float> kv, ks;
      if (linear) {
        std::vector<float> phi_k(static_cast<size_t>(L * d)), krow(static_cast<size_t>(d));
        for (int64_t t = 0; t < L; ++t) {
          for (int64_t c = 0; c < d; ++c) krow[c] = k.at(t, c);
          feature_map(krow.data(), d, p.feature_map, round, phi_k.data() + t * d);
        }
        kv.assign(static_cast<size_t>(d * d), 0.0f);
        ks.assign(static_cast<size_t>(d), 0.0f);
        for (int64_t c1 = 0; c1 < d; ++c1) {
          double s = 0;
          for (int64_t t = 0; t < L; ++t) s += phi_k[t * d + c1];
          ks[c1] = static_cast<float>(s);  // fp32 (autocast sums in fp32)
          for (int64_t c2 = 0; c2 < d; ++c2) {
            double a = 0;
            for (int64_t t = 0; t < L; ++t) a += static_cast<double>(phi_k[t * d + c1]) * v.at(t, c2);
            kv[c1 * d + c2] = rnd(static_cast<float>(a), round);
          }
        }
      }
      const int64_t q_blocks = static_cast<int64_t>(lut.size());
      parallel_for(q_blocks, 1, [&](int64_t qb_begin, int64_t qb_end) {
        std::vector<double> s, e, acc(static_cast<size_t>(d));
        std::vector<float> qrow(static_cast<size_t>(d)), phi_q(static_cast<size_t>(d)), o_l(static_cast<size_t>(d));
        for (int64_t qb = qb_begin; qb < qb_end; ++qb) {
          std::vector<int64_t> keys;  // the selected blocks' tokens, ascending
          for (int64_t kb : lut[qb])
            for (int64_t t = kb * p.block_k; t < std::min(L, (kb + 1) * p.block_k); ++t) keys.push_back(t);
          s.resize(keys.size());
          e.resize(keys.size());
          for (int64_t i = qb * p.block_q; i < std::min(L, (qb + 1) * p.block_q); ++i) {
            // Sparse part: softmax over the selected keys (raw k), P rounded before P*V.
            double m = -INFINITY;
            for (size_t j = 0; j < keys.size(); ++j) {
              double dot = 0;
              for (int64_t c = 0; c < d; ++c) dot += static_cast<double>(q.at(i, c)) * k.at(keys[j], c);
              s[j] = static_cast<double>(static_cast<float>(dot));  // fp32 scores, as the GPU accumulates
              m = std::max(m, s[j]);
            }
            double l = 0;
            for (size_t j = 0; j < keys.size(); ++j) {
              e[j] = portable::exp((s[j] - m) * p.scale);
              l += e[j];
            }
            std::fill(acc.begin(), acc.end(), 0.0);
            for (size_t j = 0; j < keys.size(); ++j) {
              const double pj = round ? round_to_bf16(static_cast<float>(e[j])) : e[j];
              for (int64_t c = 0; c < d; ++c) acc[c] += pj * v.at(keys[j], c);
            }
            float* oi = p.out + (b * L + i) * row + h * d;
            for (int64_t c = 0; c < d; ++c) oi[c] = rnd(static_cast<float>(acc[c] / l), round);  // o_s
            if (!linear) continue;
            // Linear part: phi(q) kv / (1e-5 + phi(q) . ks), then proj_l.
            for (int64_t c = 0; c < d; ++c) qrow[c] = q.at(i, c);
            feature_map(qrow.data(), d, p.feature_map, round, phi_q.data());
            double den = 0;
            for (int64_t c = 0; c < d; ++c) den += static_cast<double>(phi_q[c]) * ks[c];
            den = static_cast<double>(static_cast<float>(den)) + 1e-5;
            for (int64_t c2 = 0; c2 < d; ++c2) {
              double num = 0;
              for (int64_t c1 = 0; c1 < d; ++c1) num += static_cast<double>(phi_q[c1]) * kv[c1 * d + c2];
              o_l[c2] = rnd(static_cast<float>(static_cast<double>(rnd(static_cast<float>(num), round)) / den), round);
            }
            for (int64_t c = 0; c < d; ++c) {
              double y = bias[c];
              for (int64_t c1 = 0; c1 < d; ++c1) y += static_cast<double>(w[c * d + c1]) * o_l[c1];
              oi[c] = rnd(oi[c] + rnd(static_cast<float>(y), round), round);
            }
          }
        }
      });
    }
  }
}

}  // namespace wan::cpu
