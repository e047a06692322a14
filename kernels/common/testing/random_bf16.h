// Test helpers: seeded random bf16 data (as bit patterns and their f32 values) and error norms.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "kernels/common/float16.h"

namespace wan::testing {

// Index of the first differing element, or -1 (gtest would print whole vectors); 0 when the
// sizes differ.
template <typename T>
int64_t first_difference(const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() != b.size()) return 0;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i]) return static_cast<int64_t>(i);
  return -1;
}

struct Bf16Data {
  std::vector<uint16_t> bits;
  std::vector<float> values;  // exactly the bf16 values
};

inline Bf16Data random_bf16(size_t n, uint32_t seed, float stddev = 1.0f, float mean = 0.0f) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(mean, stddev);
  Bf16Data d;
  d.bits.resize(n);
  d.values.resize(n);
  for (size_t i = 0; i < n; ++i) {
    d.bits[i] = f32_to_bf16_bits(dist(gen));
    d.values[i] = bf16_bits_to_f32(d.bits[i]);
  }
  return d;
}

inline std::vector<float> bf16_to_f32(const std::vector<uint16_t>& bits) {
  std::vector<float> v(bits.size());
  for (size_t i = 0; i < bits.size(); ++i) v[i] = bf16_bits_to_f32(bits[i]);
  return v;
}

inline double rel_l2(const std::vector<float>& got, const std::vector<float>& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double d = static_cast<double>(got[i]) - want[i];
    num += d * d;
    den += static_cast<double>(want[i]) * want[i];
  }
  return std::sqrt(num / (den > 0 ? den : 1));
}

// Mean and max absolute error (NaN counts as an infinite max) and relative L2, for bounds
// stated like FastVideo's kernel tests (mean abs, max abs against a reference).
struct ErrorNorms {
  double mean_abs = 0, max_abs = 0, rel_l2 = 0;
};
inline ErrorNorms error_norms(const std::vector<float>& got, const std::vector<float>& want) {
  ErrorNorms e;
  for (size_t i = 0; i < got.size(); ++i) {
    const double diff = std::fabs(static_cast<double>(got[i]) - want[i]);
    e.mean_abs += diff;
    e.max_abs = std::isnan(diff) ? INFINITY : (diff > e.max_abs ? diff : e.max_abs);
  }
  e.mean_abs /= static_cast<double>(got.size() ? got.size() : 1);
  e.rel_l2 = rel_l2(got, want);
  return e;
}

}  // namespace wan::testing
