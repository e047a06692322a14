// Element-wise DiT kernels on the GPU: patchify / unpatchify, modulation vectors, SiLU, and
// the classifier-free-guidance combine fused with the scheduler step. Latents are f32,
// activations bf16; every rounding point matches the CPU reference (engine/model/wan_dit_cpu).
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

#include "kernels/sampler/flow_step.h"

namespace wan {

// latents f32 [channels, frames, height, width] -> patches bf16 [tokens, channels*4], token
// (t, h/2, w/2) raster order, patch value index c*4 + ph*2 + pw.
void launch_patchify(const float* latents, uint16_t* patches, int64_t channels, int64_t frames,
                     int64_t height, int64_t width, cudaStream_t stream);

// head output bf16 [tokens, 4*channels] (feature (ph*2 + pw)*channels + c) -> f32
// [channels, frames, height, width].
void launch_unpatchify(const uint16_t* head, float* out, int64_t channels, int64_t frames,
                       int64_t height, int64_t width, cudaStream_t stream);

// out[i] = float(a[i]) + float(b[i]) (f32, no rounding): the per-block modulation
// e = scale_shift_table + timestep_proj; a, b bf16 [count]. For validating the profiler, the
// environment variable WAN_DEBUG_KERNEL_DELAY_US=X makes each launch X us slower, and with
// WAN_DEBUG_KERNEL_DELAY_LAUNCH=K/N only launches K, K+N, K+2N, ... (one block's launch when N
// is the model's layer count). Documented debug flags for timing only (outputs unchanged);
// never set in normal runs.
void launch_add_bf16_to_f32(const uint16_t* a, const uint16_t* b, float* out, int64_t count,
                            cudaStream_t stream);

// out[i] = round_bf16(float(table[i]) + float(temb[i % dim])) as f32: the head's modulation.
void launch_head_modulation(const uint16_t* table, const uint16_t* temb, float* out, int64_t dim,
                            cudaStream_t stream);

// out[i] = bf16(x[i]): f32 [count] -> bf16 [count], round to nearest even.
void launch_f32_to_bf16(const float* x, uint16_t* out, int64_t count, cudaStream_t stream);

// x = bf16(silu(x)) in place on bf16 [count]; out may differ from x.
void launch_silu_bf16(const uint16_t* x, uint16_t* out, int64_t count, cudaStream_t stream);

// Token permutation: dst[i, :] = src[source_row[i], :] for bf16 rows [rows, cols] (cols % 8
// == 0); the tile-ordered attention backends' once-per-forward reorder and its inverse.
void launch_gather_rows_bf16(const uint16_t* src, uint16_t* dst, const int32_t* source_row, int64_t rows,
                             int64_t cols, cudaStream_t stream);

// pred = uncond + g * (cond - uncond) (f32, each op rounded; skipped when uncond is null),
// then one flow UniPC step on latents with its history (last, m1, m2), all f32 [count].
void launch_cfg_unipc_step(const float* cond, const float* uncond, float guidance,
                           const FlowUniPCCoefficients& coefficients, float* latents, float* last,
                           float* m1, float* m2, int64_t count, cudaStream_t stream);

// The same combine, then an Euler step x += dt * pred.
void launch_cfg_euler_step(const float* cond, const float* uncond, float guidance, float dt,
                           float* latents, int64_t count, cudaStream_t stream);

}  // namespace wan
