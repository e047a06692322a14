// Weights: synthetic determinism, checkpoint round trip through the writer and reader, the
// original Wan key layout, and clear errors for missing or mis-shaped tensors. Configs: names
// and JSON files.
#include "engine/model/weights.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/model/safetensors.h"

namespace wan {
namespace {

std::string temp_path(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return (std::filesystem::path(dir ? dir : std::filesystem::temp_directory_path().string()) / name).string();
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  const Tensor ca = a.clone().value(), cb = b.clone().value();
  return ca.shape() == cb.shape() && ca.dtype() == cb.dtype() &&
         std::memcmp(ca.raw_data(), cb.raw_data(), ca.nbytes()) == 0;
}

// Inverse of canonical_weight_name for the test: diffusers -> original Wan layout.
std::string to_original(const std::string& name) {
  const std::pair<const char*, const char*> kMap[] = {
      {"condition_embedder.text_embedder.linear_1.", "text_embedding.0."},
      {"condition_embedder.text_embedder.linear_2.", "text_embedding.2."},
      {"condition_embedder.time_embedder.linear_1.", "time_embedding.0."},
      {"condition_embedder.time_embedder.linear_2.", "time_embedding.2."},
      {"condition_embedder.time_proj.", "time_projection.1."},
      {"proj_out.", "head.head."},
      {"attn1.to_q.", "self_attn.q."}, {"attn1.to_k.", "self_attn.k."}, {"attn1.to_v.", "self_attn.v."},
      {"attn1.to_out.0.", "self_attn.o."}, {"attn1.norm_q.", "self_attn.norm_q."},
      {"attn1.norm_k.", "self_attn.norm_k."}, {"attn2.to_q.", "cross_attn.q."},
      {"attn2.to_k.", "cross_attn.k."}, {"attn2.to_v.", "cross_attn.v."},
      {"attn2.to_out.0.", "cross_attn.o."}, {"attn2.norm_q.", "cross_attn.norm_q."},
      {"attn2.norm_k.", "cross_attn.norm_k."}, {"norm2.", "norm3."},
      {"ffn.net.0.proj.", "ffn.0."}, {"ffn.net.2.", "ffn.2."},
  };
  if (name == "scale_shift_table") return "head.modulation";
  std::string out = name;
  if (out.size() > 17 && out.substr(out.size() - 17) == "scale_shift_table") return out.substr(0, out.size() - 17) + "modulation";
  for (const auto& [from, to] : kMap) {
    const size_t pos = out.find(from);
    if (pos != std::string::npos) return out.substr(0, pos) + to + out.substr(pos + std::strlen(from));
  }
  return out;
}

TEST(Weights, SyntheticIsDeterministicAndSeedDependent) {
  const WanConfig c = config_by_name("wan-tiny").value();
  const WanWeights a = WanWeights::synthetic(c, 3).value(), b = WanWeights::synthetic(c, 3).value();
  const WanWeights d = WanWeights::synthetic(c, 4).value();
  ASSERT_EQ(a.tensors().size(), wan_weight_specs(c).size());
  for (const auto& [name, t] : a.tensors()) EXPECT_TRUE(same_bytes(t, b.get(name).value())) << name;
  EXPECT_FALSE(same_bytes(a.get("proj_out.weight").value(), d.get("proj_out.weight").value()));
  EXPECT_EQ(a.get("blocks.1.attn2.norm_k.weight").value().shape(), (Shape{128}));
}

TEST(Weights, RoundTripThroughWriterAndReader) {
  const WanConfig c = config_by_name("wan-tiny").value();
  const WanWeights a = WanWeights::synthetic(c, 5).value();
  const std::string path = temp_path("tiny.safetensors");
  ASSERT_TRUE(a.save(path).ok());
  const WanWeights b = WanWeights::load(c, path).value();
  for (const auto& [name, t] : a.tensors()) EXPECT_TRUE(same_bytes(t, b.get(name).value())) << name;
}

TEST(Weights, OriginalWanLayoutLoadsToTheSameTensors) {
  const WanConfig c = config_by_name("wan-tiny").value();
  const WanWeights a = WanWeights::synthetic(c, 6).value();
  std::vector<std::pair<std::string, Tensor>> renamed;
  for (const auto& [name, t] : a.tensors()) {
    const std::string original = to_original(name);
    ASSERT_EQ(canonical_weight_name(original), name) << original;
    renamed.emplace_back(original, t);
  }
  const std::string path = temp_path("tiny_original.safetensors");
  ASSERT_TRUE(write_safetensors(path, renamed).ok());
  const WanWeights b = WanWeights::load(c, path).value();
  for (const auto& [name, t] : a.tensors()) EXPECT_TRUE(same_bytes(t, b.get(name).value())) << name;
}

TEST(Weights, MissingAndMisShapedTensorsAreNamed) {
  const WanConfig c = config_by_name("wan-tiny").value();
  const WanWeights a = WanWeights::synthetic(c, 7).value();
  std::vector<std::pair<std::string, Tensor>> without;
  for (const auto& [name, t] : a.tensors())
    if (name != "blocks.1.ffn.net.2.bias") without.emplace_back(name, t);
  const std::string missing = temp_path("missing.safetensors");
  ASSERT_TRUE(write_safetensors(missing, without).ok());
  const Status s = WanWeights::load(c, missing).status();
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("missing.safetensors"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("blocks.1.ffn.net.2.bias"), std::string::npos) << s.message();

  // The tiny checkpoint loaded with the small config: shapes disagree.
  const std::string tiny = temp_path("tiny2.safetensors");
  ASSERT_TRUE(a.save(tiny).ok());
  const Status shape = WanWeights::load(config_by_name("wan-small").value(), tiny).status();
  EXPECT_EQ(shape.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(shape.message().find("tiny2.safetensors"), std::string::npos);
  EXPECT_NE(shape.message().find("expects [256, 16, 1, 2, 2]"), std::string::npos) << shape.message();
}

TEST(Config, NamesJsonAndErrors) {
  EXPECT_EQ(config_by_name("wan2.1-t2v-14b").value().dim, 5120);
  const Status unknown = config_by_name("wan3").status();
  EXPECT_NE(unknown.message().find("known: wan2.1-t2v-1.3b, wan2.1-t2v-14b, wan-tiny, wan-small"),
            std::string::npos);
  const std::string path = temp_path("cfg.json");
  std::ofstream(path) << R"({"num_attention_heads": 2, "attention_head_dim": 64, "num_layers": 1,
                             "ffn_dim": 64, "text_dim": 32, "text_len": 8})";
  const WanConfig c = config_from_json_file(path).value();
  EXPECT_EQ(c.dim, 128);
  EXPECT_EQ(c.layers, 1);
  std::ofstream(path) << R"({"dim": 100, "heads": 3})";
  EXPECT_NE(config_from_json_file(path).status().message().find("heads x head_dim"), std::string::npos);
  std::ofstream(path) << "{ not json";
  EXPECT_EQ(config_from_json_file(path).status().code(), StatusCode::kDataLoss);
  const LatentGrid g = latent_grid(config_by_name("wan2.1-t2v-1.3b").value(), 81, 480, 832).value();
  EXPECT_EQ(g.tokens(), 32760);  // ENGINE.md: 21 x 30 x 52
}

TEST(Config, JsonValuesAreCheckedNotTruncated) {
  const std::string path = temp_path("cfg_hardening.json");
  auto status_of = [&](const std::string& text) {
    std::ofstream(path) << text;
    return config_from_json_file(path).status();
  };
  auto expect = [&](const std::string& text, StatusCode code, const std::string& fragment) {
    const Status s = status_of(text);
    EXPECT_EQ(s.code(), code) << text << ": " << s.to_string();
    EXPECT_NE(s.message().find(fragment), std::string::npos) << text << ": " << s.message();
  };
  // get<int64_t>() of 1.5 was 1; get<int>() of 4294967297 was 1; get<float>() of 1e39 was
  // undefined (inf, accepted by eps > 0).
  expect(R"({"dim": 1.5})", StatusCode::kDataLoss, "dim must be an integer");
  expect(R"({"default_steps": 4294967297})", StatusCode::kDataLoss, "default_steps must be an integer in [1, 10000]");
  expect(R"({"eps": 1e39})", StatusCode::kDataLoss, "eps must be a finite number");
  expect(R"({"eps": 0})", StatusCode::kDataLoss, "eps must be a finite number");
  // Sizes without an upper bound overflowed heads x head_dim and 6 x dim.
  expect(R"({"num_layers": 4294967297})", StatusCode::kInvalidArgument, "layers must be in [1, 1024]");
  expect(R"({"heads": 4611686018427387904, "head_dim": 4, "dim": 0})", StatusCode::kInvalidArgument, "dim must be in [1, 65536]");
  expect(R"({"heads": 4611686018427387904, "head_dim": 4})", StatusCode::kDataLoss, "to derive dim");
  expect(R"({"dim": 9223372036854775807, "heads": 1, "head_dim": 128})", StatusCode::kInvalidArgument, "dim must be in");
  // Unknown keys were ignored: a typo or an image-to-video config ran as something else.
  expect(R"({"num_layer": 2})", StatusCode::kDataLoss, "num_layer is not a model config field");
  expect(R"({"image_dim": 1280})", StatusCode::kUnimplemented, "text-to-video models only");
  expect(R"({"heads": 2, "num_attention_heads": 3, "head_dim": 64})", StatusCode::kDataLoss, "two names for one field");
  expect(R"({"patch_size": [1, 2]})", StatusCode::kDataLoss, "patch_size must be [t, h, w]");
  expect(std::string(200, '[') + std::string(200, ']'), StatusCode::kDataLoss, "deeper than");
  // A FIFO is refused at once (std::ifstream waited for a writer).
  const std::string fifo = temp_path("cfg_fifo.json");
  std::remove(fifo.c_str());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(config_from_json_file(fifo).status().code(), StatusCode::kInvalidArgument);
  // diffusers' own config.json for the 1.3B model reads as the 1.3B config.
  std::ofstream(path) << R"({"_class_name": "WanTransformer3DModel", "_diffusers_version": "0.33.0",
    "added_kv_proj_dim": null, "attention_head_dim": 128, "cross_attn_norm": true, "eps": 1e-06,
    "ffn_dim": 8960, "freq_dim": 256, "image_dim": null, "in_channels": 16, "num_attention_heads": 12,
    "num_layers": 30, "out_channels": 16, "patch_size": [1, 2, 2], "qk_norm": "rms_norm_across_heads",
    "rope_max_seq_len": 1024, "text_dim": 4096})";
  const auto c = config_from_json_file(path);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->dim, 1536);
  EXPECT_EQ(c->layers, 30);
  EXPECT_EQ(c->eps, 1e-6f);
  // What config_to_json writes (checkpoint metadata, diffusers_crosscheck.py) reads back.
  for (const std::string& name : config_names()) {
    const WanConfig original = config_by_name(name).value();
    std::ofstream(path) << config_to_json(original);
    const auto back = config_from_json_file(path);
    ASSERT_TRUE(back.ok()) << name << ": " << back.status().to_string();
    nlohmann::json a = nlohmann::json::parse(config_to_json(back.value())), b = nlohmann::json::parse(config_to_json(original));
    a.erase("name");  // the file's path
    b.erase("name");
    EXPECT_EQ(a, b) << name;
  }
}

TEST(Weights, BothLayoutsOfOneWeightAreRefused) {
  // The later of "proj_out.weight" and "head.head.weight" was used silently.
  const WanConfig c = config_by_name("wan-tiny").value();
  const WanWeights a = WanWeights::synthetic(c, 7).value();
  std::vector<std::pair<std::string, Tensor>> both;
  for (const auto& [name, t] : a.tensors()) both.emplace_back(name, t);
  both.emplace_back("head.head.weight", a.get("proj_out.weight").value());
  const std::string path = temp_path("both_layouts.safetensors");
  ASSERT_TRUE(write_safetensors(path, both).ok());
  const Status s = WanWeights::load(c, path).status();
  EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s.to_string();
  EXPECT_NE(s.message().find("'head.head.weight' and 'proj_out.weight'"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace wan
