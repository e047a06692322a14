// The Ulysses layouts on their own: the two exchanges through the simulated all-to-all are
// exact inverses, each rank's head shard is exactly its heads of every token (checked element by
// element against the unsharded tensor), and sizes that do not divide are refused with the
// world sizes that would.
#include "engine/parallel/ulysses.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace wan {
namespace {

// A value that names its (token, head, channel): every misplaced element shows.
float tag(int64_t t, int64_t h, int64_t c) { return static_cast<float>(t * 10000 + h * 100 + c); }

TEST(Ulysses, ExchangesPlaceEveryElementAndInvert) {
  for (int world : {1, 2, 3, 4, 6}) {
    const UlyssesLayout l = plan_ulysses(world, 36, 12, 5).value();
    SCOPED_TRACE("world " + std::to_string(world));
    ASSERT_EQ(l.shard_tokens() * world, 36);
    ASSERT_EQ(l.buffer(), l.shard_tokens() * l.heads * l.head_dim);
    // Token shards of the tagged [tokens, heads, d] tensor -> send -> all-to-all -> head shards.
    std::vector<std::vector<float>> shards(world), send(world), recv;
    for (int r = 0; r < world; ++r) {
      for (int64_t t = 0; t < l.shard_tokens(); ++t)
        for (int64_t h = 0; h < l.heads; ++h)
          for (int64_t c = 0; c < l.head_dim; ++c) shards[r].push_back(tag(l.first_token(r) + t, h, c));
      send[r].resize(l.buffer());
      pack_token_shard(l, shards[r].data(), send[r].data());
    }
    simulated_all_to_all(l, send, &recv);
    std::vector<std::vector<float>> heads(world);
    for (int r = 0; r < world; ++r) {
      heads[r].resize(l.buffer());
      unpack_to_head_shard(l, recv[r].data(), heads[r].data());
      for (int64_t t = 0; t < l.tokens; ++t)
        for (int64_t h = 0; h < l.shard_heads(); ++h)
          for (int64_t c = 0; c < l.head_dim; ++c)
            ASSERT_EQ(heads[r][(t * l.shard_heads() + h) * l.head_dim + c], tag(t, l.first_head(r) + h, c))
                << "rank " << r << " token " << t << " local head " << h << " channel " << c;
    }
    // And back: head shards -> token shards equal to the originals.
    for (int r = 0; r < world; ++r) pack_head_shard(l, heads[r].data(), send[r].data());
    simulated_all_to_all(l, send, &recv);
    for (int r = 0; r < world; ++r) {
      std::vector<float> back(l.buffer(), -1.0f);
      unpack_to_token_shard(l, recv[r].data(), back.data());
      ASSERT_EQ(back, shards[r]) << "rank " << r;
    }
  }
}

TEST(Ulysses, RefusesSizesThatDoNotDivide) {
  const Status heads = plan_ulysses(8, 32760, 12, 128).status();
  EXPECT_EQ(heads.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(heads.message().find("12 heads"), std::string::npos) << heads.message();
  EXPECT_NE(heads.message().find("1, 2, 3, 4, 6, 12"), std::string::npos) << heads.message();
  const Status tokens = plan_ulysses(4, 30, 12, 64).status();
  EXPECT_NE(tokens.message().find("30 tokens"), std::string::npos) << tokens.message();
  EXPECT_NE(tokens.message().find("1, 2, 3, 6"), std::string::npos) << tokens.message();
  EXPECT_EQ(plan_ulysses(0, 8, 2, 2).status().code(), StatusCode::kInvalidArgument);
  // The 480p 1.3B grid (21 x 30 x 52 = 32,760 tokens, 12 heads) serves 2, 3, 4, 6 and 12 ranks.
  for (int world : {2, 3, 4, 6, 12}) EXPECT_TRUE(plan_ulysses(world, 32760, 12, 128).ok()) << world;
}

}  // namespace
}  // namespace wan
