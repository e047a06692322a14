// Dense flash-attention forward for Hopper (sm_90a): wgmma tensor-core instructions with
// operands in 128-byte-swizzled shared memory, two warpgroups of 64 query rows per CTA,
// 128-key tiles, fp32 online softmax; P stays in registers as wgmma's A operand. head_dim 128.
// V is first transposed to [batch, heads, head_dim, tokens] (workspace), so both GEMMs read
// K-major operands. Same numerics contract as flash_attention_fwd.h; bit-identical run to run.
#pragma once

#include <cstddef>
#include <string>

#include <cuda_runtime_api.h>

#include "kernels/attention/flash/flash_attention_fwd.h"

namespace wan {

// Bytes of device workspace the launch needs (the transposed V).
size_t flash_attention_fwd_sm90_workspace_bytes(const FlashAttentionParams& p);

// Empty if this kernel can run p on the current device, else the reason.
std::string flash_attention_fwd_sm90_unsupported_reason(const FlashAttentionParams& p);

// kWarpSpecialized: a producer warpgroup feeds K/V^T through a two-stage mbarrier ring to two
// consumer warpgroups (no CTA barrier in the loop): 14.6 vs 15.5 ms (plain) at 12 heads x
// 32,760 tokens on an H200 (reports/2026-11-27-h100-engine). kPlain: all 256 threads load and
// compute, two CTA barriers per tile. kDefault: WAN_ATTENTION_SM90_SCHEDULE=plain|warp_specialized,
// else warp-specialised. Both give the same numerics contract (not the same bits).
enum class Sm90Schedule { kDefault, kWarpSpecialized, kPlain };

// Asynchronous on `stream`; `workspace` holds flash_attention_fwd_sm90_workspace_bytes(p).
void launch_flash_attention_fwd_sm90(const FlashAttentionParams& p, void* workspace, cudaStream_t stream,
                                     Sm90Schedule schedule = Sm90Schedule::kDefault);

}  // namespace wan
