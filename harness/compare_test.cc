// compare_run_reports on synthetic run reports: A/A passes as "same" end to end and for
// (nearly) every kernel, a planted slowdown in one kernel is found, attributed to that kernel
// with its magnitude, and explains the end-to-end change; output mismatches, added/removed
// kernels and changed launch shapes are reported; Markdown puts the verdict first.
#include "harness/compare.h"

#include <random>

#include <gtest/gtest.h>

namespace wan {
namespace {

// A run report with `runs` runs in one process: kernels k0..k(n-1) with base times, the
// planted kernel slowed by `delay_ms` per run.
nlohmann::json make_report(std::mt19937_64& gen, int runs, int kernels, const std::string& planted, double delay_ms,
                           const std::string& sha1 = std::string(40, 'a'), int pid = 100, double kernel_cv = 0.001) {
  std::normal_distribution<double> noise(0.0, 1.0);
  nlohmann::json r = {{"schema", "wan-repro.run"}, {"schema_version", 1}, {"tool", {{"engine_commit", "abc"}}},
                      {"case", {{"model", "m"}}}, {"case_id", "m.x"}, {"fingerprint", {{"gpu_name", "H100"}}},
                      {"fingerprint_class", {{"device_type", "cuda"}}}};
  r["runs"] = nlohmann::json::array();
  for (int i = 0; i < runs; ++i) {
    nlohmann::json ks = nlohmann::json::array();
    double total = 0;
    for (int k = 0; k < kernels; ++k) {
      const std::string name = "k" + std::to_string(k);
      double ms = (1.0 + 0.1 * k) * (1.0 + kernel_cv * noise(gen));
      if (name == planted) ms += delay_ms;
      total += ms;
      ks.push_back({{"name", name}, {"range", "dit_forward/block/0"}, {"count", 1}, {"total_us", ms * 1e3},
                    {"grid", {1, 1, 1}}, {"block", {128, 1, 1}}, {"registers", 64}, {"smem", 0}});
    }
    const double seconds = (total + 2.0 * (1.0 + 0.002 * noise(gen))) / 1e3;  // plus host/gap time
    r["runs"].push_back({{"index", i}, {"seed", 1024}, {"latents_sha1", sha1}, {"seconds", seconds}, {"pid", pid}, {"kernels", ks}});
  }
  return r;
}

TEST(Compare, AaIsSameEndToEndAndForNearlyAllKernels) {
  std::mt19937_64 gen(1);
  const auto a = make_report(gen, 10, 100, "", 0), b = make_report(gen, 10, 100, "", 0);
  const Comparison c = compare_run_reports(a, b);
  EXPECT_EQ(c.outcome, CompareOutcome::kPass) << c.json["end_to_end"].dump();
  EXPECT_EQ(c.json["end_to_end"]["verdict"], "same");
  EXPECT_EQ(c.json["kernel_summary"]["slower"].get<int>() + c.json["kernel_summary"]["faster"].get<int>(), 0);
  EXPECT_GE(c.json["kernel_summary"]["same"].get<int>(), 95);
}

TEST(Compare, PlantedSlowdownIsFoundAttributedAndExplained) {
  std::mt19937_64 gen(2);
  // k42 (5.2 ms) +2 ms: +38% for the kernel, +0.33% end to end (below the 0.5% threshold).
  const auto a = make_report(gen, 10, 100, "", 0), b = make_report(gen, 10, 100, "k42", 2.0);
  const Comparison c = compare_run_reports(a, b);
  EXPECT_EQ(c.outcome, CompareOutcome::kRegression);
  const auto& top = c.json["kernels"][0];  // sorted by |delta|
  EXPECT_EQ(top["kernel"], "k42 @ dit_forward/block/0");
  EXPECT_EQ(top["verdict"], "slower");
  EXPECT_NEAR(top["delta_ms"].get<double>(), 2.0, 0.05);
  EXPECT_NEAR(top["ratio"].get<double>(), 1.0 + 2.0 / 5.2, 0.01);
  EXPECT_EQ(c.json["kernel_summary"]["slower"], 1);
  EXPECT_NEAR(c.json["split"]["kernel_deltas_ms"].get<double>(), 2.0, 0.3);
  EXPECT_LT(std::fabs(c.json["split"]["unexplained_ms"].get<double>()), 0.5);
  const std::string md = comparison_markdown(c.json);
  EXPECT_EQ(md.rfind("## repro compare: REGRESSION: 1 kernel(s) significantly slower", 0), 0u) << md;
  EXPECT_NE(md.find("`k42 @ dit_forward/block/0` | slower"), std::string::npos) << md;
}

TEST(Compare, OutputMismatchAddedRemovedAndLaunchChanges) {
  std::mt19937_64 gen(3);
  auto a = make_report(gen, 6, 5, "", 0);
  auto b = make_report(gen, 6, 5, "", 0, std::string(40, 'b'));
  for (auto& run : b["runs"]) {
    run["kernels"][0]["name"] = "k_new";
    run["kernels"][1]["grid"] = {2, 1, 1};
  }
  const Comparison c = compare_run_reports(a, b);
  EXPECT_EQ(c.outcome, CompareOutcome::kOutputMismatch);
  EXPECT_EQ(c.json["outputs"]["verdict"], "mismatch");
  ASSERT_EQ(c.json["added"].size(), 1u);
  ASSERT_EQ(c.json["removed"].size(), 1u);
  ASSERT_EQ(c.json["launch_changed"].size(), 1u);
  EXPECT_EQ(c.json["launch_changed"][0]["kernel"], "k1 @ dit_forward/block/0");
  EXPECT_EQ(comparison_markdown(c.json).rfind("## repro compare: OUTPUT MISMATCH", 0), 0u);
  const std::string html = comparison_html(c.json);
  EXPECT_NE(html.find("<svg") == std::string::npos ? html.find("createElementNS") : 0, std::string::npos);
}

TEST(Compare, FewNoisyRunsAreInconclusive) {
  std::mt19937_64 gen(4);
  auto a = make_report(gen, 3, 3, "", 0), b = make_report(gen, 3, 3, "k1", 0.02);
  const Comparison c = compare_run_reports(a, b);
  EXPECT_TRUE(c.outcome == CompareOutcome::kInconclusive || c.outcome == CompareOutcome::kPass);
}

}  // namespace
}  // namespace wan
