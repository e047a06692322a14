#include "kernels/vae/vae_kernels.h"

#include <algorithm>
#include <sstream>
#include <tuple>

#include "kernels/common/cuda_check.h"
#include "kernels/common/float16.h"
#include "kernels/gemm/cublaslt_gemm.h"

namespace wan {

// ---- GEMM ---------------------------------------------------------------------------------

bool GemmF32OutShape::operator<(const GemmF32OutShape& o) const {
  return std::tie(m, n, k, trans_a, trans_b, lda, ldb, ldd) <
         std::tie(o.m, o.n, o.k, o.trans_a, o.trans_b, o.lda, o.ldb, o.ldd);
}

CublasLtGemmF32Out::~CublasLtGemmF32Out() { destroy(); }

void CublasLtGemmF32Out::destroy() {
  if (op_) cublasLtMatmulDescDestroy(op_);
  if (a_) cublasLtMatrixLayoutDestroy(a_);
  if (b_) cublasLtMatrixLayoutDestroy(b_);
  if (d_) cublasLtMatrixLayoutDestroy(d_);
  op_ = nullptr;
  a_ = b_ = d_ = nullptr;
}

std::string CublasLtGemmF32Out::plan(cublasLtHandle_t handle, const GemmF32OutShape& s,
                                     size_t workspace_bytes) {
  destroy();
  handle_ = handle;
  shape_ = s;
  if (s.m < 1 || s.n < 1 || s.k < 1) return "GEMM dimensions must be positive";
  const int64_t a_rows = s.trans_a ? s.k : s.m, b_rows = s.trans_b ? s.n : s.k;
  if (s.lda < a_rows || s.ldb < b_rows || s.ldd < s.m) return "GEMM leading dimensions are too small";
  if (s.lda % 8 || s.ldb % 8 || s.ldd % 4) return "GEMM leading dimensions must be 16-byte multiples";
  WAN_CUBLAS_CHECK(cublasLtMatmulDescCreate(&op_, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t ta = s.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t tb = s.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  WAN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
  WAN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
  WAN_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&a_, CUDA_R_16BF, a_rows, s.trans_a ? s.m : s.k, s.lda));
  WAN_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&b_, CUDA_R_16BF, b_rows, s.trans_b ? s.k : s.n, s.ldb));
  WAN_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&d_, CUDA_R_32F, s.m, s.n, s.ldd));

  GemmAlgorithm chosen;
  const std::string err = choose_deterministic_gemm_algorithm(
      handle, op_, a_, b_, d_, workspace_bytes, 16,  // callers promise 16-byte alignment
      "the fp32-output GEMM m=" + std::to_string(s.m) + " n=" + std::to_string(s.n) + " k=" + std::to_string(s.k),
      &chosen);
  if (!err.empty()) return err;
  algo_ = chosen.algo;
  workspace_bytes_ = chosen.workspace_bytes;
  description_ = chosen.description;
  return "";
}

void CublasLtGemmF32Out::run(const void* a, const void* b, float* d, void* workspace, cudaStream_t stream) const {
  const float alpha = 1.0f, beta = 0.0f;
  WAN_CUBLAS_CHECK(cublasLtMatmul(handle_, op_, &alpha, a, a_, b, b_, &beta, d, d_, d, d_, &algo_, workspace,
                                  workspace_bytes_, stream));
}

// ---- Kernels ------------------------------------------------------------------------------
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 65536;  // grid-stride loops beyond this
constexpr float kLog2eF = 1.44269504088896340736f;

int blocks_for(int64_t n) {
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>((n + kThreads - 1) / kThreads, kMaxBlocks)));
}

// Grid-stride loop over [0, n) with a 64-bit index.
#define WAN_GRID_STRIDE(i, n)                                                                    \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n);      \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

__device__ __forceinline__ float bf16_load(const uint16_t* p, int64_t i) { return bf16_bits_to_f32(p[i]); }

