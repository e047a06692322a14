// Philox4x32-10 against Random123's published known-answer vectors (kat_vectors,
// "philox4x32 10" lines), and the normal sampler's portable math and statistics.
#include "kernels/common/philox.h"

#include <cmath>
#include <cstdint>

#include <gtest/gtest.h>

#include "kernels/common/portable_math.h"

namespace wan {
namespace {

struct Kat {
  PhiloxCounter ctr;
  PhiloxKey key;
  PhiloxCounter expect;
};

TEST(Philox4x32x10, Random123KnownAnswers) {
  const Kat kats[] = {
      {{{0, 0, 0, 0}}, {{0, 0}}, {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}}},
      {{{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}},
       {{0xffffffff, 0xffffffff}},
       {{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}}},
      {{{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}},
       {{0xa4093822, 0x299f31d0}},
       {{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}}},
  };
  for (const Kat& k : kats) {
    const PhiloxCounter out = philox4x32_10(k.ctr, k.key);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(out.v[i], k.expect.v[i]) << "word " << i;
  }
}

TEST(PortableMath, LogMatchesLibmToFewUlp) {
  for (double x = 1e-12; x < 1.0; x *= 1.01) {
    EXPECT_NEAR(portable::log(x), std::log(x), 4e-16 * std::fabs(std::log(x)) + 1e-300) << x;
  }
  EXPECT_EQ(portable::log(1.0), 0.0);
  EXPECT_NEAR(portable::log(0.5 / 4294967296.0), std::log(0.5 / 4294967296.0), 1e-14);
}

TEST(PortableMath, SinCosTurnsMatchesLibm) {
  for (int i = 0; i < 100000; ++i) {
    const double turns = (i + 0.5) / 100000.0;
    double s, c;
    portable::sincos_turns(turns, &s, &c);
    EXPECT_NEAR(s, std::sin(2 * M_PI * turns), 2e-15) << turns;
    EXPECT_NEAR(c, std::cos(2 * M_PI * turns), 2e-15) << turns;
  }
}

TEST(PortableMath, ExpAndSinCosRadiansMatchLibm) {
  for (double x = -700; x < 700; x += 0.37) {
    EXPECT_NEAR(portable::exp(x) / std::exp(x), 1.0, 1e-15) << x;
  }
  for (double x = -1000; x < 1000; x += 0.731) {
    double s, c;
    portable::sincos(x, &s, &c);
    EXPECT_NEAR(s, std::sin(x), 1e-13) << x;
    EXPECT_NEAR(c, std::cos(x), 1e-13) << x;
  }
}

TEST(PortableMath, Exp2fWithinTwoUlp) {
  for (float x = -125.0f; x < 127.0f; x += 0.0137f) {
    const double ref = std::exp2(static_cast<double>(x));
    const float got = portable::exp2f(x);
    const double ulp = std::ldexp(1.0, std::ilogb(ref) - 23);
    ASSERT_LE(std::fabs(got - ref), 2 * ulp) << x;
  }
  EXPECT_EQ(portable::exp2f(0.0f), 1.0f);
  EXPECT_EQ(portable::exp2f(-200.0f), 0.0f);
  EXPECT_TRUE(std::isinf(portable::exp2f(1000.0f)));
}

TEST(PhiloxNormal, SampleIsPureFunctionOfIndex) {
  float four[4];
  philox_normal4(42, 7, 1000, four);
  for (int j = 0; j < 4; ++j) EXPECT_EQ(philox_normal(42, 7, 4000 + j), four[j]);
  EXPECT_NE(philox_normal(42, 7, 0), philox_normal(43, 7, 0));
  EXPECT_NE(philox_normal(42, 7, 0), philox_normal(42, 8, 0));
}

TEST(PhiloxNormal, MomentsOfOneMillionSamples) {
  constexpr int kN = 1 << 20;
  double sum = 0, sum2 = 0, sum4 = 0;
  int beyond3 = 0;
  for (int i = 0; i < kN; ++i) {
    const double z = philox_normal(1024, 0, i);
    ASSERT_TRUE(std::isfinite(z));
    sum += z;
    sum2 += z * z;
    sum4 += z * z * z * z;
    beyond3 += std::fabs(z) > 3.0;
  }
  const double mean = sum / kN, var = sum2 / kN - mean * mean;
  // Standard errors at 2^20 samples: mean 0.001, variance 0.0014, kurtosis 0.0048.
  EXPECT_NEAR(mean, 0.0, 0.005);
  EXPECT_NEAR(var, 1.0, 0.007);
  EXPECT_NEAR(sum4 / kN, 3.0, 0.03);
  // P(|z| > 3) = 0.0026998
  EXPECT_NEAR(beyond3 / static_cast<double>(kN), 0.0026998, 0.0003);
}

}  // namespace
}  // namespace wan
