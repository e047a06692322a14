// --backend parsing: canonical strings (defaults omitted, keys sorted), every option resolved,
// and errors that list the valid backends / options / ranges.
#include "engine/attention/attention_config.h"

#include <cstdio>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/attention/attention_backend.h"
#include "engine/attention/sliding_tile_strategy.h"

namespace wan {
namespace {

TEST(AttentionConfig, DenseDefaultsKeepTheOldCaseString) {
  const AttentionConfig c = parse_attention_config("dense").value();
  EXPECT_EQ(c.kind, AttentionBackendKind::kDense);
  EXPECT_EQ(c.canonical(), "dense");
  EXPECT_EQ(c.option("kernel"), "auto");
  EXPECT_EQ(parse_attention_config("dense:kernel=auto").value().canonical(), "dense");
  EXPECT_EQ(parse_attention_config("dense:kernel=sm90_plain").value().canonical(), "dense:kernel=sm90_plain");
}

TEST(AttentionConfig, VideoSparseOptions) {
  const AttentionConfig c = parse_attention_config("video_sparse:sparsity=0.80").value();
  EXPECT_EQ(c.canonical(), "video_sparse:sparsity=0.8");
  EXPECT_EQ(c.file_tag(), "video_sparse-sparsity0.8");
  EXPECT_DOUBLE_EQ(c.number("sparsity"), 0.8);
  EXPECT_EQ(parse_attention_config("video_sparse").value().canonical(), "video_sparse");
  EXPECT_EQ(c.to_json()["options"]["sparsity"], "0.8");
}

TEST(AttentionConfig, ErrorsNameTheChoices) {
  const Status unknown = parse_attention_config("sparse_magic").status();
  EXPECT_EQ(unknown.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.message().find("video_sparse"), std::string::npos) << unknown.message();
  EXPECT_NE(unknown.message().find("dense"), std::string::npos);
  const Status range = parse_attention_config("video_sparse:sparsity=1").status();
  EXPECT_NE(range.message().find("[0, 1)"), std::string::npos) << range.message();
  EXPECT_FALSE(parse_attention_config("video_sparse:sparsity=-0.1").ok());
  EXPECT_FALSE(parse_attention_config("video_sparse:sparsity=nan").ok());
  EXPECT_FALSE(parse_attention_config("video_sparse:sparsity=0.5x").ok());
  const Status option = parse_attention_config("video_sparse:window=3").status();
  EXPECT_NE(option.message().find("sparsity"), std::string::npos) << option.message();
  const Status choice = parse_attention_config("dense:kernel=cudnn").status();
  EXPECT_NE(choice.message().find("sm90_ws"), std::string::npos) << choice.message();
  EXPECT_FALSE(parse_attention_config("dense:").ok());
  EXPECT_FALSE(parse_attention_config("video_sparse:sparsity=0.5,sparsity=0.6").ok());
}

TEST(AttentionConfig, SlidingTileOptions) {
  const AttentionConfig d = parse_attention_config("sliding_tile").value();
  EXPECT_EQ(d.canonical(), "sliding_tile");
  EXPECT_EQ(d.option("tile"), "6x8x8");
  EXPECT_EQ(d.option("window"), "3x3x5");
  const AttentionConfig c = parse_attention_config("sliding_tile:window=03x3x5,tile=4x4x4").value();
  EXPECT_EQ(c.canonical(), "sliding_tile:tile=4x4x4");
  EXPECT_EQ(parse_attention_config("sliding_tile:window=full").value().canonical(), "sliding_tile:window=full");
  EXPECT_EQ(parse_attention_config("sliding_tile:window=full").value().file_tag(), "sliding_tile-windowfull");
  for (const char* bad : {"sliding_tile:window=0x3x5", "sliding_tile:window=3x3", "sliding_tile:window=3x3x-1",
                          "sliding_tile:window=axbxc", "sliding_tile:tile=65x1x1", "sliding_tile:tile=full"}) {
    const Status s = parse_attention_config(bad).status();
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("TxHxW"), std::string::npos) << bad << ": " << s.message();
  }
}

std::string write_temp(const std::string& name, const std::string& text) {
  const std::string path = std::string(std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp") + "/" + name;
  std::ofstream(path) << text;
  return path;
}

TEST(AttentionConfig, SlidingTileStrategyFileIsRecordedByContent) {
  const std::string a = write_temp("a.json", R"({"0_1_2": [1, 2, 3], "3_4": [3, 3, 5]})");
  const std::string b = write_temp("b.json", "{ \"3_4\": [3,3,5],\n \"0_1_2\": [1,2,3] }");
  const AttentionConfig ca = parse_attention_config("sliding_tile:strategy=" + a).value();
  const AttentionConfig cb = parse_attention_config("sliding_tile:strategy=" + b).value();
  // Same entries, other whitespace and order: the same digest (and file tag).
  ASSERT_EQ(ca.file_digests.at("strategy"), cb.file_digests.at("strategy"));
  EXPECT_EQ(ca.file_tag(), cb.file_tag());
  EXPECT_EQ(ca.file_tag(), "sliding_tile-strategy" + ca.file_digests.at("strategy").substr(0, 12));
  EXPECT_EQ(ca.option("strategy"), a);
  // The canonical string re-parses (path@digest) and names the same case.
  const std::string canonical = ca.canonical();
  EXPECT_EQ(canonical, "sliding_tile:strategy=" + a + "@" + ca.file_digests.at("strategy").substr(0, 12));
  EXPECT_EQ(parse_attention_config(canonical).value().canonical(), canonical);
  EXPECT_EQ(ca.to_json()["file_sha1"]["strategy"], ca.file_digests.at("strategy"));
  // A changed file no longer matches the recorded digest.
  write_temp("a.json", R"({"0_1_2": [1, 2, 1]})");
  const Status changed = parse_attention_config(canonical).status();
  EXPECT_EQ(changed.code(), StatusCode::kDataLoss);
  EXPECT_NE(changed.message().find("changed"), std::string::npos) << changed.message();

  const SlidingTileStrategy s = load_sliding_tile_strategy(b).value();
  const TileWindow uniform{9, 9, 9};
  EXPECT_EQ(s.window(0, 1, 2, uniform), (TileWindow{1, 2, 3}));  // STEP_LAYER_HEAD
  EXPECT_EQ(s.window(1, 1, 2, uniform), uniform);                  // other step: not named
  EXPECT_EQ(s.window(7, 3, 4, uniform), (TileWindow{3, 3, 5}));  // LAYER_HEAD: every step
  EXPECT_EQ(s.steps(), std::vector<int32_t>{0});
  EXPECT_TRUE(s.check_model(5, 5).ok());
  const Status layer = s.check_model(3, 30);
  EXPECT_EQ(layer.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(layer.message().find("\"3_4\" names layer 3"), std::string::npos) << layer.message();
  const Status head = s.check_model(30, 4);
  EXPECT_NE(head.message().find("\"3_4\" names head 4"), std::string::npos) << head.message();
}

TEST(AttentionConfig, MalformedStrategyFilesNameTheEntry) {
  const std::string missing = parse_attention_config("sliding_tile:strategy=/nonexistent/s.json").status().message();
  EXPECT_NE(missing.find("cannot be read"), std::string::npos) << missing;
  EXPECT_EQ(parse_attention_config("sliding_tile:strategy=/nonexistent/s.json").status().code(), StatusCode::kNotFound);
  const struct {
    const char* text;
    const char* want;
  } cases[] = {
      {"{\"0_1_2\": [1, 2", "not valid JSON"},
      {"[1, 2, 3]", "not a non-empty JSON object"},
      {"{}", "not a non-empty JSON object"},
      {R"({"0-1-2": [1, 1, 1]})", "entry \"0-1-2\": the key is not"},
      {R"({"0_1_2_3": [1, 1, 1]})", "entry \"0_1_2_3\""},
      {R"({"x_1": [1, 1, 1]})", "entry \"x_1\""},
      {R"({"0_1": [1, 1]})", "entry \"0_1\": the window [1,1]"},
      {R"({"0_1": [1, 0, 1]})", "entry \"0_1\": the window [1,0,1]"},
      {R"({"0_1": [1, 1.5, 1]})", "entry \"0_1\""},
      {R"({"0_1": "3x3x5"})", "entry \"0_1\""},
      {R"({"0_1": [1, 1, 1], "00_1": [1, 1, 1]})", "given twice"},
  };
  for (const auto& c : cases) {
    const std::string path = write_temp("bad.json", c.text);
    const Status s = parse_attention_config("sliding_tile:strategy=" + path).status();
    EXPECT_EQ(s.code(), StatusCode::kDataLoss) << c.text;
    EXPECT_NE(s.message().find(c.want), std::string::npos) << c.text << " -> " << s.message();
  }
}

TEST(AttentionConfig, SparseLinearOptions) {
  const AttentionConfig d = parse_attention_config("sparse_linear").value();
  EXPECT_EQ(d.canonical(), "sparse_linear");
  EXPECT_EQ(d.option("ratio"), "0.1");
  EXPECT_EQ(d.option("feature_map"), "softmax");
  const AttentionConfig c = parse_attention_config("sparse_linear:feature_map=elu,ratio=0.25").value();
  EXPECT_EQ(c.canonical(), "sparse_linear:feature_map=elu,ratio=0.25");
  EXPECT_TRUE(parse_attention_config("sparse_linear:ratio=1").ok());
  for (const char* bad : {"sparse_linear:ratio=0", "sparse_linear:ratio=1.5", "sparse_linear:ratio=-0.1",
                          "sparse_linear:ratio=nan", "sparse_linear:ratio=0.1x"}) {
    const Status s = parse_attention_config(bad).status();
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("(0, 1]"), std::string::npos) << s.message();
  }
  const Status map = parse_attention_config("sparse_linear:feature_map=tanh").status();
  EXPECT_EQ(map.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(map.message().find("relu"), std::string::npos) << map.message();
  // The CUDA backend exists; it serves only CUDA bf16 shapes and says what it cannot run.
  auto cuda = make_attention_backend(d, Device::cuda(0)).value();
  EXPECT_EQ(cuda->name(), "sparse_linear");
  AttentionShape cpu_shape;
  cpu_shape.heads = 2;
  cpu_shape.head_dim = 64;
  cpu_shape.q_tokens = cpu_shape.kv_tokens = 256;
  EXPECT_EQ(cuda->can_implement(cpu_shape).code(), StatusCode::kUnimplemented);
  AttentionShape odd = cpu_shape;
  odd.device = Device::cuda(0);
  odd.head_dim = 96;
  const Status hd = cuda->can_implement(odd);
  EXPECT_EQ(hd.code(), StatusCode::kUnimplemented);
  EXPECT_NE(hd.message().find("head_dim must be 64 or 128"), std::string::npos) << hd.message();
}

TEST(AttentionConfig, VideoMobaOptions) {
  const AttentionConfig d = parse_attention_config("video_moba").value();
  EXPECT_EQ(d.canonical(), "video_moba");
  EXPECT_EQ(d.option("spatial_chunk"), "3x4");
  EXPECT_EQ(d.option("st_chunk"), "4x6x4");
  EXPECT_EQ(parse_attention_config("video_moba:spatial_chunk=4x4,temporal_chunk=3").value().canonical(),
            "video_moba:spatial_chunk=4x4,temporal_chunk=3");
  for (const char* bad : {"video_moba:temporal_chunk=0", "video_moba:spatial_chunk=3", "video_moba:spatial_chunk=3x4x5",
                          "video_moba:st_chunk=4x6", "video_moba:threshold=1.5"})
    EXPECT_EQ(parse_attention_config(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  // Chunks that do not divide the grid: refused at plan time, naming the chunk and the grid.
  auto backend = make_attention_backend(d, Device::cpu()).value();
  AttentionShape shape;
  shape.heads = 2;
  shape.head_dim = 64;
  shape.frames = 4;
  shape.height = 8;
  shape.width = 8;
  shape.q_tokens = shape.kv_tokens = 256;
  const Status s = backend->can_implement(shape);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("spatial chunk 3x4 does not divide the token grid 4x8x8"), std::string::npos) << s.message();
  shape.layers = 1;  // only the temporal chunking is used
  EXPECT_TRUE(backend->can_implement(shape).ok());
  // The CUDA backend shares the grid rule (and its message).
  auto cuda = make_attention_backend(d, Device::cuda(0));
  ASSERT_TRUE(cuda.ok()) << cuda.status().message();
  shape.layers = 0;
  shape.device = Device::cuda(0);
  const Status cs = cuda.value()->can_implement(shape);
  EXPECT_EQ(cs.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(cs.message().find("spatial chunk 3x4 does not divide the token grid 4x8x8"), std::string::npos)
      << cs.message();
}

TEST(AttentionConfig, TableRowsHaveMakers) {
  for (const AttentionBackendInfo& b : attention_backend_table()) {
    const AttentionConfig c = parse_attention_config(b.name).value();
    EXPECT_TRUE(make_attention_backend(c, Device::cpu()).ok()) << b.name;
  }
}

}  // namespace
}  // namespace wan
