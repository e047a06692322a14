// CPU reference element-wise and row-wise ops in f32: LayerNorm, RMSNorm, GELU(tanh), SiLU,
// bf16 rounding. Fixed summation order (sequential over the row), portable exp (no libm), no
// FMA: the same bits on every x86-64 machine. Rows are [rows, cols] row-major.
#pragma once

#include <cstdint>

namespace wan::cpu {

// Rounds every value to the nearest bf16 (ties to even), in place: the GPU path's storage.
void round_to_bf16_inplace(float* x, int64_t count);

// y = (x - mean) / sqrt(var + eps) per row (biased variance, two passes), then * weight + bias
// where given (nullptr: no affine). In place allowed (y == x).
void layer_norm_rows(const float* x, float* y, int64_t rows, int64_t cols, float eps,
                     const float* weight, const float* bias);

// y = x / sqrt(mean(x^2) + eps) per row; if round_bf16, rounded to bf16 BEFORE * weight (the
// Wan qk-norm order), then * weight (and rounded again by the caller if needed).
void rms_norm_rows(const float* x, float* y, int64_t rows, int64_t cols, float eps,
                   const float* weight, bool round_bf16);

// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), in place.
void gelu_tanh_inplace(float* x, int64_t count);
// x * sigmoid(x), in place.
void silu_inplace(float* x, int64_t count);

}  // namespace wan::cpu
