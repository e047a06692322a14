// --backend parsing: canonical strings (defaults omitted, keys sorted), every option resolved,
// and errors that list the valid backends / options / ranges.
#include "engine/attention/attention_config.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/attention/attention_backend.h"

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

TEST(AttentionConfig, TableRowsHaveMakers) {
  for (const AttentionBackendInfo& b : attention_backend_table()) {
    const AttentionConfig c = parse_attention_config(b.name).value();
    EXPECT_TRUE(make_attention_backend(c, Device::cpu()).ok()) << b.name;
  }
}

}  // namespace
}  // namespace wan