// portable::exp2f (kernels/common/portable_math.h) with every operation rounded on its own
// (no FMA contraction): the same bits as the CPU reference's softmax and SiLU.
__device__ __forceinline__ float portable_exp2f(float x_in) {
  const float x = x_in < -126.0f ? -126.0f : (x_in > 128.0f ? 128.0f : x_in);
  const float trunc_x = static_cast<float>(static_cast<int>(x));
  const float floor_x = __fsub_rn(trunc_x, x < trunc_x ? 1.0f : 0.0f);
  const float f = __fsub_rn(x, floor_x);
  const float t = __fmul_rn(f, 0.693147180559945f);
  constexpr float kCoeff[9] = {1.0f / 40320.0f, 1.0f / 5040.0f, 1.0f / 720.0f, 1.0f / 120.0f, 1.0f / 24.0f,
                               1.0f / 6.0f,     0.5f,           1.0f,          1.0f};
  float p = 1.0f / 362880.0f;
#pragma unroll
  for (int i = 0; i < 9; ++i) p = __fadd_rn(__fmul_rn(p, t), kCoeff[i]);
  const int n = static_cast<int>(floor_x);
  const float scale = __uint_as_float(static_cast<uint32_t>(n + 127) << 23);
  return x_in < -126.0f ? 0.0f : __fmul_rn(p, scale);
}

// portable::expf: exp2f(x * log2e).
__device__ __forceinline__ float portable_expf(float x) { return portable_exp2f(__fmul_rn(x, kLog2eF)); }

// [channels, per_channel] f32 -> bf16.
__global__ void vae_denormalize_kernel(const float* __restrict__ x, const float* __restrict__ std,
                                       const float* __restrict__ mean, uint16_t* __restrict__ y,
                                       int64_t channels, int64_t per_channel) {
  WAN_GRID_STRIDE(i, channels * per_channel) {
    const int64_t c = i / per_channel;
    y[i] = f32_to_bf16_bits(__fadd_rn(__fmul_rn(x[i], std[c]), mean[c]));
  }
}

// cols [rows, k_padded]; one thread per column entry, consecutive threads along k.
__global__ void vae_im2col_kernel(VaeIm2colParams p) {
  const int64_t plane = p.height * p.width;
  const int64_t k_real = p.cin * p.kt * p.kh * p.kw;
  WAN_GRID_STRIDE(i, p.rows * p.k_padded) {
    const int64_t r = i / p.k_padded, k = i % p.k_padded;
    uint16_t v = 0;
    if (k < k_real) {
      const int64_t pix = p.p0 + r, t = pix / plane, yy = (pix % plane) / p.width, xx = pix % p.width;
      int64_t rest = k;
      const int dx = static_cast<int>(rest % p.kw);
      rest /= p.kw;
      const int dy = static_cast<int>(rest % p.kh);
      rest /= p.kh;
      const int dt = static_cast<int>(rest % p.kt);
      const int64_t ci = rest / p.kt;
      const int64_t sy = yy + dy - p.kh / 2, sx = xx + dx - p.kw / 2;
      if (sy >= 0 && sy < p.height && sx >= 0 && sx < p.width) {
        const uint16_t* src = nullptr;
        if (p.kt == 1) {
          src = p.x + (ci * p.frames + t) * plane;
        } else {
          const int64_t f = t + dt;  // frame of [history (2), x]
          if (f >= 2) src = p.x + (ci * p.frames + f - 2) * plane;
          else if (p.history) src = p.history + (ci * 2 + f) * plane;
        }
        if (src) v = src[sy * p.width + sx];
      }
    }
    p.cols[i] = v;
  }
}

// y [cout, pixels] from the panel acc [cout, rows] (ld rows_ld).
__global__ void vae_conv_epilogue_kernel(const float* __restrict__ acc, int64_t acc_ld, const float* __restrict__ bias,
                                         const uint16_t* __restrict__ residual, uint16_t* __restrict__ y,
                                         int64_t cout, int64_t rows, int64_t p0, int64_t pixels) {
  WAN_GRID_STRIDE(i, cout * rows) {
    const int64_t o = i / rows, r = i % rows, dst = o * pixels + p0 + r;
    float v = __fadd_rn(acc[o * acc_ld + r], bias[o]);
    if (residual) v = __fadd_rn(v, bf16_load(residual, dst));
    y[dst] = f32_to_bf16_bits(v);
  }
}

