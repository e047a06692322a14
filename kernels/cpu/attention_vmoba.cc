#include "kernels/cpu/attention_vmoba.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/common/float16.h"
#include "kernels/common/portable_math.h"
#include "kernels/cpu/parallel.h"

namespace wan::cpu {
namespace {

constexpr double kEps = 1e-6;

float rnd(float x, bool round) { return round ? round_to_bf16(x) : x; }

float at(const float* x, const VmobaParams& p, int64_t b, int64_t t, int64_t h, int64_t c) {
  const int64_t tokens = p.frames * p.height * p.width;
  return x[((b * tokens + t) * p.heads + h) * p.head_dim + c];
}

// Per (batch, head, chunk) mean of k over the chunk's tokens: [chunks][d].
std::vector<float> chunk_key_means(const VmobaParams& p, const std::vector<int32_t>& chunk_of, int64_t chunks,
                                   int64_t b, int64_t h) {
  const int64_t d = p.head_dim;
  std::vector<double> sum(static_cast<size_t>(chunks * d), 0.0);
  std::vector<int64_t> count(static_cast<size_t>(chunks), 0);
  for (size_t t = 0; t < chunk_of.size(); ++t) {
    ++count[chunk_of[t]];
    for (int64_t c = 0; c < d; ++c) sum[chunk_of[t] * d + c] += at(p.k, p, b, static_cast<int64_t>(t), h, c);
  }
  std::vector<float> mean(sum.size());
  for (int64_t ch = 0; ch < chunks; ++ch)
    for (int64_t c = 0; c < d; ++c) mean[ch * d + c] = static_cast<float>(sum[ch * d + c] / static_cast<double>(count[ch]));
  return mean;
}

std::vector<int32_t> select_with_means(const VmobaParams& p, const std::vector<float>& means, int64_t chunks,
                                       int32_t self, int64_t b, int64_t h, int64_t i) {
  if (chunks < 2) return {};
  const int64_t d = p.head_dim;
  std::vector<double> g(static_cast<size_t>(chunks));
  for (int64_t ch = 0; ch < chunks; ++ch) {
    double s = 0;
    for (int64_t c = 0; c < d; ++c) s += static_cast<double>(means[ch * d + c]) * at(p.q, p, b, i, h, c);
    g[ch] = rnd(static_cast<float>(s), p.round_to_bf16);
  }
  const double mn = *std::min_element(g.begin(), g.end()), mx = *std::max_element(g.begin(), g.end());
  const double range = mx - mn <= kEps ? 1.0 : mx - mn;
  double total = 0;
  for (double& x : g) total += (x = (x - mn) / range);
  const double remain = std::max(0.0, p.threshold - g[self] / (total + kEps));
  std::vector<double> others = g;
  others[self] = 0.0;
  std::vector<int32_t> order(static_cast<size_t>(chunks));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t c) { return others[a] > others[c]; });
  int64_t cutoff = chunks - 1;
  double cum = 0;
  for (int64_t j = 0; j < chunks; ++j) {
    cum += others[order[j]];
    if (cum / (total + kEps) >= remain) {
      cutoff = j;
      break;
    }
  }
  std::vector<int32_t> picked;
  for (int64_t j = 0; j <= cutoff; ++j)
    if (order[j] != self) picked.push_back(order[j]);
  std::sort(picked.begin(), picked.end());
  return picked;
}

}  // namespace

