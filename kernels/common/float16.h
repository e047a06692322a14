// bf16 and f16 <-> f32 conversions with round-to-nearest-even, bit-identical on host and
// device (the same integer code runs on both). NaN stays NaN (quietened, sign kept),
// overflow rounds to inf, f16 subnormals are exact. No arithmetic types here: storage only.
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/common/host_device.h"

namespace wan {

WAN_HD uint32_t f32_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof(u));
  return u;
}

WAN_HD float f32_from_bits(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof(f));
  return f;
}

// ---- bfloat16: 1 sign, 8 exponent, 7 mantissa bits (the top half of an f32) ----

WAN_HD uint16_t f32_to_bf16_bits(float f) {
  const uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) {  // NaN: keep sign and top payload, set quiet bit
    return static_cast<uint16_t>((u >> 16) | 0x0040u);
  }
  const uint32_t round_bias = 0x7fffu + ((u >> 16) & 1u);  // ties to even
  return static_cast<uint16_t>((u + round_bias) >> 16);
}

WAN_HD float bf16_bits_to_f32(uint16_t b) { return f32_from_bits(static_cast<uint32_t>(b) << 16); }

// ---- float16 (IEEE binary16): 1 sign, 5 exponent, 10 mantissa bits ----

WAN_HD uint16_t f32_to_f16_bits(float f) {
  const uint32_t u = f32_bits(f);
  const uint32_t sign = (u >> 16) & 0x8000u;
  uint32_t mag = u & 0x7fffffffu;
  if (mag > 0x7f800000u) {  // NaN
    return static_cast<uint16_t>(sign | 0x7e00u | ((mag >> 13) & 0x3ffu));
  }
  constexpr uint32_t kF16OverflowHalfway = 0x477ff000u;  // 65520.0f rounds to inf
  if (mag >= kF16OverflowHalfway) return static_cast<uint16_t>(sign | 0x7c00u);
  constexpr uint32_t kF16MinNormal = 0x38800000u;  // 2^-14
  if (mag >= kF16MinNormal) {
    mag += 0xfffu + ((mag >> 13) & 1u);                    // ties to even
    constexpr uint32_t kRebias = (127u - 15u) << 23;       // f32 bias -> f16 bias
    return static_cast<uint16_t>(sign | ((mag - kRebias) >> 13));
  }
  constexpr uint32_t kF16HalfMinSubnormal = 0x33000000u;  // 2^-25: tie, rounds to 0 (even)
  if (mag <= kF16HalfMinSubnormal) return static_cast<uint16_t>(sign);
  // Subnormal: value = mant * 2^(e-150) = m * 2^-24  =>  m = mant >> (126 - e), rounded.
  const uint32_t e = mag >> 23;
  const uint32_t mant = (mag & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126u - e;  // 14..24
  uint32_t m = mant >> shift;
  const uint32_t rem = mant & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1u);
  if (rem > half || (rem == half && (m & 1u))) ++m;  // may carry into the min normal: correct
  return static_cast<uint16_t>(sign | m);
}

WAN_HD float f16_bits_to_f32(uint16_t h) {
  const uint32_t sign = (static_cast<uint32_t>(h) & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0x1fu) return f32_from_bits(sign | 0x7f800000u | (mant << 13));  // inf / NaN
  if (exp != 0) return f32_from_bits(sign | ((exp + 112u) << 23) | (mant << 13));
  if (mant == 0) return f32_from_bits(sign);
  // Subnormal: normalise.
  uint32_t e = 113u;
  while ((mant & 0x400u) == 0) {
    mant <<= 1;
    --e;
  }
  return f32_from_bits(sign | (e << 23) | ((mant & 0x3ffu) << 13));
}

// Storage types: a value is its bits; arithmetic is done in f32 after conversion.
struct BFloat16 {
  uint16_t bits = 0;
  BFloat16() = default;
  WAN_HD explicit BFloat16(float f) : bits(f32_to_bf16_bits(f)) {}
  WAN_HD static BFloat16 from_bits(uint16_t b) {
    BFloat16 v;
    v.bits = b;
    return v;
  }
  WAN_HD explicit operator float() const { return bf16_bits_to_f32(bits); }
  WAN_HD float to_float() const { return bf16_bits_to_f32(bits); }
};

struct Float16 {
  uint16_t bits = 0;
  Float16() = default;
  WAN_HD explicit Float16(float f) : bits(f32_to_f16_bits(f)) {}
  WAN_HD static Float16 from_bits(uint16_t b) {
    Float16 v;
    v.bits = b;
    return v;
  }
  WAN_HD explicit operator float() const { return f16_bits_to_f32(bits); }
  WAN_HD float to_float() const { return f16_bits_to_f32(bits); }
};

static_assert(sizeof(BFloat16) == 2, "BFloat16 must be 2 bytes");
static_assert(sizeof(Float16) == 2, "Float16 must be 2 bytes");

// Rounds an f32 to the nearest bf16 value, returned as f32 (the GPU path's rounding points).
WAN_HD float round_to_bf16(float f) { return bf16_bits_to_f32(f32_to_bf16_bits(f)); }

}  // namespace wan