// One thread per pixel, channels in order (consecutive threads read consecutive pixels).
__global__ void vae_rms_norm_kernel(const uint16_t* __restrict__ x, const float* __restrict__ gamma,
                                    uint16_t* __restrict__ y, int64_t channels, int64_t pixels, float scale,
                                    bool silu) {
  WAN_GRID_STRIDE(p, pixels) {
    double ss = 0.0;
    for (int64_t c = 0; c < channels; ++c) {
      const double v = bf16_load(x, c * pixels + p);
      ss = __dadd_rn(ss, __dmul_rn(v, v));
    }
    const float root = __double2float_rn(__dsqrt_rn(ss));
    const float norm = root < 1e-12f ? 1e-12f : root;  // std::max(root, 1e-12f)
    for (int64_t c = 0; c < channels; ++c) {
      float v = __fmul_rn(__fmul_rn(__fdiv_rn(bf16_load(x, c * pixels + p), norm), scale), gamma[c]);
      if (silu) v = __fdiv_rn(v, __fadd_rn(1.0f, portable_expf(-v)));
      y[c * pixels + p] = f32_to_bf16_bits(v);
    }
  }
}

__global__ void vae_gather_frame_kernel(const uint16_t* __restrict__ qkv, uint16_t* __restrict__ dst,
                                        int64_t channels3, int64_t frames, int64_t frame, int64_t tokens,
                                        int64_t tokens_padded) {
  WAN_GRID_STRIDE(i, channels3 * tokens_padded) {
    const int64_t g = i / tokens_padded, j = i % tokens_padded;
    dst[i] = j < tokens ? qkv[(g * frames + frame) * tokens + j] : uint16_t{0};
  }
}

// Block-wide reductions with a fixed tree: warp shuffles, then warp 0 over the warp partials.
template <typename Op>
__device__ __forceinline__ float block_reduce(float x, float identity, float* scratch, Op op) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) x = op(x, __shfl_xor_sync(0xffffffffu, x, o));
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) scratch[warp] = x;
  __syncthreads();
  if (warp == 0) {
    float v = lane < kThreads / 32 ? scratch[lane] : identity;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
    if (lane == 0) scratch[kThreads / 32] = v;
  }
  __syncthreads();
  const float total = scratch[kThreads / 32];
  __syncthreads();
  return total;
}

struct MaxOp {
  __device__ float operator()(float a, float b) const { return a < b ? b : a; }
};
struct SumOp {
  __device__ float operator()(float a, float b) const { return __fadd_rn(a, b); }
};

// s, p: [tokens_padded, tokens_padded] (row i = query i); one block per row.
__global__ void __launch_bounds__(kThreads)
    vae_softmax_rows_kernel(const float* __restrict__ s, uint16_t* __restrict__ p, float* __restrict__ l,
                            int64_t tokens, int64_t tokens_padded, float scale_log2e) {
  __shared__ float scratch[kThreads / 32 + 1];
  const int64_t row = blockIdx.x;
  const float* sr = s + row * tokens_padded;
  uint16_t* pr = p + row * tokens_padded;
  if (row >= tokens) {
    for (int64_t j = threadIdx.x; j < tokens_padded; j += kThreads) pr[j] = 0;
    if (threadIdx.x == 0) l[row] = 1.0f;
    return;
  }
  float m = sr[0];
  for (int64_t j = threadIdx.x; j < tokens; j += kThreads) m = MaxOp()(m, sr[j]);
  m = block_reduce(m, sr[0], scratch, MaxOp());
  float sum = 0.0f;
  for (int64_t j = threadIdx.x; j < tokens_padded; j += kThreads) {
    if (j < tokens) {
      const float e = portable_exp2f(__fmul_rn(__fsub_rn(sr[j], m), scale_log2e));
      sum = __fadd_rn(sum, e);
      pr[j] = f32_to_bf16_bits(e);
    } else {
      pr[j] = 0;
    }
  }
  sum = block_reduce(sum, 0.0f, scratch, SumOp());
  if (threadIdx.x == 0) l[row] = sum;
}

