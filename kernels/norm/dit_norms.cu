#include "kernels/norm/dit_norms.h"

#include <type_traits>

#include "kernels/common/cuda_check.h"
#include "kernels/common/float16.h"

namespace wan {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxVecPerThread = 4;  // 256 threads x 4 x 8 = 8192 values per row

struct Vec8 {
  float v[8];
};

__device__ __forceinline__ Vec8 load8(const uint16_t* p) {
  const uint4 raw = *reinterpret_cast<const uint4*>(p);
  const uint32_t words[4] = {raw.x, raw.y, raw.z, raw.w};
  Vec8 out;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    out.v[2 * i] = bf16_bits_to_f32(static_cast<uint16_t>(words[i] & 0xffffu));
    out.v[2 * i + 1] = bf16_bits_to_f32(static_cast<uint16_t>(words[i] >> 16));
  }
  return out;
}

__device__ __forceinline__ void store8(uint16_t* p, const Vec8& x) {
  uint32_t words[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    words[i] = static_cast<uint32_t>(f32_to_bf16_bits(x.v[2 * i])) |
               (static_cast<uint32_t>(f32_to_bf16_bits(x.v[2 * i + 1])) << 16);
  }
  *reinterpret_cast<uint4*>(p) = make_uint4(words[0], words[1], words[2], words[3]);
}

// Eight f32 values at p (a column vector: shift, scale, gate): two 16-byte loads where p is
// 16-byte aligned (8 scalar loads made one warp request per value, spanning 8 cache lines each:
// at dim 1536 the L1 wavefronts of LN + modulate's shift and scale took most of its time).
__device__ __forceinline__ Vec8 load8f(const float* __restrict__ p) {
  Vec8 out;
  if ((reinterpret_cast<uintptr_t>(p) & 15u) == 0) {
    const float4 lo = *reinterpret_cast<const float4*>(p), hi = *reinterpret_cast<const float4*>(p + 4);
    out.v[0] = lo.x, out.v[1] = lo.y, out.v[2] = lo.z, out.v[3] = lo.w;
    out.v[4] = hi.x, out.v[5] = hi.y, out.v[6] = hi.z, out.v[7] = hi.w;
  } else {
#pragma unroll
    for (int j = 0; j < 8; ++j) out.v[j] = p[j];
  }
  return out;
}

// Block-wide sum with a fixed tree (warp shuffles, then warp 0 over the partials).
__device__ __forceinline__ float block_sum(float x, float* scratch) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) scratch[warp] = x;
  __syncthreads();
  float total = 0.0f;
  if (warp == 0) {
    total = lane < kThreads / 32 ? scratch[lane] : 0.0f;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) total += __shfl_xor_sync(0xffffffffu, total, o);
    if (lane == 0) scratch[kThreads / 32] = total;
  }
  __syncthreads();
  total = scratch[kThreads / 32];
  __syncthreads();
  return total;
}

// How a row maps to threads: two layouts with the same bits.
//
// BlockRow<kVecs>: one row per 256-thread block. Thread t holds the row's 8-value vectors
// t + i * 256 (slots i < kVecs, kVecs = ceil(dim / 8 / 256) in 1..4) and one running sum over
// its slots; the row's sum is block_sum's tree (each warp's xor butterfly, then warp 0's over
// the 8 partials). Loops over slots are unrolled to kVecs with a guard, so the slots live in
// registers (a loop to a run-time count put them in local memory).
//
// WarpRow<kSlots>: one row per warp, 4 rows per 128-thread block, for dim <= 2048 (where BlockRow has one
// slot). Lane l holds the vectors l + 32 * w (slots w < kSlots), which are exactly the vectors
// of BlockRow<1>'s threads l + 32 * w, and keeps each slot's sum apart (that thread's sum).
// reduce() repeats block_sum's tree: each slot's sum over the 32 lanes by the same butterfly
// (= BlockRow warp w's partial), then warp 0's butterfly over the 8 partials (lanes 8..31
// holding zero) replayed in registers as lane 0 ends it. Same additions in the same order, so
// the same bits (tested against BlockRow), without a barrier or shared memory, and with a
// row's loads all in flight at once (BlockRow has 192 threads of 256 busy at dim 1536, one
// 16-byte load each, three barriers per reduction).
// Vector slots of this thread: columns (threadIdx.x + i * kThreads) * 8.
__device__ __forceinline__ int vec_count(int64_t dim) {
  const int total = static_cast<int>(dim / 8);
  return (total - static_cast<int>(threadIdx.x) + kThreads - 1) / kThreads;
}

