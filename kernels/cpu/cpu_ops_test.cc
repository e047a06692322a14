// Every CPU reference op against a straightforward double-precision implementation on fresh
// random inputs, with the error bound stated per op; plus thread-count independence.
#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/common/float16.h"
#include "kernels/cpu/attention_dense.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/linear.h"
#include "kernels/cpu/rope.h"

namespace wan::cpu {
namespace {

std::vector<float> random_vec(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(gen);
  return v;
}

double rel_l2(const std::vector<float>& got, const std::vector<double>& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    num += (got[i] - want[i]) * (got[i] - want[i]);
    den += want[i] * want[i];
  }
  return std::sqrt(num / den);
}

TEST(Linear, MatchesDoubleReference) {
  // Odd sizes exercise the row and column tails. Bound: f32 sequential sums of K=300 terms,
  // relative L2 < 1e-6.
  const int64_t m = 37, k = 300, n = 53;
  const auto x = random_vec(m * k, 1), w = random_vec(n * k, 2, 0.1f), b = random_vec(n, 3);
  std::vector<float> y(m * n);
  linear_f32(x.data(), pack_linear_weight(w.data(), n, k).data(), b.data(), y.data(), m, k, n);
  std::vector<double> ref(m * n);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = b[j];
      for (int64_t kk = 0; kk < k; ++kk) s += double(x[i * k + kk]) * w[j * k + kk];
      ref[i * n + j] = s;
    }
  EXPECT_LT(rel_l2(y, ref), 1e-6);
}

TEST(Linear, FixedOrderIsExactlySequential) {
  // The contract: acc = 0; acc += x*w for k = 0..K-1 in f32; + bias. Checked bit for bit.
  const int64_t m = 5, k = 77, n = 19;
  const auto x = random_vec(m * k, 4), w = random_vec(n * k, 5), b = random_vec(n, 6);
  std::vector<float> y(m * n);
  linear_f32(x.data(), pack_linear_weight(w.data(), n, k).data(), b.data(), y.data(), m, k, n);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      float acc = 0;
      for (int64_t kk = 0; kk < k; ++kk) {
        const float prod = x[i * k + kk] * w[j * k + kk];
        acc = acc + prod;
      }
      EXPECT_EQ(y[i * n + j], acc + b[j]) << i << "," << j;
    }
}

TEST(LayerNorm, MatchesDoubleReference) {
  const int64_t rows = 9, cols = 320;
  auto x = random_vec(rows * cols, 7, 3.0f);
  for (auto& v : x) v += 2.0f;
  const auto w = random_vec(cols, 8), b = random_vec(cols, 9);
  std::vector<float> y(x.size());
  layer_norm_rows(x.data(), y.data(), rows, cols, 1e-6f, w.data(), b.data());
  std::vector<double> ref(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (int64_t c = 0; c < cols; ++c) mean += x[r * cols + c];
    mean /= cols;
    for (int64_t c = 0; c < cols; ++c) var += (x[r * cols + c] - mean) * (x[r * cols + c] - mean);
    var /= cols;
    for (int64_t c = 0; c < cols; ++c)
      ref[r * cols + c] = (x[r * cols + c] - mean) / std::sqrt(var + 1e-6) * w[c] + b[c];
  }
  EXPECT_LT(rel_l2(y, ref), 1e-6);  // bound: f32 sums over 320 values
}

TEST(RmsNorm, MatchesDoubleReferenceAndRoundsBeforeWeight) {
  const int64_t rows = 6, cols = 256;
  const auto x = random_vec(rows * cols, 10, 2.0f), w = random_vec(cols, 11);
  std::vector<float> y(x.size()), y_bf16(x.size());
  rms_norm_rows(x.data(), y.data(), rows, cols, 1e-6f, w.data(), false);
  rms_norm_rows(x.data(), y_bf16.data(), rows, cols, 1e-6f, w.data(), true);
  std::vector<double> ref(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double ms = 0;
    for (int64_t c = 0; c < cols; ++c) ms += double(x[r * cols + c]) * x[r * cols + c];
    const double rstd = 1.0 / std::sqrt(ms / cols + 1e-6);
    for (int64_t c = 0; c < cols; ++c) {
      ref[r * cols + c] = x[r * cols + c] * rstd * w[c];
      // bf16 mode: normalised value rounded to bf16, then * weight in f32
      const float normed = round_to_bf16(x[r * cols + c] * static_cast<float>(rstd));
      EXPECT_NEAR(y_bf16[r * cols + c], normed * w[c], 1e-2 * std::fabs(normed * w[c]) + 1e-6);
    }
  }
  EXPECT_LT(rel_l2(y, ref), 1e-6);
}

