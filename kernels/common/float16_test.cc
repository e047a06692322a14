// bf16 and f16 conversions against an independent reference: every one of the 65,536 bit
// patterns, and f32 values just below, at and just above each rounding midpoint.
#include "kernels/common/float16.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

namespace wan {
namespace {

// Reference rounding of a finite f32 x to a 16-bit format, done in double by searching the
// sorted list of all finite values: nearest value, ties to the even bit pattern, and
// overflow to inf at or beyond max + half an ulp (IEEE 754 roundTiesToEven).
struct Format {
  std::vector<double> values;       // all finite non-negative values, ascending
  std::vector<uint16_t> patterns;   // their bit patterns
  uint16_t inf_pattern;
  double overflow_threshold;        // max + ulp(max)/2
};

template <typename ToFloat>
Format build_format(ToFloat to_float, uint16_t inf_pattern) {
  Format f;
  f.inf_pattern = inf_pattern;
  for (uint32_t p = 0; p < 0x8000u; ++p) {
    const float v = to_float(static_cast<uint16_t>(p));
    if (std::isfinite(v)) {
      f.values.push_back(v);
      f.patterns.push_back(static_cast<uint16_t>(p));
    }
  }
  // Patterns are monotone in value for non-negative floats.
  EXPECT_TRUE(std::is_sorted(f.values.begin(), f.values.end()));
  const double max = f.values.back(), below = f.values[f.values.size() - 2];
  f.overflow_threshold = max + (max - below) / 2;
  return f;
}

uint16_t reference_round(const Format& fmt, float x) {
  const double mag = std::fabs(static_cast<double>(x));
  const uint16_t sign = std::signbit(x) ? 0x8000 : 0;
  if (mag >= fmt.overflow_threshold) return sign | fmt.inf_pattern;
  const auto it = std::lower_bound(fmt.values.begin(), fmt.values.end(), mag);
  const size_t hi = static_cast<size_t>(it - fmt.values.begin());
  if (hi < fmt.values.size() && fmt.values[hi] == mag) return sign | fmt.patterns[hi];
  const size_t lo = hi - 1;
  const double d_lo = mag - fmt.values[lo], d_hi = fmt.values[hi] - mag;
  size_t pick = d_lo < d_hi ? lo : hi;
  if (d_lo == d_hi) pick = (fmt.patterns[lo] & 1) ? hi : lo;
  return sign | fmt.patterns[pick];
}

bool is_nan16(uint16_t p, uint16_t exp_mask, uint16_t mant_mask) {
  return (p & exp_mask) == exp_mask && (p & mant_mask) != 0;
}

// For pattern p (non-negative, finite, not the max), f32 values around the midpoint to p+1.
std::vector<float> probes_between(float a, float b) {
  const float mid = static_cast<float>((static_cast<double>(a) + b) / 2);  // exact in f32
  return {a, std::nextafter(a, b), std::nextafter(mid, a), mid, std::nextafter(mid, b),
          std::nextafter(b, a)};
}

TEST(BFloat16, RoundTripEveryBitPattern) {
  for (uint32_t p = 0; p <= 0xffffu; ++p) {
    const uint16_t bits = static_cast<uint16_t>(p);
    const float f = bf16_bits_to_f32(bits);
    // bf16 -> f32 is exact: the f32 is the pattern shifted up.
    ASSERT_EQ(f32_bits(f), p << 16) << std::hex << p;
    if (is_nan16(bits, 0x7f80, 0x007f)) {
      const uint16_t back = f32_to_bf16_bits(f);
      EXPECT_TRUE(is_nan16(back, 0x7f80, 0x007f)) << std::hex << p;
      EXPECT_EQ(back & 0x8000, bits & 0x8000) << "NaN sign lost for " << std::hex << p;
      EXPECT_EQ(back & 0x0040, 0x0040) << "NaN not quiet for " << std::hex << p;
    } else {
      EXPECT_EQ(f32_to_bf16_bits(f), bits) << std::hex << p;
    }
  }
}

TEST(BFloat16, RoundingMatchesReferenceAroundEveryMidpoint) {
  const Format fmt = build_format(bf16_bits_to_f32, 0x7f80);
  int64_t checked = 0;
  for (size_t i = 0; i + 1 < fmt.values.size(); ++i) {
    for (float x : probes_between(static_cast<float>(fmt.values[i]),
                                  static_cast<float>(fmt.values[i + 1]))) {
      for (float s : {x, -x}) {
        ASSERT_EQ(f32_to_bf16_bits(s), reference_round(fmt, s)) << "x=" << s;
        ++checked;
      }
    }
  }
  // Overflow: just below and at the midpoint past the max finite bf16.
  const float max = static_cast<float>(fmt.values.back());
  EXPECT_EQ(f32_to_bf16_bits(std::numeric_limits<float>::max()), 0x7f80);
  EXPECT_EQ(f32_to_bf16_bits(max), 0x7f7f);
  EXPECT_EQ(f32_to_bf16_bits(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_EQ(f32_to_bf16_bits(-std::numeric_limits<float>::infinity()), 0xff80);
  EXPECT_GT(checked, 6 * 2 * 32000);
}

TEST(BFloat16, F32SubnormalsRoundCorrectly) {
  for (uint32_t u = 1; u < 0x00800000u; u += 0x1001) {
    const float x = f32_from_bits(u);
    // bf16 keeps the top 16 bits: a subnormal rounds like any other value.
    const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    EXPECT_EQ(f32_to_bf16_bits(x), rounded) << std::hex << u;
  }
}

TEST(Float16, RoundTripEveryBitPattern) {
  for (uint32_t p = 0; p <= 0xffffu; ++p) {
    const uint16_t bits = static_cast<uint16_t>(p);
    const float f = f16_bits_to_f32(bits);
    if (is_nan16(bits, 0x7c00, 0x03ff)) {
      EXPECT_TRUE(std::isnan(f)) << std::hex << p;
      const uint16_t back = f32_to_f16_bits(f);
      EXPECT_TRUE(is_nan16(back, 0x7c00, 0x03ff)) << std::hex << p;
      EXPECT_EQ(back & 0x8000, bits & 0x8000);
    } else {
      EXPECT_EQ(f32_to_f16_bits(f), bits) << std::hex << p;
    }
  }
}

TEST(Float16, DecodingMatchesClosedForm) {
  for (uint32_t p = 0; p < 0x7c00u; ++p) {  // finite non-negative
    const int e = static_cast<int>(p >> 10), m = static_cast<int>(p & 0x3ff);
    const double expect = e == 0 ? std::ldexp(m, -24) : std::ldexp(1024 + m, e - 25);
    ASSERT_EQ(static_cast<double>(f16_bits_to_f32(static_cast<uint16_t>(p))), expect) << p;
  }
}

TEST(Float16, RoundingMatchesReferenceAroundEveryMidpoint) {
  const Format fmt = build_format(f16_bits_to_f32, 0x7c00);
  for (size_t i = 0; i + 1 < fmt.values.size(); ++i) {
    for (float x : probes_between(static_cast<float>(fmt.values[i]),
                                  static_cast<float>(fmt.values[i + 1]))) {
      for (float s : {x, -x}) ASSERT_EQ(f32_to_f16_bits(s), reference_round(fmt, s)) << "x=" << s;
    }
  }
  // Below the smallest subnormal, at its half (tie to 0) and just above; overflow edges.
  EXPECT_EQ(f32_to_f16_bits(std::ldexp(1.0f, -25)), 0x0000);
  EXPECT_EQ(f32_to_f16_bits(std::nextafter(std::ldexp(1.0f, -25), 1.0f)), 0x0001);
  EXPECT_EQ(f32_to_f16_bits(std::ldexp(3.0f, -25)), 0x0002);  // 1.5 units: tie to even 2
  EXPECT_EQ(f32_to_f16_bits(65504.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16_bits(std::nextafter(65520.0f, 0.0f)), 0x7bff);
  EXPECT_EQ(f32_to_f16_bits(65520.0f), 0x7c00);
  EXPECT_EQ(f32_to_f16_bits(-1e30f), 0xfc00);
  EXPECT_EQ(f32_to_f16_bits(1e-30f), 0x0000);
  EXPECT_EQ(f32_to_f16_bits(-1e-30f), 0x8000);
}

}  // namespace
}  // namespace wan