template <int kVecs>
struct BlockRow {
  static constexpr int kSlots = kVecs;
  static constexpr int kSums = 1;
  static constexpr int kBlockThreads = kThreads;
  static constexpr int kMinBlocksPerSm = 1;
  static constexpr bool kPrefetchRope = true;  // registers to spare: the RoPE reads overlap the reductions
  int64_t row;
  int nvec;
  __device__ BlockRow(int64_t /*rows*/, int64_t dim) : row(blockIdx.x), nvec(vec_count(dim)) {}
  __device__ bool live() const { return true; }
  __device__ bool has(int i) const { return i < nvec; }
  __device__ int column(int i) const { return (static_cast<int>(threadIdx.x) + i * kThreads) * 8; }
  static __device__ int sum_of(int /*slot*/) { return 0; }
  __device__ float reduce(const float (&sums)[kSums], float* scratch) const { return block_sum(sums[0], scratch); }
};

template <int kSlotsPerLane>
struct WarpRow {
  static constexpr int kSlots = kSlotsPerLane;
  static constexpr int kSums = kSlotsPerLane;
  static constexpr int kRowsPerBlock = 4;
  static constexpr int kBlockThreads = 32 * kRowsPerBlock;
  // At most 170 registers (255 at 8 slots): q and k of a pair at 6 slots hold 96 values (128 spilled).
  static constexpr int kMinBlocksPerSm = kSlotsPerLane <= 6 ? 3 : 2;
  static constexpr bool kPrefetchRope = false;  // read after the reductions: fewer live registers
  int64_t row, rows;
  int lane, vectors;
  __device__ WarpRow(int64_t rows_, int64_t dim)
      : row(static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32), rows(rows_),
        lane(static_cast<int>(threadIdx.x % 32)), vectors(static_cast<int>(dim / 8)) {}
  __device__ bool live() const { return row < rows; }
  __device__ bool has(int i) const { return lane + 32 * i < vectors; }
  __device__ int column(int i) const { return (lane + 32 * i) * 8; }
  static __device__ int sum_of(int slot) { return slot; }
  __device__ float reduce(const float (&sums)[kSums], float* /*scratch*/) const {
    float partial[kThreads / 32];
#pragma unroll
    for (int w = 0; w < kThreads / 32; ++w) {
      float x = 0.0f;  // BlockRow's warps past the row's vectors sum zeros to +0
      if (w < kSlots) {
        x = sums[w < kSlots ? w : 0];
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
      }
      partial[w] = x;
    }
    // block_sum's warp 0: lane i < 8 holds partial[i], the rest 0; lane 0's butterfly.
    float v[8];
#pragma unroll
    for (int i = 0; i < 8; ++i) v[i] = __fadd_rn(__fadd_rn(partial[i], 0.0f), 0.0f);  // offsets 16, 8
    const float x0 = __fadd_rn(v[0], v[4]), x1 = __fadd_rn(v[1], v[5]), x2 = __fadd_rn(v[2], v[6]),
                x3 = __fadd_rn(v[3], v[7]);                                          // offset 4
    return __fadd_rn(__fadd_rn(x0, x2), __fadd_rn(x1, x3));                         // offsets 2, 1
  }
};
static_assert(kThreads / 32 == 8, "WarpRow replays block_sum's 8-partial tree");

// Mean and 1/sqrt(var + eps) of a row (vals: this thread's slots).
template <typename L>
__device__ __forceinline__ void row_stats(const L& at, const Vec8 (&vals)[L::kSlots], int64_t dim, float eps,
                                          float* scratch, float* mean, float* rstd) {
  float s[L::kSums];
#pragma unroll
  for (int k = 0; k < L::kSums; ++k) s[k] = 0.0f;
#pragma unroll
  for (int i = 0; i < L::kSlots; ++i)
    if (at.has(i))
#pragma unroll
      for (int j = 0; j < 8; ++j) s[L::sum_of(i)] += vals[i].v[j];
  const float m = at.reduce(s, scratch) / static_cast<float>(dim);
  float q[L::kSums];
#pragma unroll
  for (int k = 0; k < L::kSums; ++k) q[k] = 0.0f;
#pragma unroll
  for (int i = 0; i < L::kSlots; ++i)
    if (at.has(i))
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        const float d = vals[i].v[j] - m;
        q[L::sum_of(i)] += d * d;
      }
  const float var = at.reduce(q, scratch) / static_cast<float>(dim);
  *mean = m;
  *rstd = rsqrtf(var + eps);
}

