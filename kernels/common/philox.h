// Philox4x32-10 counter-based generator (Salmon et al., SC'11; Random123's constants) and
// standard-normal samples from it, bit-identical on host and device.
// Sample n of stream (seed, stream) is a pure function of (seed, stream, n): any thread can
// draw any sample, so fills are deterministic for every launch shape and thread count.
#pragma once

#include <cstdint>

#include "kernels/common/host_device.h"
#include "kernels/common/portable_math.h"

namespace wan {

struct PhiloxCounter { uint32_t v[4]; };
struct PhiloxKey { uint32_t v[2]; };

constexpr uint32_t kPhiloxM0 = 0xD2511F53u;
constexpr uint32_t kPhiloxM1 = 0xCD9E8D57u;
constexpr uint32_t kPhiloxW0 = 0x9E3779B9u;  // golden ratio
constexpr uint32_t kPhiloxW1 = 0xBB67AE85u;  // sqrt(3) - 1
constexpr int kPhiloxRounds = 10;

WAN_HD PhiloxCounter philox4x32_10(PhiloxCounter ctr, PhiloxKey key) {
  for (int round = 0; round < kPhiloxRounds; ++round) {
    if (round > 0) {
      key.v[0] += kPhiloxW0;
      key.v[1] += kPhiloxW1;
    }
    const uint64_t p0 = static_cast<uint64_t>(kPhiloxM0) * ctr.v[0];
    const uint64_t p1 = static_cast<uint64_t>(kPhiloxM1) * ctr.v[2];
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    ctr = PhiloxCounter{{hi1 ^ ctr.v[1] ^ key.v[0], lo1, hi0 ^ ctr.v[3] ^ key.v[1], lo0}};
  }
  return ctr;
}

// Uniform in the open interval (0, 1): (x + 0.5) / 2^32, exact in double.
WAN_HD double philox_uniform_open(uint32_t x) {
  constexpr double kTwoPowMinus32 = 1.0 / 4294967296.0;
  return (static_cast<double>(x) + 0.5) * kTwoPowMinus32;
}

// Four standard normals from one Philox block via Box-Muller on (x0,x1) and (x2,x3):
// z0 = r cos(2 pi u2), z1 = r sin(2 pi u2), r = sqrt(-2 ln u1). Double, rounded once to f32.
WAN_HD void philox_normal4(uint64_t seed, uint64_t stream, uint64_t block, float out[4]) {
  const PhiloxKey key{{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)}};
  const PhiloxCounter ctr{{static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32),
                           static_cast<uint32_t>(stream), static_cast<uint32_t>(stream >> 32)}};
  const PhiloxCounter x = philox4x32_10(ctr, key);
  for (int pair = 0; pair < 2; ++pair) {
    const double u1 = philox_uniform_open(x.v[2 * pair]);
    const double u2 = philox_uniform_open(x.v[2 * pair + 1]);
    const double r = portable::sqrt(portable::mul(-2.0, portable::log(u1)));
    double s, c;
    portable::sincos_turns(u2, &s, &c);
    out[2 * pair] = static_cast<float>(portable::mul(r, c));
    out[2 * pair + 1] = static_cast<float>(portable::mul(r, s));
  }
}

// Sample n of the stream: element n % 4 of block n / 4.
WAN_HD float philox_normal(uint64_t seed, uint64_t stream, uint64_t n) {
  float four[4];
  philox_normal4(seed, stream, n / 4, four);
  return four[n % 4];
}

}  // namespace wan
