// Dense flash-attention forward for Hopper (sm_90a), the "plain" schedule: all 256 threads of
// two warpgroups load (cp.async) and compute, two CTA barriers per 128-key tile, 128 query rows
// per CTA, head_dim 128. Kept as the `dense:kernel=sm90_plain` option beside the default
// warp-specialised schedule of the block-sparse main loop (kernels/attention/block_sparse),
// whose per-tile steps it shares. Same numerics contract, not the same bits; bit-identical
// run to run. V is first transposed (workspace) by the main loop's transpose.
#pragma once

#include <cstddef>
#include <string>

#include <cuda_runtime_api.h>

#include "kernels/attention/flash/flash_attention_fwd.h"

namespace wan {

// Bytes of device workspace the launch needs (the transposed V).
size_t flash_attention_fwd_sm90_plain_workspace_bytes(const FlashAttentionParams& p);

// Empty if this kernel can run p on the current device, else the reason.
std::string flash_attention_fwd_sm90_plain_unsupported_reason(const FlashAttentionParams& p);

// Asynchronous on `stream`; `workspace` holds the bytes above.
void launch_flash_attention_fwd_sm90_plain(const FlashAttentionParams& p, void* workspace, cudaStream_t stream);

}  // namespace wan