__global__ void vae_attention_output_kernel(const float* __restrict__ o, const float* __restrict__ l,
                                            uint16_t* __restrict__ y, int64_t channels, int64_t frames,
                                            int64_t frame, int64_t tokens, int64_t tokens_padded) {
  WAN_GRID_STRIDE(i, channels * tokens) {
    const int64_t c = i / tokens, j = i % tokens;
    y[(c * frames + frame) * tokens + j] = f32_to_bf16_bits(__fmul_rn(o[c * tokens_padded + j], __fdiv_rn(1.0f, l[j])));
  }
}

__global__ void vae_upsample2x_kernel(const uint16_t* __restrict__ x, uint16_t* __restrict__ y, int64_t planes,
                                      int64_t height, int64_t width) {
  const int64_t w2 = 2 * width, plane2 = 4 * height * width;
  WAN_GRID_STRIDE(i, planes * plane2) {
    const int64_t pl = i / plane2, rem = i % plane2, yy = rem / w2, xx = rem % w2;
    y[i] = x[(pl * height + yy / 2) * width + xx / 2];
  }
}

// y [C, 2 frames, plane].
__global__ void vae_split_time_kernel(const uint16_t* __restrict__ x, uint16_t* __restrict__ y, int64_t channels,
                                      int64_t frames, int64_t plane) {
  WAN_GRID_STRIDE(i, channels * 2 * frames * plane) {
    const int64_t e = i % plane, f = (i / plane) % (2 * frames), c = i / (plane * 2 * frames);
    const int64_t t = f / 2, j = f % 2;
    y[i] = x[((j * channels + c) * frames + t) * plane + e];
  }
}

// y [C, 2, plane]: frames T, T+1 of the padded sequence [history (2), x (T)].
__global__ void vae_next_history_kernel(const uint16_t* __restrict__ history, const uint16_t* __restrict__ x,
                                        uint16_t* __restrict__ y, int64_t channels, int64_t frames, int64_t plane) {
  // blockIdx.y: channel; x covers the two frames' 2 * plane elements (no 64-bit division).
  const int64_t c = blockIdx.y;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < 2 * plane;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t j = i >= plane ? 1 : 0, e = i - j * plane, f = frames + j;
    uint16_t v = 0;
    if (f >= 2) v = x[(c * frames + f - 2) * plane + e];
    else if (history) v = history[(c * 2 + f) * plane + e];
    y[c * 2 * plane + i] = v;
  }
}

__global__ void vae_finish_kernel(const uint16_t* __restrict__ x, float* __restrict__ y, int64_t count, bool clamp) {
  WAN_GRID_STRIDE(i, count) {
    float v = bf16_load(x, i);
    if (clamp) {
      v = -1.0f < v ? v : -1.0f;  // std::max(-1.0f, v)
      v = v < 1.0f ? v : 1.0f;    // std::min(1.0f, v)
    }
    y[i] = v;
  }
}

#undef WAN_GRID_STRIDE

}  // namespace

void launch_vae_denormalize(const float* x, const float* std, const float* mean, uint16_t* y, int64_t channels,
                            int64_t per_channel, cudaStream_t stream) {
  if (channels * per_channel == 0) return;
  vae_denormalize_kernel<<<blocks_for(channels * per_channel), kThreads, 0, stream>>>(x, std, mean, y, channels,
                                                                                      per_channel);
  WAN_CUDA_CHECK_LAUNCH();
}

void launch_vae_im2col(const VaeIm2colParams& p, cudaStream_t stream) {
  if (p.rows * p.k_padded == 0) return;
  vae_im2col_kernel<<<blocks_for(p.rows * p.k_padded), kThreads, 0, stream>>>(p);
  WAN_CUDA_CHECK_LAUNCH();
}

void launch_vae_conv_epilogue(const float* acc, int64_t acc_ld, const float* bias, const uint16_t* residual,
                              uint16_t* y, int64_t cout, int64_t rows, int64_t p0, int64_t pixels,
                              cudaStream_t stream) {
  if (cout * rows == 0) return;
  vae_conv_epilogue_kernel<<<blocks_for(cout * rows), kThreads, 0, stream>>>(acc, acc_ld, bias, residual, y, cout,
                                                                             rows, p0, pixels);
  WAN_CUDA_CHECK_LAUNCH();
}

