#include "kernels/cpu/elementwise.h"

#include "kernels/common/float16.h"
#include "kernels/common/portable_math.h"
#include "kernels/cpu/parallel.h"

namespace wan::cpu {
namespace {
constexpr int64_t kElementGrain = 1 << 14;
constexpr int64_t kRowGrain = 16;
}  // namespace

void round_to_bf16_inplace(float* x, int64_t count) {
  parallel_for(count, kElementGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) x[i] = round_to_bf16(x[i]);
  });
}

void layer_norm_rows(const float* x, float* y, int64_t rows, int64_t cols, float eps,
                     const float* weight, const float* bias) {
  parallel_for(rows, kRowGrain, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* xr = x + r * cols;
      float* yr = y + r * cols;
      float sum = 0.0f;
      for (int64_t c = 0; c < cols; ++c) sum += xr[c];
      const float mean = sum / static_cast<float>(cols);
      float sq = 0.0f;
      for (int64_t c = 0; c < cols; ++c) {
        const float d = xr[c] - mean;
        sq += d * d;
      }
      const float rstd = 1.0f / __builtin_sqrtf(sq / static_cast<float>(cols) + eps);
      for (int64_t c = 0; c < cols; ++c) {
        float v = (xr[c] - mean) * rstd;
        if (weight) v = v * weight[c];
        if (bias) v = v + bias[c];
        yr[c] = v;
      }
    }
  });
}

void rms_norm_rows(const float* x, float* y, int64_t rows, int64_t cols, float eps,
                   const float* weight, bool round_bf16) {
  parallel_for(rows, kRowGrain, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* xr = x + r * cols;
      float* yr = y + r * cols;
      float sq = 0.0f;
      for (int64_t c = 0; c < cols; ++c) sq += xr[c] * xr[c];
      const float rstd = 1.0f / __builtin_sqrtf(sq / static_cast<float>(cols) + eps);
      for (int64_t c = 0; c < cols; ++c) {
        float v = xr[c] * rstd;
        if (round_bf16) v = round_to_bf16(v);
        yr[c] = weight ? v * weight[c] : v;
      }
    }
  });
}

void gelu_tanh_inplace(float* x, int64_t count) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  constexpr float kCubic = 0.044715f;
  parallel_for(count, kElementGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const float v = x[i];
      const float inner = kSqrt2OverPi * (v + kCubic * v * v * v);
      // tanh(u) = 1 - 2 / (e^(2u) + 1): exact limits at +-inf.
      const float t = 1.0f - 2.0f / (portable::expf(2.0f * inner) + 1.0f);
      x[i] = 0.5f * v * (1.0f + t);
    }
  });
}

void silu_inplace(float* x, int64_t count) {
  parallel_for(count, kElementGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) x[i] = x[i] / (1.0f + portable::expf(-x[i]));
  });
}

}  // namespace wan::cpu
