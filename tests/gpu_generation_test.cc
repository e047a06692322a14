// GPU generations (tag gpu): 8 repeated generations of the small config give one SHA-1, a
// fresh pipeline gives the same SHA-1, and the final latents stay close to the CPU path's.
// Also every committed CUDA golden case of this GPU's fingerprint class is regenerated.
#include <cmath>
#include <filesystem>
#include <set>

#include <gtest/gtest.h>

#include "harness/fingerprint.h"
#include "harness/golden_store.h"
#include "harness/hashing.h"
#include "harness/run_case.h"
#include "kernels/common/testing/gpu_test.h"

namespace wan {
namespace {

RunCase small_case(const std::string& device) {
  RunCase c;
  c.model = "wan-small";
  c.device = device;
  c.request.steps = 4;
  c.request.frames = c.request.height = c.request.width = -1;
  c.request.guidance = c.request.shift = -1;
  EXPECT_TRUE(c.resolve().ok());
  return c;
}

TEST(GpuGeneration, EightRepeatedGenerationsIdentical) {
  WAN_SKIP_WITHOUT_GPU();
  const RunCase c = small_case("cuda");
  auto pipeline = build_pipeline(c).value();
  std::set<std::string> hashes;
  Tensor first;
  for (int i = 0; i < 8; ++i) {
    const Tensor latents = pipeline->generate(c.request).value();
    hashes.insert(sha1_tensor(latents).value());
    if (i == 0) first = latents;
  }
  EXPECT_EQ(hashes.size(), 1u);
  auto fresh = build_pipeline(c).value();
  EXPECT_EQ(sha1_tensor(fresh->generate(c.request).value()).value(), *hashes.begin());
  std::printf("8 GPU generations of %s: sha1 %s\n", c.case_id().c_str(), hashes.begin()->c_str());

  // Against the CPU path (same rounding points, different summation orders).
  auto cpu = build_pipeline(small_case("cpu")).value();
  const Tensor want = cpu->generate(c.request).value();
  double num = 0, den = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    const double d = double(first.data<float>()[i]) - want.data<float>()[i];
    num += d * d;
    den += double(want.data<float>()[i]) * want.data<float>()[i];
  }
  std::printf("final latents after 4 CFG steps, GPU vs CPU: rel L2 %.4g\n", std::sqrt(num / den));
  EXPECT_LT(std::sqrt(num / den), 5e-2);
}

TEST(GpuGeneration, HeadDim128PathIsDeterministic) {
  // The 1.3B architecture (head_dim 128: the Hopper wgmma attention kernel on sm_90a) at a
  // small size: 8 generations, one hash.
  WAN_SKIP_WITHOUT_GPU();
  RunCase c;
  c.model = "wan2.1-t2v-1.3b";
  c.device = "cuda";
  c.request.steps = 2;
  c.request.frames = 5;
  c.request.height = 128;
  c.request.width = 128;
  c.request.guidance = c.request.shift = -1;
  ASSERT_TRUE(c.resolve().ok());
  auto pipeline = build_pipeline(c).value();
  std::set<std::string> hashes;
  for (int i = 0; i < 8; ++i) hashes.insert(sha1_tensor(pipeline->generate(c.request).value()).value());
  EXPECT_EQ(hashes.size(), 1u);
  std::printf("8 GPU generations of %s: sha1 %s\n", c.case_id().c_str(), hashes.begin()->c_str());
}

TEST(GoldenGpu, CommittedCudaCasesOfThisGpuClassMatch) {
  WAN_SKIP_WITHOUT_GPU();
  int checked = 0, other_class = 0;
  for (const auto& e : std::filesystem::directory_iterator("golden")) {
    if (e.path().extension() != ".json") continue;
    auto doc = read_golden_file(e.path().string()).value();
    auto c = RunCase::from_json(doc["case"]).value();
    if (c.device.rfind("cuda", 0) != 0) continue;
    const Fingerprint fp = case_fingerprint(c);  // with cuDNN's version when the case decodes with it
    if (!doc["goldens"].contains(fp.class_id)) {
      ++other_class;
      std::printf("%s: no golden for this environment's class %s\n", e.path().c_str(), fp.class_id.c_str());
      continue;
    }
    auto pipeline = build_pipeline(c).value();
    auto decoder = build_vae_decoder(c, pipeline.get());  // the decode stage on the DiT's stream
    ASSERT_TRUE(decoder.ok()) << e.path() << ": " << decoder.status().message();
    const CaseHashes h = generate_case_hashes(*pipeline, decoder.value().get(), c).value();
    auto check = check_golden("golden", c, fp, h.latents_sha1, h.frames_sha1).value();
    EXPECT_EQ(check.verdict, GoldenVerdict::kMatch) << e.path() << ": " << check.message;
    ++checked;
  }
  if (checked == 0) {
    GTEST_SKIP() << "no CUDA golden for this GPU's fingerprint classes (" << other_class
                 << " for other environments): not comparable";
  }
}

}  // namespace
}  // namespace wan