void launch_vae_rms_norm(const uint16_t* x, const float* gamma, uint16_t* y, int64_t channels, int64_t pixels,
                         float scale, bool silu, cudaStream_t stream) {
  if (pixels == 0) return;
  vae_rms_norm_kernel<<<blocks_for(pixels), kThreads, 0, stream>>>(x, gamma, y, channels, pixels, scale, silu);
  WAN_CUDA_CHECK_LAUNCH();
}

void launch_vae_gather_frame(const uint16_t* qkv, uint16_t* dst, int64_t channels3, int64_t frames, int64_t frame,
                             int64_t tokens, int64_t tokens_padded, cudaStream_t stream) {
  if (channels3 * tokens_padded == 0) return;
  vae_gather_frame_kernel<<<blocks_for(channels3 * tokens_padded), kThreads, 0, stream>>>(
      qkv, dst, channels3, frames, frame, tokens, tokens_padded);
  WAN_CUDA_CHECK_LAUNCH();
}

void launch_vae_softmax_rows(const float* s, uint16_t* p, float* l, int64_t tokens, int64_t tokens_padded,
                             float scale_log2e, cudaStream_t stream) {
  if (tokens_padded == 0) return;
  vae_softmax_rows_kernel<<<static_cast<unsigned>(tokens_padded), kThreads, 0, stream>>>(s, p, l, tokens,
                                                                                         tokens_padded, scale_log2e);
  WAN_CUDA_CHECK_LAUNCH();
}

void launch_vae_attention_output(const float* o, const float* l, uint16_t* y, int64_t channels, int64_t frames,
                                 int64_t frame, int64_t tokens, int64_t tokens_padded, cudaStream_t stream) {
  if (channels * tokens == 0) return;
  vae_attention_output_kernel<<<blocks_for(channels * tokens), kThreads, 0, stream>>>(o, l, y, channels, frames,
                                                                                      frame, tokens, tokens_padded);
  WAN_CUDA_CHECK_LAUNCH();
}

void launch_vae_upsample2x(const uint16_t* x, uint16_t* y, int64_t planes, int64_t height, int64_t width,
                           cudaStream_t stream) {
  if (planes * height * width == 0) return;
  vae_upsample2x_kernel<<<blocks_for(4 * planes * height * width), kThreads, 0, stream>>>(x, y, planes, height,
                                                                                          width);
  WAN_CUDA_CHECK_LAUNCH();
}

void launch_vae_split_time(const uint16_t* x, uint16_t* y, int64_t channels, int64_t frames, int64_t plane,
                           cudaStream_t stream) {
  if (channels * frames * plane == 0) return;
  vae_split_time_kernel<<<blocks_for(2 * channels * frames * plane), kThreads, 0, stream>>>(x, y, channels, frames,
                                                                                            plane);
  WAN_CUDA_CHECK_LAUNCH();
}

void launch_vae_next_history(const uint16_t* history, const uint16_t* x, uint16_t* y, int64_t channels,
                             int64_t frames, int64_t plane, cudaStream_t stream) {
  if (channels * plane == 0) return;
  const dim3 grid(static_cast<unsigned>(std::min<int64_t>((2 * plane + kThreads - 1) / kThreads, 4096)),
                  static_cast<unsigned>(channels));
  vae_next_history_kernel<<<grid, kThreads, 0, stream>>>(history, x, y, channels, frames, plane);
  WAN_CUDA_CHECK_LAUNCH();
}

void launch_vae_finish(const uint16_t* x, float* y, int64_t count, bool clamp, cudaStream_t stream) {
  if (count == 0) return;
  vae_finish_kernel<<<blocks_for(count), kThreads, 0, stream>>>(x, y, count, clamp);
  WAN_CUDA_CHECK_LAUNCH();
}

// ---- Channels-last staging for cuDNN (tiled transposes, 32 x 32 bf16 tiles) ----------------
namespace {
constexpr int kTile = 32, kTileRows = 8;
}  // namespace