// grid: rows (BlockRow) or ceil(rows / 4) (WarpRow); block: L::kBlockThreads. x, out: [rows, dim] bf16.
template <typename L>
__global__ void __launch_bounds__(L::kBlockThreads, L::kMinBlocksPerSm)
    layer_norm_modulate_kernel(const uint16_t* __restrict__ x, const float* __restrict__ shift,
                               const float* __restrict__ scale, uint16_t* __restrict__ out, int64_t rows,
                               int64_t dim, float eps) {
  __shared__ float scratch[kThreads / 32 + 1];
  const L at(rows, dim);
  if (!at.live()) return;  // WarpRow's warps past the last row; no barrier follows in that layout
  Vec8 vals[L::kSlots];
#pragma unroll
  for (int i = 0; i < L::kSlots; ++i)
    if (at.has(i)) vals[i] = load8(x + at.row * dim + at.column(i));
  float mean, rstd;
  row_stats(at, vals, dim, eps, scratch, &mean, &rstd);
#pragma unroll
  for (int i = 0; i < L::kSlots; ++i) {
    if (!at.has(i)) break;
    const int c0 = at.column(i);
    const Vec8 sc = load8f(scale + c0), sh = load8f(shift + c0);
    Vec8 y;
#pragma unroll
    for (int j = 0; j < 8; ++j) y.v[j] = (vals[i].v[j] - mean) * rstd * (1.0f + sc.v[j]) + sh.v[j];
    store8(out + at.row * dim + c0, y);
  }
}

template <typename L>
__global__ void __launch_bounds__(L::kBlockThreads, L::kMinBlocksPerSm)
    gated_residual_layer_norm_kernel(const uint16_t* __restrict__ x, const uint16_t* __restrict__ attn,
                                     const float* __restrict__ gate, const uint16_t* __restrict__ weight,
                                     const uint16_t* __restrict__ bias, uint16_t* __restrict__ h_out,
                                     uint16_t* __restrict__ n_out, int64_t rows, int64_t dim, float eps) {
  __shared__ float scratch[kThreads / 32 + 1];
  const L at(rows, dim);
  if (!at.live()) return;
  Vec8 h[L::kSlots];
#pragma unroll
  for (int i = 0; i < L::kSlots; ++i) {
    if (!at.has(i)) break;
    const int c0 = at.column(i);
    const Vec8 xv = load8(x + at.row * dim + c0), av = load8(attn + at.row * dim + c0), g = load8f(gate + c0);
#pragma unroll
    for (int j = 0; j < 8; ++j) h[i].v[j] = xv.v[j] + av.v[j] * g.v[j];
    store8(h_out + at.row * dim + c0, h[i]);
  }
  float mean, rstd;
  row_stats(at, h, dim, eps, scratch, &mean, &rstd);
#pragma unroll
  for (int i = 0; i < L::kSlots; ++i) {
    if (!at.has(i)) break;
    const int c0 = at.column(i);
    const Vec8 w = load8(weight + c0), b = load8(bias + c0);
    Vec8 y;
#pragma unroll
    for (int j = 0; j < 8; ++j) y.v[j] = (h[i].v[j] - mean) * rstd * w.v[j] + b.v[j];
    store8(n_out + at.row * dim + c0, y);
  }
}

template <typename L>
__global__ void __launch_bounds__(L::kBlockThreads, L::kMinBlocksPerSm)
    residual_add_layer_norm_modulate_kernel(uint16_t* __restrict__ h, const uint16_t* __restrict__ add,
                                            const float* __restrict__ shift, const float* __restrict__ scale,
                                            uint16_t* __restrict__ out, int64_t rows, int64_t dim, float eps) {
  __shared__ float scratch[kThreads / 32 + 1];
  const L at(rows, dim);
  if (!at.live()) return;
  Vec8 vals[L::kSlots];
#pragma unroll
  for (int i = 0; i < L::kSlots; ++i) {
    if (!at.has(i)) break;
    const int c0 = at.column(i);
    const Vec8 hv = load8(h + at.row * dim + c0), av = load8(add + at.row * dim + c0);
#pragma unroll
    for (int j = 0; j < 8; ++j) vals[i].v[j] = round_to_bf16(hv.v[j] + av.v[j]);
    store8(h + at.row * dim + c0, vals[i]);
  }
  float mean, rstd;
  row_stats(at, vals, dim, eps, scratch, &mean, &rstd);
#pragma unroll
  for (int i = 0; i < L::kSlots; ++i) {
    if (!at.has(i)) break;
    const int c0 = at.column(i);
    const Vec8 sc = load8f(scale + c0), sh = load8f(shift + c0);
    Vec8 y;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const float n = round_to_bf16((vals[i].v[j] - mean) * rstd);
      y.v[j] = n * (1.0f + sc.v[j]) + sh.v[j];
    }
    store8(out + at.row * dim + c0, y);
  }
}

