// Video mixture-of-block attention (VMoBA, ATTENTION.md "video_moba"; CPU reference
// kernels/cpu/attention_vmoba.h) on Hopper. Self-attention over a raster (t, h, w) token grid.
// Per call (one layer, so one chunking):
//  1. tokens gathered into chunk order (chunk after chunk, raster order inside a chunk; the
//     temporal chunking is raster order already and gathers nothing);
//  2. per (batch, head, chunk) the mean of k over the chunk (double sum in token order);
//  3. per (batch, head, query) the gates mean_c . q (double, d in order, then f32 and bf16
//     as the CPU reference rounds them), min-max normalised, and the threshold rule picking
//     the other chunks (descending, ties to the lower chunk): a row mask of chunks (its own
//     chunk included) -- bit-identical to the CPU reference's selection;
//  4. per 128-row query block the union of its rows' chunks as the kv list (ascending), and
//     the block-sparse main loop with per-row chunk masks: each row's softmax runs over exactly
//     its own chunk and its selected chunks (what FastVideo's LSE merge of the two branches
//     computes, up to rounding);
//  5. the output scattered back to raster order.
// No atomics, fixed orders: bit-identical run to run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <cuda_runtime_api.h>

#include "kernels/attention/flash/flash_attention_fwd.h"
#include "kernels/cpu/attention_vmoba.h"

namespace wan {

constexpr int kVmobaMaxChunks = 512;  // 16 mask words; the selection keeps 16 gates per lane
constexpr int kVmobaKeysPerBlock = 128;  // kv blocks: a chunk in blocks of <= 128 keys (128 x 128 tiling)
constexpr int kVmobaRowsPerBlock = 128;  // query rows per main-loop query block

// The chunk-order metadata of one chunking of a grid (host side, planned once per shape).
struct VmobaLayout {
  int64_t tokens = 0, chunks = 0;       // chunks = 0: the chunking does not divide the grid
  bool identity = true;                 // chunk order is raster order (temporal chunking)
  std::vector<int32_t> raster_of_pos;   // [tokens] raster token at chunk-order position
  std::vector<int32_t> chunk_of_pos;    // [tokens]
  std::vector<int32_t> chunk_start;     // [chunks + 1] positions
  std::vector<int32_t> kv_block_start;  // [kv_blocks + 1] positions; blocks never cross chunks
  std::vector<int32_t> kv_block_chunk;  // [kv_blocks]
  std::vector<int32_t> chunk_first_block;  // [chunks + 1]
  int64_t kv_blocks() const { return static_cast<int64_t>(kv_block_chunk.size()); }
};
// p's grid, layer (layer % 3 picks the chunking) and chunk sizes; tensors unused.
VmobaLayout vmoba_layout(const cpu::VmobaParams& p);

// The layout's tables on the device (in caller memory of vmoba_tables_bytes).
struct VmobaTables {
  const int32_t* raster_of_pos = nullptr;  // null: identity
  const int32_t* chunk_of_pos = nullptr;
  const int32_t* chunk_start = nullptr;
  const int32_t* kv_block_start = nullptr;
  const int32_t* kv_block_chunk = nullptr;
  const int32_t* chunk_first_block = nullptr;
  int chunks = 0, kv_blocks = 0;
};
size_t vmoba_tables_bytes(const VmobaLayout& layout);
// Copies the tables into `device` (synchronous: the host vectors may be temporary).
VmobaTables upload_vmoba_tables(const VmobaLayout& layout, void* device);

struct VmobaAttentionParams {
  FlashAttentionParams attn;  // q, k, v, out: [batch, tokens, heads, head_dim] bf16, raster order
  VmobaTables tables;
  double threshold = 0.25;
};

inline int vmoba_mask_words(int chunks) { return (chunks + 31) / 32; }

// Device workspace of a launch: chunk-ordered copies of q, k, v and out (not for the identity
// order), key means, row masks, kv lists and the main loop's transposed V.
size_t vmoba_attention_workspace_bytes(const VmobaAttentionParams& p);

// The row masks of the last launch inside `workspace`: [batch * heads, tokens (chunk-order
// positions), vmoba_mask_words] uint32; bit c: the row attends chunk c (its own included).
const uint32_t* vmoba_row_masks(const VmobaAttentionParams& p, const void* workspace);

// Empty if the kernels can run p on the current device, else the reason (real pointers and
// strides are checked).
std::string vmoba_attention_unsupported_reason(const VmobaAttentionParams& p);

// Kernel names for reports.
std::string vmoba_attention_kernels(const VmobaAttentionParams& p);

// Asynchronous on `stream`; allocates nothing.
void launch_vmoba_attention(const VmobaAttentionParams& p, void* workspace, cudaStream_t stream);

}  // namespace wan
