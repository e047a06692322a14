// The CPU emulation of SageAttention2 (attention_sage.h): its FP8 e4m3 rounding against an
// exhaustive decode of the 254 finite codes (every code maps to itself; random values go to the
// nearest code, ties to the even code; saturation at 448), the INT8 rounding rule, and the whole
// attention against dense attention in double on fresh random bf16 inputs: cosine similarity
// >= 0.999 (the bound for sage) and relative L2 < 5e-2 (3.5e-2 to 3.9e-2 measured) at
// head_dim 64 and 128, token counts with partial 64-row and 128-key blocks; bit-identical runs
// and bf16-valued outputs; outlier channels in k (what smooth-k is for) within the same bounds.
#include "kernels/cpu/attention_sage.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/common/float16.h"

namespace wan::cpu {
namespace {

// Value of e4m3fn code `bits` (sign, 4 exponent bits with bias 7, 3 mantissa bits), NaN for
// S.1111.111; an independent decode for the rounding test.
double decode_e4m3(int bits) {
  const int sign = bits >> 7, exp = (bits >> 3) & 15, man = bits & 7;
  if (exp == 15 && man == 7) return NAN;
  const double mag = exp == 0 ? std::ldexp(man / 8.0, -6) : std::ldexp(1.0 + man / 8.0, exp - 7);
  return sign ? -mag : mag;
}

TEST(SageAttention, E4m3RoundingIsNearestEvenAndSaturating) {
  std::vector<std::pair<double, int>> codes;  // finite values with their codes
  for (int b = 0; b < 256; ++b) {
    const double v = decode_e4m3(b);
    if (std::isnan(v)) continue;
    codes.push_back({v, b});
    EXPECT_EQ(round_to_e4m3(static_cast<float>(v)), static_cast<float>(v)) << "code " << b;
  }
  EXPECT_EQ(codes.size(), 254u);
  EXPECT_EQ(round_to_e4m3(500.0f), 448.0f);
  EXPECT_EQ(round_to_e4m3(-1e30f), -448.0f);
  EXPECT_EQ(round_to_e4m3(1.0625f), 1.0f);    // halfway 1 | 1.125: the even mantissa
  EXPECT_EQ(round_to_e4m3(1.1875f), 1.25f);   // halfway 1.125 | 1.25
  EXPECT_EQ(round_to_e4m3(std::ldexp(1.0f, -10)), 0.0f);                  // half the smallest subnormal
  EXPECT_EQ(round_to_e4m3(3 * std::ldexp(1.0f, -10)), std::ldexp(1.0f, -8));  // 1.5 quanta -> 2
  EXPECT_TRUE(std::isnan(round_to_e4m3(NAN)));
  std::mt19937 gen(7);
  std::uniform_real_distribution<float> exponent(-12.0f, 9.5f);
  for (int i = 0; i < 20000; ++i) {
    const float x = std::exp2(exponent(gen)) * (i % 2 ? -1.0f : 1.0f);
    const float got = round_to_e4m3(x);
    // Nearest finite code (ties: the even code, i.e. the even mantissa), saturating.
    double best = 0, best_err = INFINITY;
    int best_code = 0;
    for (const auto& [v, code] : codes) {
      const double err = std::fabs(v - x);
      if (err < best_err || (err == best_err && (code & 1) == 0)) best = v, best_err = err, best_code = code;
    }
    if (std::fabs(x) >= 448.0f) best = std::copysign(448.0, x);
    ASSERT_EQ(got, static_cast<float>(best)) << "x " << x << " code " << best_code;
  }
}

TEST(SageAttention, Int8RoundsHalfAwayFromZero) {
  EXPECT_EQ(quantize_int8(0.5f, 1.0f), 1);
  EXPECT_EQ(quantize_int8(-0.5f, 1.0f), -1);
  EXPECT_EQ(quantize_int8(0.49f, 1.0f), 0);
  EXPECT_EQ(quantize_int8(0.0f, 1.0f), 0);
  EXPECT_EQ(quantize_int8(127.0f, 1.0f), 127);
  EXPECT_EQ(quantize_int8(-2.5f, 1.0f), -3);
}

std::vector<float> random_bf16(size_t n, uint32_t seed, float stddev) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, stddev);
  std::vector<float> v(n);
  for (float& x : v) x = round_to_bf16(dist(gen));
  return v;
}

