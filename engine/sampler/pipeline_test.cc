// The denoising pipeline on the CPU: a short CFG generation is finite and bit-repeatable,
// seeds and guidance change it, noise and embeddings load from files, bad inputs are named.
#include "engine/sampler/pipeline.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <gtest/gtest.h>

#include "engine/model/safetensors.h"
#include "engine/model/wan_dit_cpu.h"

namespace wan {
namespace {

std::string temp_path(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return (std::filesystem::path(dir ? dir : std::filesystem::temp_directory_path().string()) / name).string();
}

Pipeline make_pipeline() {
  const WanConfig config = config_by_name("wan-tiny").value();
  const WanWeights weights = WanWeights::synthetic(config, 1).value();
  return Pipeline(WanDitCpu::create(weights, Precision::kBf16).value());
}

GenerationRequest tiny_request() {
  GenerationRequest r;
  r.steps = 3;
  r.frames = 5;
  r.height = 64;
  r.width = 96;
  r.guidance = 3.0;
  return r;
}

TEST(Pipeline, GenerationIsFiniteAndBitRepeatable) {
  Pipeline p = make_pipeline();
  int steps_seen = 0;
  const Tensor a = p.generate(tiny_request(), nullptr, [&](const StepProgress& s) {
                     EXPECT_EQ(s.step, steps_seen++);
                     EXPECT_EQ(s.steps, 3);
                   }).value();
  EXPECT_EQ(steps_seen, 3);
  EXPECT_EQ(a.shape(), (Shape{16, 2, 8, 12}));
  for (int64_t i = 0; i < a.numel(); ++i) ASSERT_TRUE(std::isfinite(a.data<float>()[i]));
  const Tensor b = p.generate(tiny_request()).value();
  EXPECT_EQ(std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()), 0);
  GenerationRequest other_seed = tiny_request();
  other_seed.seed = 7;
  EXPECT_NE(std::memcmp(a.raw_data(), p.generate(other_seed).value().raw_data(), a.nbytes()), 0);
  GenerationRequest no_cfg = tiny_request();
  no_cfg.guidance = 1.0;
  EXPECT_NE(std::memcmp(a.raw_data(), p.generate(no_cfg).value().raw_data(), a.nbytes()), 0);
}

TEST(Pipeline, FiftyStepsStayFinite) {
  Pipeline p = make_pipeline();
  GenerationRequest r = tiny_request();
  r.steps = 50;
  r.height = 32;
  r.width = 32;
  r.frames = 1;
  const Tensor out = p.generate(r).value();
  double max_abs = 0;
  for (int64_t i = 0; i < out.numel(); ++i) {
    ASSERT_TRUE(std::isfinite(out.data<float>()[i]));
    max_abs = std::max(max_abs, std::fabs(double(out.data<float>()[i])));
  }
  EXPECT_LT(max_abs, 100.0);
}

TEST(Pipeline, NoiseAndEmbeddingsFromFiles) {
  Pipeline p = make_pipeline();
  const WanConfig& c = p.model().config();
  const GenerationRequest base = tiny_request();
  // Writing the default noise and embeddings to files and loading them gives the same result.
  const Tensor noise = initial_latents(c, base).value();
  const std::string noise_path = temp_path("noise.safetensors");
  ASSERT_TRUE(write_safetensors(noise_path, {{"latents", noise.reshape({1, 16, 2, 8, 12}).value()}}).ok());
  const std::string prompt_path = temp_path("prompt.safetensors");
  ASSERT_TRUE(write_safetensors(prompt_path, {{"prompt_embeds", default_prompt_embeddings(c, false).value()}}).ok());
  GenerationRequest from_files = base;
  from_files.noise_path = noise_path;
  from_files.prompt_embeds_path = prompt_path;
  from_files.seed = 99;  // ignored: noise comes from the file
  const Tensor a = p.generate(base).value();
  const Tensor b = p.generate(from_files).value();
  EXPECT_EQ(std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()), 0);
}

TEST(Pipeline, BadInputsAreNamed) {
  Pipeline p = make_pipeline();
  GenerationRequest r = tiny_request();
  r.frames = 6;
  EXPECT_NE(p.generate(r).status().message().find("--frames must be 4k+1"), std::string::npos);
  r = tiny_request();
  r.steps = 0;
  EXPECT_NE(p.generate(r).status().message().find("--steps"), std::string::npos);
  r = tiny_request();
  r.scheduler = "ddim";
  EXPECT_EQ(p.generate(r).status().code(), StatusCode::kNotFound);
  r = tiny_request();
  r.noise_path = temp_path("does_not_exist.safetensors");
  EXPECT_NE(p.generate(r).status().message().find("does_not_exist"), std::string::npos);
  const std::string wrong = temp_path("wrong_noise.safetensors");
  ASSERT_TRUE(write_safetensors(wrong, {{"latents", Tensor::zeros({16, 1, 8, 12}, DType::kF32).value()}}).ok());
  r.noise_path = wrong;
  const Status s = p.generate(r).status();
  EXPECT_NE(s.message().find("this generation needs [1, 16, 2, 8, 12]"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace wan
