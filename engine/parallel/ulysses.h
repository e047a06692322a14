// Ulysses sequence parallelism (DeepSpeed-Ulysses, as FastVideo serves Wan2.1), the layout half:
// each of `world` ranks holds a contiguous shard of the token sequence (in the self-attention
// backend's token order) for every token-local op (norms, projections, RoPE at the shard's global
// positions, cross-attention, FFN, head); around self-attention one all-to-all trades a rank's token
// shard of every head for the whole sequence of its head shard, and a second one trades it back.
// This file is that arithmetic and a CPU simulation of the exchange (every rank in one process),
// used by the CPU DiT (WanDitCpu::set_sequence_parallel) and its test against the unsharded
// forward; the NCCL path (issue 17) exchanges the same contiguous chunks.
//
// Buffers (f32, per rank):
//   token shard  [shard_tokens, heads, head_dim]         tokens first_token(r) ..
//   head shard   [tokens, shard_heads, head_dim]         heads first_head(r) .. of every token
//   send / recv  [world][shard_tokens][shard_heads][head_dim]: chunk c of a send buffer goes to
//                rank c; chunk c of a receive buffer came from rank c (the all-to-all contract).
#pragma once

#include <cstdint>
#include <vector>

#include "engine/core/status.h"

namespace wan {

struct UlyssesLayout {
  int world = 1;
  int64_t tokens = 0, heads = 0, head_dim = 0;
  int64_t shard_tokens() const { return tokens / world; }
  int64_t shard_heads() const { return heads / world; }
  int64_t first_token(int rank) const { return rank * shard_tokens(); }
  int64_t first_head(int rank) const { return rank * shard_heads(); }
  // Elements one rank sends to each rank (and receives from each) in either exchange.
  int64_t chunk() const { return shard_tokens() * shard_heads() * head_dim; }
  int64_t buffer() const { return chunk() * world; }  // = a token shard = a head shard
};

// The layout, or INVALID_ARGUMENT naming what does not divide: world >= 1, heads and tokens
// multiples of world (no padding: the message lists the world sizes that divide both).
Result<UlyssesLayout> plan_ulysses(int world, int64_t tokens, int64_t heads, int64_t head_dim);

// Exchange 1, before attention: rank r's token shard -> its send buffer (chunk c: heads of rank c).
void pack_token_shard(const UlyssesLayout& l, const float* token_shard, float* send);
// ... and its receive buffer (chunk s: tokens of rank s, r's heads) -> its head shard.
void unpack_to_head_shard(const UlyssesLayout& l, const float* recv, float* head_shard);
// Exchange 2, after attention: rank r's head shard -> its send buffer (chunk c: tokens of rank c).
void pack_head_shard(const UlyssesLayout& l, const float* head_shard, float* send);
// ... and its receive buffer (chunk s: heads of rank s, r's tokens) -> its token shard.
void unpack_to_token_shard(const UlyssesLayout& l, const float* recv, float* token_shard);

// The all-to-all of l.world ranks simulated in one process: (*recv)[r] chunk s = send[s] chunk r.
// send: world buffers of l.buffer() elements; recv is resized to match.
void simulated_all_to_all(const UlyssesLayout& l, const std::vector<std::vector<float>>& send,
                          std::vector<std::vector<float>>* recv);

}  // namespace wan