std::vector<int32_t> vmoba_chunk_of_tokens(const VmobaParams& p, int64_t* chunks) {
  const int64_t T = p.frames, H = p.height, W = p.width;
  std::vector<int32_t> out(static_cast<size_t>(T * H * W));
  const int type = p.layer % 3;
  if (type == 0) {
    const int64_t c = std::max<int64_t>(1, p.temporal_chunk);
    *chunks = (T + c - 1) / c;
    for (int64_t t = 0; t < T; ++t)
      for (int64_t i = 0; i < H * W; ++i) out[t * H * W + i] = static_cast<int32_t>(t / c);
    return out;
  }
  const int64_t ct = type == 1 ? T : p.st_chunk[0];
  const int64_t ch = type == 1 ? p.spatial_chunk[0] : p.st_chunk[1];
  const int64_t cw = type == 1 ? p.spatial_chunk[1] : p.st_chunk[2];
  if (ct < 1 || ch < 1 || cw < 1 || T % ct || H % ch || W % cw) {
    *chunks = 0;
    return {};
  }
  const int64_t nch = H / ch, ncw = W / cw;
  *chunks = (T / ct) * nch * ncw;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x)
        out[(t * H + y) * W + x] = static_cast<int32_t>(((t / ct) * nch + y / ch) * ncw + x / cw);
  return out;
}

std::vector<int32_t> vmoba_select(const VmobaParams& p, const std::vector<int32_t>& chunk_of, int64_t chunks,
                                  int64_t b, int64_t h, int64_t i) {
  return select_with_means(p, chunk_key_means(p, chunk_of, chunks, b, h), chunks, chunk_of[i], b, h, i);
}

std::vector<std::vector<int32_t>> vmoba_select_all(const VmobaParams& p, const std::vector<int32_t>& chunk_of,
                                                   int64_t chunks, int64_t b, int64_t h) {
  const std::vector<float> means = chunk_key_means(p, chunk_of, chunks, b, h);
  std::vector<std::vector<int32_t>> out(chunk_of.size());
  parallel_for(static_cast<int64_t>(chunk_of.size()), 64, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) out[i] = select_with_means(p, means, chunks, chunk_of[i], b, h, i);
  });
  return out;
}

bool attention_vmoba_f32(const VmobaParams& p) {
  int64_t chunks = 0;
  const std::vector<int32_t> chunk_of = vmoba_chunk_of_tokens(p, &chunks);
  if (chunk_of.empty()) return false;
  const int64_t tokens = p.frames * p.height * p.width, d = p.head_dim;
  const bool round = p.round_to_bf16;
  // Tokens of each chunk, ascending.
  std::vector<std::vector<int64_t>> members(static_cast<size_t>(chunks));
  for (int64_t t = 0; t < tokens; ++t) members[chunk_of[t]].push_back(t);
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t h = 0; h < p.heads; ++h) {
      const std::vector<float> means = chunk_key_means(p, chunk_of, chunks, b, h);
      parallel_for(tokens, 16, [&](int64_t lo, int64_t hi) {
        std::vector<double> s, acc(static_cast<size_t>(d));
        std::vector<int64_t> keys;
        for (int64_t i = lo; i < hi; ++i) {
          const int32_t self = chunk_of[i];
          std::vector<int32_t> use = select_with_means(p, means, chunks, self, b, h, i);
          use.push_back(self);
          std::sort(use.begin(), use.end());
          keys.clear();
          for (int32_t c : use) keys.insert(keys.end(), members[c].begin(), members[c].end());
          std::sort(keys.begin(), keys.end());
          s.resize(keys.size());
          double m = -INFINITY;
          for (size_t j = 0; j < keys.size(); ++j) {
            double dot = 0;
            for (int64_t c = 0; c < d; ++c) dot += static_cast<double>(at(p.q, p, b, i, h, c)) * at(p.k, p, b, keys[j], h, c);
            s[j] = static_cast<double>(static_cast<float>(dot));
            m = std::max(m, s[j]);
          }
          double l = 0;
          std::fill(acc.begin(), acc.end(), 0.0);
          for (size_t j = 0; j < keys.size(); ++j) {
            const double e = portable::exp((s[j] - m) * p.scale);
            l += e;
            const double pj = round ? round_to_bf16(static_cast<float>(e)) : e;
            for (int64_t c = 0; c < d; ++c) acc[c] += pj * at(p.v, p, b, keys[j], h, c);
          }
          float* oi = p.out + ((b * tokens + i) * p.heads + h) * d;
          for (int64_t c = 0; c < d; ++c) oi[c] = rnd(static_cast<float>(acc[c] / l), round);
        }
      });
    }
  return true;
}

}  // namespace wan::cpu