// grid-stride over rows * dim / 8 vectors.
__global__ void gated_residual_kernel(const uint16_t* __restrict__ h, const uint16_t* __restrict__ f,
                                      const float* __restrict__ gate, uint16_t* __restrict__ x_out,
                                      int64_t vectors, int64_t dim) {
  for (int64_t v = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; v < vectors;
       v += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t c0 = (v * 8) % dim;
    const Vec8 hv = load8(h + v * 8), fv = load8(f + v * 8), g = load8f(gate + c0);
    Vec8 y;
#pragma unroll
    for (int j = 0; j < 8; ++j) y.v[j] = hv.v[j] + fv.v[j] * g.v[j];
    store8(x_out + v * 8, y);
  }
}

// One row of x (and, for the pair launch, the same row of y: q and k of one fused QKV row in
// one block or warp, sharing the row's RoPE table reads). Each tensor's sum of squares goes
// through the layout's reduction exactly as a launch of that tensor alone sums it, so the pair
// gives the same bits as two single launches (tested).
template <typename L, bool kPair>
__global__ void __launch_bounds__(L::kBlockThreads, L::kMinBlocksPerSm)
    qk_norm_rope_kernel(uint16_t* __restrict__ x, uint16_t* __restrict__ y, int64_t ld,
                        const uint16_t* __restrict__ x_weight, const uint16_t* __restrict__ y_weight,
                        const float* __restrict__ cos_table, const float* __restrict__ sin_table, int64_t rows,
                        int64_t dim, int64_t head_dim, float eps) {
  constexpr int kTensors = kPair ? 2 : 1;
  __shared__ float scratch[kThreads / 32 + 1];
  const L at(rows, dim);
  if (!at.live()) return;
  uint16_t* const row_of[2] = {x + at.row * ld, kPair ? y + at.row * ld : nullptr};
  const uint16_t* const weights[2] = {x_weight, y_weight};
  Vec8 vals[kTensors][L::kSlots];
  float sq[kTensors][L::kSums];
#pragma unroll
  for (int t = 0; t < kTensors; ++t) {
#pragma unroll
    for (int k = 0; k < L::kSums; ++k) sq[t][k] = 0.0f;
#pragma unroll
    for (int i = 0; i < L::kSlots; ++i) {
      if (!at.has(i)) break;
      vals[t][i] = load8(row_of[t] + at.column(i));
#pragma unroll
      for (int j = 0; j < 8; ++j) sq[t][L::sum_of(i)] += vals[t][i].v[j] * vals[t][i].v[j];
    }
  }
  // The row's RoPE values for this thread's columns c0 .. c0 + 7: pairs (c0 % head_dim) / 2 ..
  // + 3, one 16-byte load of each table where head_dim % 8 == 0 and the row is 16-byte aligned
  // (32-bit index arithmetic: the 64-bit modulo per value was a long emulated sequence).
  const int hd = static_cast<int>(head_dim), pairs = hd / 2;
  const float* const cos_row = cos_table ? cos_table + at.row * pairs : nullptr;
  const float* const sin_row = cos_table ? sin_table + at.row * pairs : nullptr;
  const bool vec4 =
      hd % 8 == 0 && ((reinterpret_cast<uintptr_t>(cos_row) | reinterpret_cast<uintptr_t>(sin_row)) & 15u) == 0;
  const auto read_rope = [&](int c0, float (&c)[4], float (&s)[4]) {
    if (vec4) {
      const int pair0 = (c0 % hd) / 2;
      const float4 cv = *reinterpret_cast<const float4*>(cos_row + pair0);
      const float4 sv = *reinterpret_cast<const float4*>(sin_row + pair0);
      c[0] = cv.x, c[1] = cv.y, c[2] = cv.z, c[3] = cv.w;
      s[0] = sv.x, s[1] = sv.y, s[2] = sv.z, s[3] = sv.w;
    } else {
#pragma unroll
      for (int p = 0; p < 4; ++p) {
        const int pair = ((c0 + 2 * p) % hd) / 2;
        c[p] = cos_row[pair];
        s[p] = sin_row[pair];
      }
    }
  };
  // BlockRow reads every slot's values before the reductions (their latency overlaps them);
  // WarpRow reads a slot's just before its use, for q and k together (fewer live registers).
  constexpr int kEarly = L::kPrefetchRope ? L::kSlots : 1;
  float early_cos[kEarly][4], early_sin[kEarly][4];
  if (L::kPrefetchRope && cos_table) {
#pragma unroll
    for (int i = 0; i < kEarly; ++i) {
      if (!at.has(i)) break;
      read_rope(at.column(i), early_cos[i], early_sin[i]);
    }
  }
  float rstd[kTensors];
#pragma unroll
  for (int t = 0; t < kTensors; ++t) rstd[t] = rsqrtf(at.reduce(sq[t], scratch) / static_cast<float>(dim) + eps);
#pragma unroll
  for (int i = 0; i < L::kSlots; ++i) {
    if (!at.has(i)) break;
    const int c0 = at.column(i);
    float rope_cos[4], rope_sin[4];
    if (cos_table) {
      if (L::kPrefetchRope) {
#pragma unroll
        for (int p = 0; p < 4; ++p) rope_cos[p] = early_cos[i < kEarly ? i : 0][p], rope_sin[p] = early_sin[i < kEarly ? i : 0][p];
      } else {
        read_rope(c0, rope_cos, rope_sin);
      }
    }
#pragma unroll
    for (int t = 0; t < kTensors; ++t) {
      const Vec8 w = load8(weights[t] + c0);
      Vec8 out;
#pragma unroll
      for (int j = 0; j < 8; ++j) out.v[j] = round_to_bf16(round_to_bf16(vals[t][i].v[j] * rstd[t]) * w.v[j]);
      if (cos_table) {
#pragma unroll
        for (int j = 0; j < 8; j += 2) {
          const float c = rope_cos[j / 2], s = rope_sin[j / 2];
          const float x0 = out.v[j], x1 = out.v[j + 1];
          out.v[j] = __fsub_rn(__fmul_rn(x0, c), __fmul_rn(x1, s));
          out.v[j + 1] = __fadd_rn(__fmul_rn(x0, s), __fmul_rn(x1, c));
        }
      }
      store8(row_of[t] + c0, out);
    }
  }
}