// Dense softmax attention in double.
std::vector<double> dense(const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v,
                          int64_t tokens, int64_t heads, int64_t d, double scale) {
  const int64_t row = heads * d;
  std::vector<double> out(q.size()), s(static_cast<size_t>(tokens));
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t i = 0; i < tokens; ++i) {
      double m = -INFINITY, l = 0;
      for (int64_t j = 0; j < tokens; ++j) {
        double dot = 0;
        for (int64_t c = 0; c < d; ++c) dot += double(q[i * row + h * d + c]) * k[j * row + h * d + c];
        m = std::max(m, s[j] = dot * scale);
      }
      for (int64_t j = 0; j < tokens; ++j) l += (s[j] = std::exp(s[j] - m));
      for (int64_t c = 0; c < d; ++c) {
        double o = 0;
        for (int64_t j = 0; j < tokens; ++j) o += s[j] * v[j * row + h * d + c];
        out[i * row + h * d + c] = o / l;
      }
    }
  return out;
}

struct Errors {
  double cosine, rel_l2;
};
Errors errors(const std::vector<float>& got, const std::vector<double>& want) {
  double dot = 0, gg = 0, ww = 0, diff = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    dot += got[i] * want[i];
    gg += double(got[i]) * got[i];
    ww += want[i] * want[i];
    diff += (got[i] - want[i]) * (got[i] - want[i]);
  }
  return {dot / std::sqrt(gg * ww), std::sqrt(diff / ww)};
}

void check(int64_t tokens, int64_t d, uint32_t seed, float k_outlier = 0.0f) {
  const int64_t heads = 2, n = tokens * heads * d;
  const std::vector<float> q = random_bf16(n, seed, 1.0f), v = random_bf16(n, seed + 2, 1.0f);
  std::vector<float> k = random_bf16(n, seed + 1, 1.0f);
  if (k_outlier != 0.0f)  // a large per-channel offset in k (real models have them): smooth-k removes it
    for (int64_t i = 0; i < n; i += d) k[i + 3] = round_to_bf16(k[i + 3] + k_outlier);
  SageAttentionParams p;
  p.q = q.data();
  p.k = k.data();
  p.v = v.data();
  std::vector<float> out(n), again(n);
  p.out = out.data();
  p.heads = heads;
  p.head_dim = d;
  p.tokens = tokens;
  p.scale = static_cast<float>(1.0 / std::sqrt(double(d)));
  attention_sage_f32(p);
  p.out = again.data();
  attention_sage_f32(p);
  EXPECT_EQ(std::memcmp(out.data(), again.data(), n * sizeof(float)), 0) << "not bit-identical run to run";
  for (float x : out) ASSERT_EQ(x, round_to_bf16(x));
  const Errors e = errors(out, dense(q, k, v, tokens, heads, d, p.scale));
  std::printf("sage CPU emulation vs dense (double): tokens %lld d %lld%s: cosine %.6f, rel L2 %.3e\n",
              (long long)tokens, (long long)d, k_outlier != 0.0f ? " k outlier channel" : "", e.cosine, e.rel_l2);
  EXPECT_GE(e.cosine, 0.999) << "tokens " << tokens << " d " << d;
  EXPECT_LT(e.rel_l2, 5e-2) << "tokens " << tokens << " d " << d;
}

TEST(SageAttention, CloseToDenseAttention) {
  check(200, 64, 1);    // one partial key block, 4 query blocks (the last partial)
  check(777, 128, 2);   // partial blocks of both
  check(1024, 64, 3);   // whole blocks
  check(640, 128, 4, 20.0f);
}

}  // namespace
}  // namespace wan::cpu
