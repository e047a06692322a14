// The DiT's normalisation kernels, each fused with the element-wise work around it, on
// [rows, dim] bf16 activations with fp32 statistics (two-pass mean/variance, fixed reduction
// tree: bit-identical run to run). Rounding points follow ENGINE.md: every output is rounded
// to bf16 once, where the reference stores bf16. dim must be a multiple of 8 and <= 8192.
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace wan {

// How the row kernels below map a row to threads. kAuto: one warp per row where dim <= 2048
// (4 rows per block, no barrier), else one 256-thread block per row; kBlockPerRow: always the
// latter. The two give the same bits by construction (the warp layout replays the block's
// reduction tree, tested bit for bit), so the choice is speed only and not part of a recorded
// case. Process-wide, for tests and benchmarks; returns the previous setting. Not thread-safe.
enum class NormRowLayout { kAuto, kBlockPerRow };
NormRowLayout set_norm_row_layout(NormRowLayout layout);

// out = bf16(LN(x) * (1 + scale) + shift); x, out: [rows, dim] bf16; scale, shift: [dim] f32.
void launch_layer_norm_modulate(const uint16_t* x, const float* shift, const float* scale,
                                uint16_t* out, int64_t rows, int64_t dim, float eps,
                                cudaStream_t stream);

// h = x + attn * gate (f32); n = LN(h) * weight + bias (from the f32 h); h_out = bf16(h),
// n_out = bf16(n). x, attn, h_out, n_out: [rows, dim] bf16; gate: [dim] f32; weight, bias:
// [dim] bf16.
void launch_gated_residual_layer_norm(const uint16_t* x, const uint16_t* attn, const float* gate,
                                      const uint16_t* weight, const uint16_t* bias, uint16_t* h_out,
                                      uint16_t* n_out, int64_t rows, int64_t dim, float eps,
                                      cudaStream_t stream);

// h = bf16(h + add) in place; n = bf16(LN(h)); out = bf16(n * (1 + scale) + shift).
void launch_residual_add_layer_norm_modulate(uint16_t* h, const uint16_t* add, const float* shift,
                                             const float* scale, uint16_t* out, int64_t rows,
                                             int64_t dim, float eps, cudaStream_t stream);

// x_out = bf16(h + f * gate) (f32 arithmetic). h, f, x_out: [rows, dim] bf16; gate [dim] f32.
void launch_gated_residual(const uint16_t* h, const uint16_t* f, const float* gate, uint16_t* x_out,
                           int64_t rows, int64_t dim, cudaStream_t stream);

// Per row of x (row stride ld): y = bf16(bf16(x * rsqrt(mean(x^2) + eps)) * weight), in place,
// then, when cos/sin are given, the interleaved-pair RoPE per head (f32, rounded to bf16):
// out[2j] = x[2j] cos - x[2j+1] sin, out[2j+1] = x[2j] sin + x[2j+1] cos.
// x: [rows, dim] bf16 (stride ld); weight: [dim] bf16; cos, sin: [rows, head_dim/2] f32.
void launch_qk_norm_rope(uint16_t* x, int64_t ld, const uint16_t* weight, const float* cos,
                         const float* sin, int64_t rows, int64_t dim, int64_t head_dim, float eps,
                         cudaStream_t stream);

// launch_qk_norm_rope of q (weight q_weight) and of k (weight k_weight) in one launch, the same
// bits as the two launches: each block takes one row of both, sharing the row's RoPE reads.
// q, k: [rows, dim] bf16, both with row stride ld (e.g. the q and k columns of a fused QKV row).
void launch_qk_norm_rope_pair(uint16_t* q, uint16_t* k, int64_t ld, const uint16_t* q_weight,
                              const uint16_t* k_weight, const float* cos, const float* sin, int64_t rows,
                              int64_t dim, int64_t head_dim, float eps, cudaStream_t stream);

}  // namespace wan
