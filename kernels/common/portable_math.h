// Transcendentals in double built only from IEEE-exact operations (+, -, *, /, sqrt) in a
// fixed order, so the same inputs give the same bits on every x86-64 CPU and every GPU.
// Not a libm: accurate to a few ulp of double, which is far below the f32 results built
// from them. Used where CPU and GPU must agree bit for bit (RNG normals, RoPE tables).
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/common/host_device.h"

namespace wan::portable {

// add/sub/mul/div in f32 or f64, never contracted into FMA. Device: the _rn intrinsics.
// Host: the build uses -ffp-contract=off and baseline x86-64 (no FMA instructions), so plain
// operators are exact.
#if defined(__CUDA_ARCH__)
#define WAN_PORTABLE_OP(fn, op, f32_rn, f64_rn)                     \
  template <typename T>                                              \
  WAN_HD T fn(T a, T b) {                                            \
    static_assert(sizeof(T) == 4 || sizeof(T) == 8, "f32 or f64");   \
    if constexpr (sizeof(T) == 8) return f64_rn(a, b);               \
    else return f32_rn(a, b);                                        \
  }
#else
#define WAN_PORTABLE_OP(fn, op, f32_rn, f64_rn) \
  template <typename T>                         \
  WAN_HD T fn(T a, T b) {                       \
    return a op b;                              \
  }
#endif
WAN_PORTABLE_OP(add, +, __fadd_rn, __dadd_rn)
WAN_PORTABLE_OP(sub, -, __fsub_rn, __dsub_rn)
WAN_PORTABLE_OP(mul, *, __fmul_rn, __dmul_rn)
WAN_PORTABLE_OP(div, /, __fdiv_rn, __ddiv_rn)
#undef WAN_PORTABLE_OP

WAN_HD double sqrt(double a) {
#if defined(__CUDA_ARCH__)
  return __dsqrt_rn(a);
#else
  return __builtin_sqrt(a);  // sqrtsd: correctly rounded
#endif
}

constexpr double kLn2 = 0.693147180559945309417232121458176568;
constexpr double kPi = 3.14159265358979323846264338327950288;
constexpr double kSqrt2 = 1.41421356237309504880168872420969808;

// Natural log of a positive, finite, normal x.
WAN_HD double log(double x) {
  uint64_t bits;
  memcpy(&bits, &x, sizeof(bits));
  int exponent = static_cast<int>((bits >> 52) & 0x7ff) - 1023;
  bits = (bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull;  // mantissa in [1, 2)
  double m;
  memcpy(&m, &bits, sizeof(m));
  if (m > kSqrt2) {  // m in (sqrt2/2, sqrt2]: |s| <= 0.1716
    m = mul(m, 0.5);
    ++exponent;
  }
  // log(m) = 2 atanh(s), s = (m-1)/(m+1) = 2 (s + s^3/3 + s^5/5 + ...), 13 terms.
  const double s = div(sub(m, 1.0), add(m, 1.0));
  const double s2 = mul(s, s);
  double series = 1.0 / 25.0;
  for (int k = 11; k >= 0; --k) series = add(div(1.0, 2.0 * k + 1.0), mul(s2, series));
  const double log_m = mul(2.0, mul(s, series));
  return add(mul(static_cast<double>(exponent), kLn2), log_m);
}

// sin and cos of x in [0, pi/4] by Taylor series (terms to x^19 / x^18).
WAN_HD void sincos_octant(double x, double* sin_x, double* cos_x) {
  const double x2 = mul(x, x);
  double s = 0.0, c = 0.0;
  // Horner in x^2: sin = x (1 - x2/(2*3) (1 - x2/(4*5) (1 - ...)))
  for (int k = 9; k >= 1; --k) {
    s = div(mul(x2, sub(1.0, s)), static_cast<double>((2 * k) * (2 * k + 1)));
    c = div(mul(x2, sub(1.0, c)), static_cast<double>((2 * k - 1) * (2 * k)));
  }
  *sin_x = mul(x, sub(1.0, s));
  *cos_x = sub(1.0, c);
}

// sin and cos of 2*pi*turns for turns in [0, 1), with the reduction done exactly in turns.
WAN_HD void sincos_turns(double turns, double* sin_out, double* cos_out) {
  const double eighths = mul(turns, 8.0);  // exact (power of two)
  int octant = static_cast<int>(eighths);  // 0..7
  const double frac = sub(eighths, static_cast<double>(octant));  // exact
  double s, c;
  if (octant & 1) {  // angle in quadrant = pi/2 - (1-frac)*pi/4: swap sin and cos
    sincos_octant(mul(sub(1.0, frac), kPi / 4.0), &c, &s);
  } else {
    sincos_octant(mul(frac, kPi / 4.0), &s, &c);
  }
  switch ((octant >> 1) & 3) {
    case 0: *sin_out = s; *cos_out = c; break;
    case 1: *sin_out = c; *cos_out = -s; break;
    case 2: *sin_out = -s; *cos_out = -c; break;
    default: *sin_out = -c; *cos_out = s; break;
  }
}

// e^x in double for |x| < 700: x = n ln2 + r (n integer, |r| <= ln2/2), e^r by Taylor to r^16.
WAN_HD double exp(double x) {
  const double n = static_cast<double>(static_cast<int64_t>(x / kLn2 + (x >= 0 ? 0.5 : -0.5)));
  // Two-part ln2 keeps the reduction exact enough: n * kLn2Hi is exact for |n| < 2^20.
  constexpr double kLn2Hi = 0.693147180369123816490;   // 32 significant bits of ln2
  constexpr double kLn2Lo = 1.90821492927058770002e-10;  // ln2 - kLn2Hi
  const double r = sub(sub(x, mul(n, kLn2Hi)), mul(n, kLn2Lo));
  double series = 1.0;
  for (int k = 16; k >= 1; --k) series = add(1.0, div(mul(r, series), static_cast<double>(k)));
  uint64_t scale_bits = static_cast<uint64_t>(static_cast<int64_t>(n) + 1023) << 52;
  double scale;
  memcpy(&scale, &scale_bits, sizeof(scale));
  return mul(series, scale);
}

// sin and cos of x (radians) for |x| < 2^20: x - k*2pi with a two-part 2pi (Cody-Waite), then
// the remainder in turns through sincos_turns.
WAN_HD void sincos(double x, double* sin_out, double* cos_out) {
  constexpr double kInvTwoPi = 0.159154943091895335768883763372514362;
  constexpr double kTwoPiHi = 6.28318530717958623200;    // 2pi rounded to 53 bits
  constexpr double kTwoPiLo = 2.44929359829470635445e-16;  // 2pi - kTwoPiHi
  const double k = static_cast<double>(static_cast<int64_t>(mul(x, kInvTwoPi) + (x >= 0 ? 0.5 : -0.5)));
  // k*kTwoPiHi is not exact for large k, but its rounding error is below 2^-53 * |x|.
  const double r = sub(sub(x, mul(k, kTwoPiHi)), mul(k, kTwoPiLo));  // about [-pi, pi]
  double turns = mul(r, kInvTwoPi);
  if (turns < 0) turns = add(turns, 1.0);
  if (turns >= 1.0) turns = 0.0;
  sincos_turns(turns, sin_out, cos_out);
}

// 2^x in f32 from IEEE float operations only (no FMA, no libm): the same bits on every
// x86-64 CPU, vectorised or not. |error| < 2 ulp. Inputs below -126 flush to 0; above 127.99
// saturate to 2^128 = inf. Host only: nvcc would contract the polynomial into FMAs.
inline float exp2f(float x_in) {
  const float x = x_in < -126.0f ? -126.0f : (x_in > 128.0f ? 128.0f : x_in);
  const float floor_x = static_cast<float>(static_cast<int>(x)) - (x < static_cast<float>(static_cast<int>(x)) ? 1.0f : 0.0f);
  const float f = x - floor_x;  // [0, 1), exact
  // 2^f = e^(f ln2), Taylor to degree 9 in t = f*ln2 (t <= 0.6932: remainder < 3e-9).
  const float t = f * 0.693147180559945f;
  float p = 1.0f / 362880.0f;
  p = p * t + 1.0f / 40320.0f;
  p = p * t + 1.0f / 5040.0f;
  p = p * t + 1.0f / 720.0f;
  p = p * t + 1.0f / 120.0f;
  p = p * t + 1.0f / 24.0f;
  p = p * t + 1.0f / 6.0f;
  p = p * t + 0.5f;
  p = p * t + 1.0f;
  p = p * t + 1.0f;
  const int n = static_cast<int>(floor_x);
  const uint32_t bits = static_cast<uint32_t>(n + 127) << 23;
  float scale;
  memcpy(&scale, &bits, sizeof(scale));
  return x_in < -126.0f ? 0.0f : p * scale;
}

constexpr float kLog2eF = 1.44269504088896340736f;

inline float expf(float x) { return exp2f(x * kLog2eF); }

}  // namespace wan::portable