int row_grid_check(int64_t rows, int64_t dim) {
  if (dim % 8 != 0 || dim > kThreads * kMaxVecPerThread * 8 || rows > 2147483647) {
    fprintf(stderr, "dit_norms: unsupported shape rows=%lld dim=%lld (dim %% 8 == 0, dim <= 8192)\n",
            static_cast<long long>(rows), static_cast<long long>(dim));
    std::abort();
  }
  return static_cast<int>(rows);
}

NormRowLayout g_row_layout = NormRowLayout::kAuto;

template <typename L>
struct Layout {
  using type = L;
};

// Calls launch(layout, grid) with the row layout for dim (dim checked by row_grid_check first):
// WarpRow<2|4|6|8> (the lane's slots, ceil(dim / 256) rounded up to even; the extra slot is
// guarded) for dim <= 2048 unless kBlockPerRow is set, else BlockRow<1..4>.
template <typename Launch>
void by_row_layout(int64_t rows, int64_t dim, Launch&& launch) {
  const int vectors = static_cast<int>(dim / 8);
  const int block_slots = (vectors + kThreads - 1) / kThreads;
  if (block_slots <= 1 && g_row_layout == NormRowLayout::kAuto) {
    const int grid = static_cast<int>((rows + 3) / 4);  // WarpRow<>::kRowsPerBlock
    switch ((vectors + 63) / 64) {
      case 0:
      case 1: launch(Layout<WarpRow<2>>(), grid); break;
      case 2: launch(Layout<WarpRow<4>>(), grid); break;
      case 3: launch(Layout<WarpRow<6>>(), grid); break;
      default: launch(Layout<WarpRow<8>>(), grid); break;
    }
    return;
  }
  const int grid = static_cast<int>(rows);
  switch (block_slots) {
    case 0:
    case 1: launch(Layout<BlockRow<1>>(), grid); break;
    case 2: launch(Layout<BlockRow<2>>(), grid); break;
    case 3: launch(Layout<BlockRow<3>>(), grid); break;
    default: launch(Layout<BlockRow<kMaxVecPerThread>>(), grid); break;
  }
}

}  // namespace

