// Every committed CPU golden case is regenerated and must hash exactly as recorded, on any
// x86-64 machine (the CPU fingerprint class is portable by design). Also requires that every
// attention backend in the registry has at least one CPU golden case.
#include <filesystem>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "engine/attention/attention_backend.h"
#include "harness/fingerprint.h"
#include "harness/golden_store.h"
#include "harness/hashing.h"
#include "harness/run_case.h"

namespace wan {
namespace {

constexpr const char* kGoldenDir = "golden";

std::vector<std::string> golden_files() {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(kGoldenDir))
    if (e.path().extension() == ".json") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

TEST(GoldenCpu, EveryCommittedCpuCaseMatches) {
  const Fingerprint fp = make_fingerprint(Device::cpu());
  int checked = 0;
  for (const std::string& file : golden_files()) {
    auto doc = read_golden_file(file);
    ASSERT_TRUE(doc.ok()) << doc.status().message();
    auto run_case = RunCase::from_json(doc.value()["case"]);
    ASSERT_TRUE(run_case.ok()) << file << ": " << run_case.status().message();
    if (run_case->device != "cpu") continue;
    ASSERT_EQ(golden_path(kGoldenDir, run_case.value()), file)
        << "the case in " << file << " no longer hashes to its file name: re-record it";
    auto pipeline = build_pipeline(run_case.value());
    ASSERT_TRUE(pipeline.ok()) << file << ": " << pipeline.status().message();
    auto decoder = build_vae_decoder(run_case.value(), pipeline.value().get());
    ASSERT_TRUE(decoder.ok()) << file << ": " << decoder.status().message();
    auto hashes = generate_case_hashes(*pipeline.value(), decoder.value().get(), run_case.value());
    ASSERT_TRUE(hashes.ok()) << file << ": " << hashes.status().message();
    auto check = check_golden(kGoldenDir, run_case.value(), fp, hashes->latents_sha1, hashes->frames_sha1);
    ASSERT_TRUE(check.ok());
    EXPECT_EQ(check->verdict, GoldenVerdict::kMatch) << file << ": " << check->message;
    std::printf("%s: %s\n", file.c_str(), check->message.c_str());
    ++checked;
  }
  EXPECT_GE(checked, 3) << "expected the committed CPU golden cases under golden/";
}

// The decoded video is under golden too: at least one CPU case decodes (frames hash recorded).
TEST(GoldenCpu, ADecodingCaseHasAFramesGolden) {
  int decoding = 0;
  for (const std::string& file : golden_files()) {
    auto doc = read_golden_file(file);
    ASSERT_TRUE(doc.ok()) << doc.status().message();
    if (doc.value()["case"].value("device", "") != "cpu" || doc.value()["case"].value("vae", "").empty()) continue;
    for (const auto& [cls, g] : doc.value()["goldens"].items())
      EXPECT_TRUE(g.contains("frames_sha1")) << file << " (class " << cls << ") decodes but records no frames hash";
    ++decoding;
  }
  EXPECT_GE(decoding, 1) << "expected a committed CPU golden case with --vae";
}

TEST(GoldenCpu, EveryBackendHasACpuGolden) {
  std::set<std::string> covered;
  for (const std::string& file : golden_files()) {
    auto doc = read_golden_file(file);
    ASSERT_TRUE(doc.ok());
    if (doc.value()["case"].value("device", "") != "cpu") continue;
    auto config = parse_attention_config(doc.value()["case"].value("backend", ""));
    if (config.ok()) covered.insert(std::string(config.value().backend_name()));
  }
  for (const AttentionBackendInfo& info : attention_backend_table()) {
    const std::string name(info.name);
    EXPECT_TRUE(covered.count(name)) << "no CPU golden case for backend '" << name
                                     << "': record one with `repro golden update --backend " << name << "`";
  }
}

}  // namespace
}  // namespace wan
