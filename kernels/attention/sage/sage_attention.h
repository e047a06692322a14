// Sage (SageAttention2-style quantised attention, ATTENTION.md "sage") on Hopper (sm_90a): the
// kernel the CPU emulation kernels/cpu/attention_sage.h describes step by step. Per call:
//  1. column statistics of k and v per (batch, head, channel): the k mean (double partial sums
//     over fixed token chunks, summed in chunk order, then bf16) and the v absolute maximum;
//  2. INT8 q per 64-row block and 16-row chunk in 8 row groups ({16c + t, 16c + t + 8}: the rows
//     one thread of the wgmma accumulator holds), INT8 k' = bf16(k - mean) per 128-key block in 4
//     key groups (key % 8 in {2g, 2g + 1}: the columns one thread holds); scale = amax / 127 +
//     1e-7, x / scale rounded half away from zero;
//  3. V in FP8 e4m3 with per-channel scales (v * 448 / amax), transposed to [head_dim, keys] and
//     permuted inside each 32-key group so that the S accumulator's registers ARE the P operand's
//     k32 register fragment (no shuffles; SageAttention's transpose_pad_permute);
//  4. the attention: a producer warpgroup streams INT8 K and FP8 V^T blocks of 128 keys through
//     an mbarrier ring to two consumer warpgroups of 64 query rows; S = q8 k8^T on wgmma s8 (exact
//     int32), the softmax in the log2 domain with the offset that keeps P <= 448, P in e4m3 from
//     registers, each block's P V in its own fp32 accumulator (wgmma e4m3) added to O after the
//     rescale (SageAttention's "fp32 + fp32" PV accumulation: O = fma(O, alpha, block)),
//     out = bf16(O / l * v_scale).
// Error-bounded against dense attention by design; against the emulation it differs by the
// hardware's ex2.approx, the order of the row sums and the fused O update (the emulation rounds
// O * alpha first). No atomics, fixed orders: bit-identical
// run to run. head_dim 64 or 128; q and kv token counts may differ (k statistics over kv).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <cuda_runtime_api.h>

#include "kernels/attention/flash/flash_attention_fwd.h"

namespace wan {

constexpr int kSageRowsPerBlock = 128;  // query rows per CTA (two 64-row consumer warpgroups)
constexpr int kSageKeysPerBlock = 128;  // keys per kv block (the emulation's 128-key blocks)

// Device workspace of a launch (quantised q, k, V^T, their scales, the column statistics).
size_t sage_attention_workspace_bytes(const FlashAttentionParams& p);

// Empty if the kernels can run p on the current device, else the reason (shape, strides,
// alignment, device).
std::string sage_attention_unsupported_reason(const FlashAttentionParams& p);

// Kernel names of a launch, for reports.
std::string sage_attention_kernels(const FlashAttentionParams& p);

// Asynchronous on `stream`: statistics, quantisation, attention. p.q, p.k, p.v, p.out: bf16
// [batch, tokens, heads, head_dim] with token and batch strides; out must not overlap q, k, v.
// Allocates nothing.
void launch_sage_attention(const FlashAttentionParams& p, void* workspace, cudaStream_t stream);

// The two phases of launch_sage_attention, in order, for benchmarks that time them apart:
// statistics and quantisation into the workspace, then the attention kernel reading it.
// Schedules of the two consumer warpgroups (same arithmetic, bit-identical outputs; the tests
// check it): each issues its GEMMs when ready, or they take turns (FA3's ping-pong).
enum class SageSchedule { kFree, kPingPong };
constexpr SageSchedule kSageDefaultSchedule = SageSchedule::kFree;
void launch_sage_quantize(const FlashAttentionParams& p, void* workspace, cudaStream_t stream);
void launch_sage_attention_kernel(const FlashAttentionParams& p, const void* workspace, cudaStream_t stream,
                                  SageSchedule schedule = kSageDefaultSchedule);

}  // namespace wan