TEST(Activations, GeluTanhAndSiluMatchDouble) {
  auto x = random_vec(5000, 12, 4.0f);
  x.push_back(-100.0f);
  x.push_back(100.0f);
  auto g = x, s = x;
  gelu_tanh_inplace(g.data(), static_cast<int64_t>(g.size()));
  silu_inplace(s.data(), static_cast<int64_t>(s.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    const double v = x[i];
    const double gr = 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
    const double sr = v / (1 + std::exp(-v));
    // bound: a few f32 ulp of the result, or 1e-6 absolute near zero
    EXPECT_NEAR(g[i], gr, 4e-7 * std::fabs(gr) + 1e-6) << v;
    EXPECT_NEAR(s[i], sr, 4e-7 * std::fabs(sr) + 1e-6) << v;
  }
}

TEST(Rope, TableAndRotationMatchDouble) {
  const int64_t frames = 3, height = 4, width = 5, heads = 2, head_dim = 64;
  const RopeTable table = make_rope_table(frames, height, width, head_dim);
  const int64_t tokens = frames * height * width;
  auto x = random_vec(tokens * heads * head_dim, 13);
  auto y = x;
  apply_rope_inplace(y.data(), tokens, heads, head_dim, table);
  const int64_t axis[3] = {24, 20, 20};  // d=64 split
  for (int64_t t = 0; t < frames; ++t)
    for (int64_t h = 0; h < height; ++h)
      for (int64_t w = 0; w < width; ++w) {
        const int64_t tok = (t * height + h) * width + w;
        const int64_t pos[3] = {t, h, w};
        int64_t j = 0;
        for (int a = 0; a < 3; ++a)
          for (int64_t i = 0; i < axis[a] / 2; ++i, ++j) {
            const double angle = pos[a] * std::pow(10000.0, -2.0 * i / axis[a]);
            ASSERT_NEAR(table.cos[tok * 32 + j], std::cos(angle), 1e-7);
            ASSERT_NEAR(table.sin[tok * 32 + j], std::sin(angle), 1e-7);
            for (int64_t hd = 0; hd < heads; ++hd) {
              const float* xi = &x[(tok * heads + hd) * head_dim];
              const float* yi = &y[(tok * heads + hd) * head_dim];
              const double r0 = xi[2 * j] * std::cos(angle) - xi[2 * j + 1] * std::sin(angle);
              const double r1 = xi[2 * j] * std::sin(angle) + xi[2 * j + 1] * std::cos(angle);
              EXPECT_NEAR(yi[2 * j], r0, 1e-6);
              EXPECT_NEAR(yi[2 * j + 1], r1, 1e-6);
            }
          }
      }
}

std::vector<double> attention_reference(const DenseAttentionParams& p) {
  const int64_t d = p.head_dim, row = p.heads * d;
  std::vector<double> out(p.q_tokens * row);
  for (int64_t h = 0; h < p.heads; ++h)
    for (int64_t i = 0; i < p.q_tokens; ++i) {
      std::vector<double> s(p.kv_tokens);
      double m = -1e300;
      for (int64_t j = 0; j < p.kv_tokens; ++j) {
        double dot = 0;
        for (int64_t c = 0; c < d; ++c) dot += double(p.q[i * row + h * d + c]) * p.k[j * row + h * d + c];
        s[j] = dot * p.scale;
        m = std::max(m, s[j]);
      }
      double l = 0;
      for (auto& v : s) l += (v = std::exp(v - m));
      for (int64_t c = 0; c < d; ++c) {
        double o = 0;
        for (int64_t j = 0; j < p.kv_tokens; ++j) o += s[j] * p.v[j * row + h * d + c];
        out[i * row + h * d + c] = o / l;
      }
    }
  return out;
}

TEST(AttentionDense, MatchesDoubleReference) {
  DenseAttentionParams p;
  p.heads = 3;
  p.head_dim = 64;
  p.q_tokens = 77;
  p.kv_tokens = 130;
  p.scale = 0.125f;
  const auto q = random_vec(p.q_tokens * 192, 14, 2.0f), k = random_vec(p.kv_tokens * 192, 15, 2.0f),
             v = random_vec(p.kv_tokens * 192, 16);
  std::vector<float> out(q.size()), out_bf16(q.size());
  p.q = q.data();
  p.k = k.data();
  p.v = v.data();
  p.out = out.data();
  attention_dense_f32(p);
  const auto ref = attention_reference(p);
  EXPECT_LT(rel_l2(out, ref), 2e-6);  // bound: f32 softmax and sums over 130 keys
  p.round_p_to_bf16 = true;
  p.out = out_bf16.data();
  attention_dense_f32(p);
  EXPECT_LT(rel_l2(out_bf16, ref), 5e-3);  // bound: P rounded to bf16 (2^-9 relative)
  EXPECT_GT(rel_l2(out_bf16, ref), 1e-5);  // and the rounding really happens
}

}  // namespace
}  // namespace wan::cpu