NormRowLayout set_norm_row_layout(NormRowLayout layout) {
  const NormRowLayout previous = g_row_layout;
  g_row_layout = layout;
  return previous;
}

void launch_layer_norm_modulate(const uint16_t* x, const float* shift, const float* scale, uint16_t* out,
                                int64_t rows, int64_t dim, float eps, cudaStream_t stream) {
  row_grid_check(rows, dim);
  by_row_layout(rows, dim, [&](auto layout, int grid) {
    layer_norm_modulate_kernel<typename decltype(layout)::type>
        <<<grid, decltype(layout)::type::kBlockThreads, 0, stream>>>(x, shift, scale, out, rows, dim, eps);
  });
  WAN_CUDA_CHECK_LAUNCH();
}

void launch_gated_residual_layer_norm(const uint16_t* x, const uint16_t* attn, const float* gate,
                                      const uint16_t* weight, const uint16_t* bias, uint16_t* h_out,
                                      uint16_t* n_out, int64_t rows, int64_t dim, float eps, cudaStream_t stream) {
  row_grid_check(rows, dim);
  by_row_layout(rows, dim, [&](auto layout, int grid) {
    gated_residual_layer_norm_kernel<typename decltype(layout)::type>
        <<<grid, decltype(layout)::type::kBlockThreads, 0, stream>>>(x, attn, gate, weight, bias, h_out, n_out, rows, dim, eps);
  });
  WAN_CUDA_CHECK_LAUNCH();
}

void launch_residual_add_layer_norm_modulate(uint16_t* h, const uint16_t* add, const float* shift,
                                             const float* scale, uint16_t* out, int64_t rows, int64_t dim,
                                             float eps, cudaStream_t stream) {
  row_grid_check(rows, dim);
  by_row_layout(rows, dim, [&](auto layout, int grid) {
    residual_add_layer_norm_modulate_kernel<typename decltype(layout)::type>
        <<<grid, decltype(layout)::type::kBlockThreads, 0, stream>>>(h, add, shift, scale, out, rows, dim, eps);
  });
  WAN_CUDA_CHECK_LAUNCH();
}

void launch_gated_residual(const uint16_t* h, const uint16_t* f, const float* gate, uint16_t* x_out, int64_t rows,
                           int64_t dim, cudaStream_t stream) {
  row_grid_check(rows, dim);
  const int64_t vectors = rows * dim / 8;
  const int blocks = static_cast<int>(std::min<int64_t>((vectors + 255) / 256, 4096));
  gated_residual_kernel<<<blocks, 256, 0, stream>>>(h, f, gate, x_out, vectors, dim);
  WAN_CUDA_CHECK_LAUNCH();
}

void launch_qk_norm_rope(uint16_t* x, int64_t ld, const uint16_t* weight, const float* cos, const float* sin,
                         int64_t rows, int64_t dim, int64_t head_dim, float eps, cudaStream_t stream) {
  row_grid_check(rows, dim);
  by_row_layout(rows, dim, [&](auto layout, int grid) {
    qk_norm_rope_kernel<typename decltype(layout)::type, false>
        <<<grid, decltype(layout)::type::kBlockThreads, 0, stream>>>(x, nullptr, ld, weight, nullptr, cos, sin, rows, dim, head_dim, eps);
  });
  WAN_CUDA_CHECK_LAUNCH();
}

void launch_qk_norm_rope_pair(uint16_t* q, uint16_t* k, int64_t ld, const uint16_t* q_weight,
                              const uint16_t* k_weight, const float* cos, const float* sin, int64_t rows,
                              int64_t dim, int64_t head_dim, float eps, cudaStream_t stream) {
  row_grid_check(rows, dim);
  by_row_layout(rows, dim, [&](auto layout, int grid) {
    qk_norm_rope_kernel<typename decltype(layout)::type, true>
        <<<grid, decltype(layout)::type::kBlockThreads, 0, stream>>>(q, k, ld, q_weight, k_weight, cos, sin, rows, dim, head_dim, eps);
  });
  WAN_CUDA_CHECK_LAUNCH();
}

}  // namespace wan