// dst [pixels_total, C] from the channel-major source: pixel p < history_pixels comes from
// history [C, history_pixels] (zeros when null), the rest from x [C, pixels_total - history_pixels].
__global__ void vae_to_channels_last_kernel(const uint16_t* __restrict__ history, const uint16_t* __restrict__ x,
                                            uint16_t* __restrict__ dst, int channels, int history_pixels,
                                            int pixels_total) {
  __shared__ uint16_t tile[kTile][kTile + 1];
  const int p0 = blockIdx.x * kTile, c0 = blockIdx.y * kTile;
  const int x_pixels = pixels_total - history_pixels;
  for (int r = threadIdx.y; r < kTile; r += kTileRows) {
    const int c = c0 + r, p = p0 + threadIdx.x;
    uint16_t v = 0;
    if (c < channels && p < pixels_total) {
      if (p < history_pixels) {
        if (history) v = history[static_cast<int64_t>(c) * history_pixels + p];
      } else {
        v = x[static_cast<int64_t>(c) * x_pixels + (p - history_pixels)];
      }
    }
    tile[r][threadIdx.x] = v;
  }
  __syncthreads();
  for (int r = threadIdx.y; r < kTile; r += kTileRows) {
    const int p = p0 + r, c = c0 + threadIdx.x;
    if (p < pixels_total && c < channels) dst[static_cast<int64_t>(p) * channels + c] = tile[threadIdx.x][r];
  }
}

// y [C, pixels] = bf16(f32(src[p, c]) + bias[c] (+ f32(residual[c, p]))), src [pixels, C].
__global__ void vae_from_channels_last_kernel(const uint16_t* __restrict__ src, const float* __restrict__ bias,
                                              const uint16_t* __restrict__ residual, uint16_t* __restrict__ y,
                                              int channels, int pixels) {
  __shared__ uint16_t tile[kTile][kTile + 1];
  const int p0 = blockIdx.x * kTile, c0 = blockIdx.y * kTile;
  for (int r = threadIdx.y; r < kTile; r += kTileRows) {
    const int p = p0 + r, c = c0 + threadIdx.x;
    tile[r][threadIdx.x] = (p < pixels && c < channels) ? src[static_cast<int64_t>(p) * channels + c] : 0;
  }
  __syncthreads();
  for (int r = threadIdx.y; r < kTile; r += kTileRows) {
    const int c = c0 + r, p = p0 + threadIdx.x;
    if (c >= channels || p >= pixels) continue;
    const int64_t i = static_cast<int64_t>(c) * pixels + p;
    float v = __fadd_rn(bf16_bits_to_f32(tile[threadIdx.x][r]), bias[c]);
    if (residual) v = __fadd_rn(v, bf16_bits_to_f32(residual[i]));
    y[i] = f32_to_bf16_bits(v);
  }
}

void launch_vae_to_channels_last(const uint16_t* history, const uint16_t* x, uint16_t* dst, int64_t channels,
                                 int64_t history_pixels, int64_t pixels_total, cudaStream_t stream) {
  if (channels * pixels_total == 0) return;
  const dim3 grid(static_cast<unsigned>((pixels_total + kTile - 1) / kTile), static_cast<unsigned>((channels + kTile - 1) / kTile));
  vae_to_channels_last_kernel<<<grid, dim3(kTile, kTileRows), 0, stream>>>(
      history, x, dst, static_cast<int>(channels), static_cast<int>(history_pixels), static_cast<int>(pixels_total));
  WAN_CUDA_CHECK_LAUNCH();
}

void launch_vae_from_channels_last(const uint16_t* src, const float* bias, const uint16_t* residual, uint16_t* y,
                                   int64_t channels, int64_t pixels, cudaStream_t stream) {
  if (channels * pixels == 0) return;
  const dim3 grid(static_cast<unsigned>((pixels + kTile - 1) / kTile), static_cast<unsigned>((channels + kTile - 1) / kTile));
  vae_from_channels_last_kernel<<<grid, dim3(kTile, kTileRows), 0, stream>>>(
      src, bias, residual, y, static_cast<int>(channels), static_cast<int>(pixels));
  WAN_CUDA_CHECK_LAUNCH();
}

}  // namespace wan
