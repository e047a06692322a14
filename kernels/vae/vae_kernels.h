// The Wan VAE decoder's CUDA kernels on channel-major activations [C, T, H, W] (bf16 as
// uint16_t bits, "pixels" = T*H*W), and the fp32-output cuBLASLt GEMM its convolutions and
// attention run on. Each kernel is a plain element-wise or per-pixel / per-row loop with a
// fixed order: no atomics, bit-identical run to run. Rounding points follow the CPU
// reference's bf16 mode (engine/vae/vae_ops_cpu.h): every output is rounded to bf16 once.
// Not here: the graph (engine/vae/vae_decoder.h) and weight handling (engine/vae/vae_ops_cuda).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <cublasLt.h>
#include <cuda_runtime_api.h>

namespace wan {

// ---- GEMM: D = op(A) op(B), fp32 output --------------------------------------------------
// Column-major, as cuBLASLt: op(A) is m x k (A stored k x m with lda when trans_a), op(B) is
// k x n (B stored n x k with ldb when trans_b), D is m x n with ldd. A, B bf16; D fp32; fp32
// accumulation; no epilogue (callers add bias / residual in fp32 and round once themselves).
struct GemmF32OutShape {
  int64_t m = 0, n = 0, k = 0;
  bool trans_a = false, trans_b = false;
  int64_t lda = 0, ldb = 0, ldd = 0;
  bool operator<(const GemmF32OutShape& o) const;
};

class CublasLtGemmF32Out {
 public:
  CublasLtGemmF32Out() = default;
  ~CublasLtGemmF32Out();
  // Owns cuBLASLt descriptors; copying would destroy them twice.
  CublasLtGemmF32Out(const CublasLtGemmF32Out&) = delete;
  CublasLtGemmF32Out& operator=(const CublasLtGemmF32Out&) = delete;

  // Chooses the algorithm once (heuristic's first answer, reductions without atomics, at
  // most `workspace_bytes`), for A, B, D pointers aligned to 16 bytes and lda, ldb multiples
  // of 8. Returns "" or the reason no algorithm fits.
  std::string plan(cublasLtHandle_t handle, const GemmF32OutShape& shape, size_t workspace_bytes);
  // Asynchronous on `stream`; allocates nothing. Same plan, same inputs: same bits.
  void run(const void* a, const void* b, float* d, void* workspace, cudaStream_t stream) const;

  const GemmF32OutShape& shape() const { return shape_; }
  std::string algorithm_description() const { return description_; }  // "algo 66 tile ..."

