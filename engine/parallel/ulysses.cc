#include "engine/parallel/ulysses.h"

#include <algorithm>
#include <string>

namespace wan {

Result<UlyssesLayout> plan_ulysses(int world, int64_t tokens, int64_t heads, int64_t head_dim) {
  if (world < 1) return invalid_argument("sequence parallel world size must be >= 1, got " + std::to_string(world));
  if (tokens < 1 || heads < 1 || head_dim < 1)
    return invalid_argument("sequence parallelism needs positive tokens, heads and head_dim, got " +
                            std::to_string(tokens) + ", " + std::to_string(heads) + ", " + std::to_string(head_dim));
  if (heads % world || tokens % world) {
    std::string works;
    for (int w = 1; w <= heads; ++w)
      if (heads % w == 0 && tokens % w == 0) works += (works.empty() ? "" : ", ") + std::to_string(w);
    return invalid_argument("Ulysses sequence parallelism over " + std::to_string(world) + " ranks needs the " +
                            std::to_string(heads) + " heads and the " + std::to_string(tokens) +
                            " tokens to be multiples of " + std::to_string(world) + "; world sizes that divide both: " +
                            works);
  }
  UlyssesLayout l;
  l.world = world;
  l.tokens = tokens;
  l.heads = heads;
  l.head_dim = head_dim;
  return l;
}

namespace {
// Copies `rows` rows of `n` contiguous floats from src (row stride src_stride) to dst (dst_stride).
void copy_rows(const float* src, int64_t src_stride, float* dst, int64_t dst_stride, int64_t rows, int64_t n) {
  for (int64_t i = 0; i < rows; ++i) std::copy_n(src + i * src_stride, n, dst + i * dst_stride);
}
}  // namespace

// In every exchange a chunk is [shard_tokens][shard_heads][head_dim]; one token's row of a
// chunk (shard_heads * head_dim floats) is contiguous both in a token shard (heads c's slice of
// the token's [heads, head_dim] row) and in a head shard (the token's whole row).
void pack_token_shard(const UlyssesLayout& l, const float* token_shard, float* send) {
  const int64_t piece = l.shard_heads() * l.head_dim, row = l.heads * l.head_dim;
  for (int c = 0; c < l.world; ++c)
    copy_rows(token_shard + l.first_head(c) * l.head_dim, row, send + c * l.chunk(), piece, l.shard_tokens(), piece);
}

void unpack_to_head_shard(const UlyssesLayout& l, const float* recv, float* head_shard) {
  const int64_t piece = l.shard_heads() * l.head_dim;
  for (int s = 0; s < l.world; ++s)
    copy_rows(recv + s * l.chunk(), piece, head_shard + l.first_token(s) * piece, piece, l.shard_tokens(), piece);
}

void pack_head_shard(const UlyssesLayout& l, const float* head_shard, float* send) {
  const int64_t piece = l.shard_heads() * l.head_dim;
  for (int c = 0; c < l.world; ++c)
    copy_rows(head_shard + l.first_token(c) * piece, piece, send + c * l.chunk(), piece, l.shard_tokens(), piece);
}

void unpack_to_token_shard(const UlyssesLayout& l, const float* recv, float* token_shard) {
  const int64_t piece = l.shard_heads() * l.head_dim, row = l.heads * l.head_dim;
  for (int s = 0; s < l.world; ++s)
    copy_rows(recv + s * l.chunk(), piece, token_shard + l.first_head(s) * l.head_dim, row, l.shard_tokens(), piece);
}

void simulated_all_to_all(const UlyssesLayout& l, const std::vector<std::vector<float>>& send,
                          std::vector<std::vector<float>>* recv) {
  recv->assign(static_cast<size_t>(l.world), std::vector<float>(static_cast<size_t>(l.buffer())));
  for (int r = 0; r < l.world; ++r)
    for (int s = 0; s < l.world; ++s)
      std::copy_n(send[s].data() + r * l.chunk(), l.chunk(), (*recv)[r].data() + s * l.chunk());
}

}  // namespace wan
