// CPU reference GEMM for nn.Linear: y[M,N] = x[M,K] * W^T + bias, f32, with a FIXED
// summation order per output (k = 0, 1, ..., K-1 from 0, then + bias; no FMA), so results
// are identical on every x86-64 machine and thread count. W is pre-packed transposed.
#pragma once

#include <cstdint>
#include <vector>

namespace wan::cpu {

// Packs a PyTorch Linear weight w[N,K] (row-major) into w_t[K,N] for linear_f32.
std::vector<float> pack_linear_weight(const float* w, int64_t n, int64_t k);

// x: [M,K], w_t: [K,N] (pack_linear_weight), bias: [N] or nullptr, y: [M,N]. Allocates nothing.
void linear_f32(const float* x, const float* w_t, const float* bias, float* y, int64_t m,
                int64_t k, int64_t n);

}  // namespace wan::cpu