 private:
  void destroy();
  cublasLtHandle_t handle_ = nullptr;
  GemmF32OutShape shape_;
  cublasLtMatmulDesc_t op_ = nullptr;
  cublasLtMatrixLayout_t a_ = nullptr, b_ = nullptr, d_ = nullptr;
  cublasLtMatmulAlgo_t algo_{};
  size_t workspace_bytes_ = 0;
  std::string description_;
};

// ---- Element-wise and per-pixel kernels ---------------------------------------------------

// y[c, i] = bf16(x[c, i] * std[c] + mean[c]) (f32 multiply then add, no FMA), x f32
// [channels, per_channel]; std, mean: device f32 [channels].
void launch_vae_denormalize(const float* x, const float* std, const float* mean, uint16_t* y,
                            int64_t channels, int64_t per_channel, cudaStream_t stream);

// Shapes of one convolution's im2col.
struct VaeIm2colParams {
  const uint16_t* x = nullptr;        // [cin, frames, height, width]
  const uint16_t* history = nullptr;  // [cin, 2, height, width], or nullptr: zeros (kt == 3)
  uint16_t* cols = nullptr;           // [rows, k_padded]: row r is pixel p0 + r
  int64_t cin = 0, frames = 0, height = 0, width = 0;
  int kt = 1, kh = 1, kw = 1;         // kt 3: causal over [history, x]; kt 1: frame t alone
  int64_t k_padded = 0;               // >= cin*kt*kh*kw; columns past it are zeros
  int64_t p0 = 0, rows = 0;           // the pixel panel [p0, p0 + rows)
};
// cols[r, ((ci*kt + dt)*kh + dy)*kw + dx] = x at (ci, frame t+dt of [history, x] (kt 3) or t,
// y+dy-kh/2, x+dx-kw/2), zero outside the frame (spatial zero padding).
void launch_vae_im2col(const VaeIm2colParams& p, cudaStream_t stream);

// y[o, p0 + r] = bf16(acc[o, r] + bias[o] (+ residual[o, p0 + r])), all f32 before the one
// rounding. acc f32 [cout, rows] with row stride acc_ld (the GEMM panel), bias f32 [cout],
// residual and y bf16 [cout, pixels]; residual may be nullptr.
void launch_vae_conv_epilogue(const float* acc, int64_t acc_ld, const float* bias,
                              const uint16_t* residual, uint16_t* y, int64_t cout, int64_t rows,
                              int64_t p0, int64_t pixels, cudaStream_t stream);

// cuDNN's channels-last operands. to: dst [pixels_total, C] from history [C, history_pixels]
// (null: zeros) followed by x [C, pixels_total - history_pixels]. from: y [C, pixels] =
// bf16(f32(src[p, c]) + bias[c] (+ f32(residual[c, p]))) from src [pixels, C]. Tiled
// transposes through shared memory; pixel counts below 2^31.
void launch_vae_to_channels_last(const uint16_t* history, const uint16_t* x, uint16_t* dst, int64_t channels,
                                 int64_t history_pixels, int64_t pixels_total, cudaStream_t stream);
void launch_vae_from_channels_last(const uint16_t* src, const float* bias, const uint16_t* residual, uint16_t* y,
                                   int64_t channels, int64_t pixels, cudaStream_t stream);

// Per pixel: norm = max(f32(sqrt(sum_c x^2)), 1e-12) with the sum in double in channel order;
// y = x / norm * scale * gamma[c] (scale = sqrt(C)), then y / (1 + e^-y) when silu, rounded
// to bf16 (the same operations and order as the CPU reference: the same bits). x, y bf16
// [channels, pixels]; gamma f32 [channels].
void launch_vae_rms_norm(const uint16_t* x, const float* gamma, uint16_t* y, int64_t channels,
                         int64_t pixels, float scale, bool silu, cudaStream_t stream);

// One frame's q, k, v out of qkv [3C, frames, tokens] into dst [3C, tokens_padded], zeros in
// the padding columns.
void launch_vae_gather_frame(const uint16_t* qkv, uint16_t* dst, int64_t channels3,
                             int64_t frames, int64_t frame, int64_t tokens, int64_t tokens_padded,
                             cudaStream_t stream);

// Row softmax numerators as the CPU reference (kernels/cpu/attention_dense.h): per query row
// i < tokens of s f32 [tokens_padded, tokens_padded] (keys j < tokens used): m = max_j s,
// e_j = 2^((s_j - m) * scale_log2e) (the portable exp2f, same bits as the CPU), l_i = sum e_j
// (fixed tree), p[i, j] = bf16(e_j); p is zero for padding keys and rows. p bf16 like s; l
// f32 [tokens_padded]. One block per row.
void launch_vae_softmax_rows(const float* s, uint16_t* p, float* l, int64_t tokens,
                             int64_t tokens_padded, float scale_log2e, cudaStream_t stream);

// y[c, frame, i] = bf16(o[c, i] * (1 / l[i])) for i < tokens; o f32 [channels, tokens_padded],
// y bf16 [channels, frames, tokens].
void launch_vae_attention_output(const float* o, const float* l, uint16_t* y, int64_t channels,
                                 int64_t frames, int64_t frame, int64_t tokens,
                                 int64_t tokens_padded, cudaStream_t stream);

// Nearest 2x: [planes, height, width] -> [planes, 2 height, 2 width].
void launch_vae_upsample2x(const uint16_t* x, uint16_t* y, int64_t planes, int64_t height,
                           int64_t width, cudaStream_t stream);

// [2C, frames, plane] -> [C, 2 frames, plane]: y frame 2t + j is x channels [jC, (j+1)C) of t.
void launch_vae_split_time(const uint16_t* x, uint16_t* y, int64_t channels, int64_t frames,
                           int64_t plane, cudaStream_t stream);

// The last two frames of [history, x]: y [C, 2, plane]; history [C, 2, plane] or nullptr
// (zeros); x [C, frames, plane], frames >= 1.
void launch_vae_next_history(const uint16_t* history, const uint16_t* x, uint16_t* y,
                             int64_t channels, int64_t frames, int64_t plane, cudaStream_t stream);

// y = f32(x), clamped to min(1, max(-1, .)) when `clamp` (NaN -> -1, as std::min/std::max);
// x bf16, y f32.
void launch_vae_finish(const uint16_t* x, float* y, int64_t count, bool clamp, cudaStream_t stream);

}  // namespace wan
