// The noise judge (v2: Welch t on log process means, minimum-effect p-values): Student t
// against known values, U-test p-values and Benjamini-Hochberg against worked examples, and the
// verdicts on simulated timings: A/A comparisons say "same" (false positives <= 5% over many
// trials), planted slowdowns are found with the right magnitude, nested process noise does not
// fool the judge, one-process layouts never give a verdict, and inconclusive comes with advice.
// The issue-level simulation (400 kernel groups, 8x3 layouts, run-index trend) is
// stats_simulation_test.cc.
#include "harness/stats.h"

#include <cmath>
#include <random>

#include <gtest/gtest.h>

namespace wan::stats {
namespace {

std::vector<Sample> simulate(std::mt19937_64& gen, int processes, int runs, double mean, double run_cv,
                             double process_cv) {
  std::normal_distribution<double> n01(0.0, 1.0);
  std::vector<Sample> out;
  for (int p = 0; p < processes; ++p) {
    const double process_mean = mean * (1.0 + process_cv * n01(gen));
    for (int r = 0; r < runs; ++r) out.push_back({process_mean * (1.0 + run_cv * n01(gen)), p});
  }
  return out;
}

TEST(Stats, MannWhitneyKnownValues) {
  // U = 0, mean 12.5, sd sqrt(5*5*11/12) = 4.787, z = (12.5 - 0.5) / 4.787 = 2.5067,
  // p = erfc(z / sqrt 2) = 0.012186 (scipy.stats.mannwhitneyu(..., method="asymptotic")).
  EXPECT_NEAR(mann_whitney_p({1, 2, 3, 4, 5}, {6, 7, 8, 9, 10}), 0.012186, 1e-5);
  // With ties: a = [1,1,2], b = [2,3,3]: ranks 1.5,1.5,3.5 | 3.5,5.5,5.5; U1 = 6.5 - 6 = 0.5.
  const double var = 9.0 / 12.0 * (7.0 - 18.0 / 30.0);  // tie term: three pairs, 3*(8-2) = 18
  EXPECT_NEAR(mann_whitney_p({1, 1, 2}, {2, 3, 3}), std::erfc((4.5 - 0.5 - 0.5) / std::sqrt(var) / std::sqrt(2.0)), 1e-12);
  EXPECT_NEAR(mann_whitney_p({1, 2, 3}, {1, 2, 3}), 1.0, 1e-9);
  EXPECT_EQ(mann_whitney_p({}, {1.0}), 1.0);
}

TEST(Stats, BenjaminiHochbergWorkedExample) {
  const std::vector<double> p = {0.01, 0.04, 0.03, 0.005};
  const std::vector<double> adj = benjamini_hochberg(p);
  // sorted 0.005, 0.01, 0.03, 0.04 -> 0.02, 0.02, 0.04, 0.04
  EXPECT_NEAR(adj[3], 0.02, 1e-12);
  EXPECT_NEAR(adj[0], 0.02, 1e-12);
  EXPECT_NEAR(adj[2], 0.04, 1e-12);
  EXPECT_NEAR(adj[1], 0.04, 1e-12);
}

TEST(Stats, StudentTAgainstKnownValues) {
  // Textbook values for integer df; for fractional df (Welch-Satterthwaite), Simpson integration
  // of the t density (2e5 intervals, in double) gave the reference.
  EXPECT_NEAR(student_t_cdf(2.0, 5.0), 0.9490302605850709, 1e-10);
  EXPECT_NEAR(student_t_cdf(-1.5, 14.3), 0.07768332698296776, 1e-10);
  EXPECT_NEAR(student_t_cdf(0.0, 3.0), 0.5, 1e-12);
  EXPECT_NEAR(student_t_quantile(0.975, 10.0), 2.2281388519649385, 1e-9);
  EXPECT_NEAR(student_t_quantile(0.025, 1e6), -1.959966, 1e-5);
  EXPECT_NEAR(student_t_quantile(0.95, 2.5), 2.55821861413592, 1e-8);
}

TEST(Stats, AaComparisonsSaySameWithFewFalsePositives) {
  std::mt19937_64 gen(7);
  int same = 0, wrong = 0;
  const int trials = 200;
  for (int t = 0; t < trials; ++t) {
    const auto a = simulate(gen, 8, 3, 1.0, 0.002, 0.001);
    const auto b = simulate(gen, 8, 3, 1.0, 0.002, 0.001);
    const Judgement j = judge(a, b, 0.005);
    same += j.verdict == Verdict::kSame;
    wrong += j.verdict == Verdict::kFaster || j.verdict == Verdict::kSlower;
  }
  EXPECT_LE(wrong, trials * 5 / 100);
  EXPECT_GE(same, trials * 90 / 100);
}

TEST(Stats, PlantedSlowdownFoundWithRightMagnitude) {
  std::mt19937_64 gen(8);
  const auto a = simulate(gen, 8, 3, 1.0, 0.002, 0.001);
  const auto b = simulate(gen, 8, 3, 1.02, 0.002, 0.001);  // +2%
  const Judgement j = judge(a, b, 0.005);
  EXPECT_EQ(j.verdict, Verdict::kSlower) << j.explanation;
  EXPECT_NEAR(j.interval.ratio, 1.02, 0.003);
  EXPECT_LT(j.interval.low, 1.02);
  EXPECT_GT(j.interval.high, 1.02);
  EXPECT_EQ(j.base_units, 8);
  const Judgement f = judge(b, a, 0.005);
  EXPECT_EQ(f.verdict, Verdict::kFaster);
}

TEST(Stats, OneOrTwoProcessesNeverGiveAVerdict) {
  // v1 treated the runs of one process as independent: 29% false verdicts in A/A.
  std::mt19937_64 gen(13);
  for (int processes : {1, 2}) {
    const auto a = simulate(gen, processes, 15, 1.0, 0.0023, 0.005);
    const auto b = simulate(gen, processes, 15, 1.10, 0.0023, 0.005);  // even +10%
    const Judgement j = judge(a, b, 0.005);
    EXPECT_EQ(j.verdict, Verdict::kInconclusive) << j.explanation;
    EXPECT_NE(j.explanation.find(">= 3 processes a side"), std::string::npos) << j.explanation;
    EXPECT_NE(j.explanation.find("--fresh-process"), std::string::npos);
  }
}

TEST(Stats, NestedProcessNoiseIsNotMistakenForAChange) {
  // 8 fresh processes a side, 0.62% process-to-process spread, 0.23% inside a process:
  // pooling the 64 runs as independent would call many A/A pairs different.
  std::mt19937_64 gen(9);
  int wrong = 0;
  const int trials = 100;
  for (int t = 0; t < trials; ++t) {
    const auto a = simulate(gen, 8, 8, 1.0, 0.0023, 0.0062);
    const auto b = simulate(gen, 8, 8, 1.0, 0.0023, 0.0062);
    const Judgement j = judge(a, b, 0.005);
    wrong += j.verdict == Verdict::kFaster || j.verdict == Verdict::kSlower;
  }
  EXPECT_LE(wrong, trials * 5 / 100);
}

TEST(Stats, NoisyComparisonsAreInconclusiveWithPowerAdvice) {
  std::mt19937_64 gen(10);
  const auto a = simulate(gen, 3, 4, 1.0, 0.01, 0.01);
  const auto b = simulate(gen, 3, 4, 1.012, 0.01, 0.01);
  const Judgement j = judge(a, b, 0.005);
  EXPECT_EQ(j.verdict, Verdict::kInconclusive) << j.explanation;
  EXPECT_GT(j.more_processes_needed, 0);
  EXPECT_EQ(j.more_runs_needed, j.more_processes_needed * 4);
  EXPECT_NE(j.explanation.find("more processes per side for 80% power"), std::string::npos) << j.explanation;
  // Following the advice (the same true effect and noise, that many processes) mostly decides.
  int decided = 0;
  for (int t = 0; t < 50; ++t) {
    const int n = 3 + j.more_processes_needed;
    const Judgement k = judge(simulate(gen, n, 4, 1.0, 0.01, 0.01), simulate(gen, n, 4, 1.012, 0.01, 0.01), 0.005);
    decided += k.verdict != Verdict::kInconclusive;
  }
  EXPECT_GE(decided, 25) << "advised " << j.more_processes_needed << " more processes";
}

TEST(Stats, ManyKernelsWithFdrControl) {
  // 200 unchanged kernels and one 5% slower: only that one is called slower.
  std::mt19937_64 gen(11);
  std::vector<std::vector<Sample>> base, cand;
  for (int k = 0; k < 201; ++k) {
    base.push_back(simulate(gen, 8, 3, 1.0, 0.002, 0.005));
    cand.push_back(simulate(gen, 8, 3, k == 57 ? 1.05 : 1.0, 0.002, 0.005));
  }
  const auto j = judge_many(base, cand, 0.003);
  int slower = 0;
  for (size_t k = 0; k < j.size(); ++k) slower += j[k].verdict == Verdict::kSlower;
  EXPECT_EQ(j[57].verdict, Verdict::kSlower) << j[57].explanation;
  EXPECT_TRUE(j[57].in_family);
  EXPECT_EQ(slower, 1);
}

TEST(Stats, PairedAnalysisCancelsDriftSharedByAPair) {
  // ABBA pairs drifting by 4% from pair to pair (clocks, temperature): Welch on the process
  // means sees the drift as noise; the paired analysis removes it and finds the +2%.
  std::mt19937_64 gen(14);
  std::normal_distribution<double> n01(0.0, 1.0);
  std::vector<Sample> base, cand;
  for (int pair = 0; pair < 8; ++pair) {
    const double drift = std::exp(0.04 * n01(gen));
    for (int r = 0; r < 3; ++r) {
      base.push_back({drift * std::exp(0.001 * n01(gen)), pair});
      cand.push_back({1.02 * drift * std::exp(0.001 * n01(gen)), pair});
    }
  }
  const WelchLog paired = paired_log_process_means(base, cand);
  EXPECT_TRUE(paired.paired && paired.valid);
  EXPECT_EQ(paired.base_processes, 8);
  EXPECT_EQ(paired.df, 7);
  const Judgement p = judge_comparison(paired, 3, 0.005);
  EXPECT_EQ(p.verdict, Verdict::kSlower) << p.explanation;
  EXPECT_NE(p.explanation.find("ABBA pairs"), std::string::npos);
  const Judgement w = judge(base, cand, 0.005);
  EXPECT_EQ(w.verdict, Verdict::kInconclusive) << w.explanation;
  // Pocock's nominal levels keep 0.05 over repeated looks; beyond the table: Bonferroni.
  EXPECT_DOUBLE_EQ(sequential_nominal_alpha(1, 0.05), 0.05);
  EXPECT_DOUBLE_EQ(sequential_nominal_alpha(9, 0.05), 0.0112);
  EXPECT_DOUBLE_EQ(sequential_nominal_alpha(20, 0.05), 0.05 / 20);
  EXPECT_DOUBLE_EQ(sequential_nominal_alpha(3, 0.01), 0.01 / 3);
}

TEST(Stats, RunIndexEffectIsModelledWhenLayoutsDiffer) {
  // H200-like: the first run of every process 3% faster. The base keeps its first runs, the
  // candidate's reports dropped them (runs 1, 2 only): without the run-index model the base
  // looks 1% faster and a same-speed candidate is called slower.
  std::mt19937_64 gen(15);
  std::normal_distribution<double> n01(0.0, 1.0);
  int wrong_plain = 0, wrong_modelled = 0;
  for (int t = 0; t < 40; ++t) {
    std::vector<Sample> base, cand, base_plain, cand_plain;
    for (int p = 0; p < 8; ++p) {
      const double pb = std::exp(0.002 * n01(gen)), pc = std::exp(0.002 * n01(gen));
      for (int r = 0; r < 3; ++r) {
        const double v = pb * (r == 0 ? 0.97 : 1.0) * std::exp(0.0005 * n01(gen));
        base.push_back({v, p, r});
        base_plain.push_back({v, p});
      }
      for (int r = 1; r < 3; ++r) {
        const double v = pc * std::exp(0.0005 * n01(gen));
        cand.push_back({v, p, r});
        cand_plain.push_back({v, p});
      }
    }
    const Verdict plain = judge(base_plain, cand_plain, 0.005).verdict, modelled = judge(base, cand, 0.005).verdict;
    wrong_plain += plain == Verdict::kSlower || plain == Verdict::kFaster;
    wrong_modelled += modelled == Verdict::kSlower || modelled == Verdict::kFaster;
  }
  EXPECT_GE(wrong_plain, 30) << "the unmodelled judge should be fooled here (the test's premise)";
  EXPECT_EQ(wrong_modelled, 0);
}

TEST(Stats, NonFiniteAndZeroTimingsGiveNoVerdictAndNoNan) {
  // NaN in std::sort is undefined behaviour; 0/0 ratios were printed as -nan.
  const double nan = std::nan("");
  EXPECT_EQ(median({1.0, nan, 3.0, 2.0}), 2.5);  // NaN sorts last: [1, 2, 3, NaN]
  EXPECT_EQ(mann_whitney_p({1.0, nan, 2.0}, {3.0, 4.0, 5.0}), 1.0);
  const std::vector<double> p = benjamini_hochberg({0.01, nan, 0.04});
  EXPECT_EQ(p.size(), 3u);
  std::mt19937_64 gen(12);
  const auto good = simulate(gen, 4, 3, 1.0, 0.01, 0.0);
  for (double bad : {nan, 0.0, -1.0, HUGE_VAL}) {
    auto with_bad = good;
    with_bad[3].value = bad;
    for (const Judgement& j : {judge(good, with_bad, 0.005), judge(with_bad, good, 0.005),
                               judge_many({good}, {with_bad}, 0.005)[0]}) {
      EXPECT_EQ(j.verdict, Verdict::kInconclusive) << bad;
      EXPECT_TRUE(std::isfinite(j.interval.ratio) && std::isfinite(j.interval.low) && std::isfinite(j.interval.high));
      EXPECT_TRUE(std::isfinite(j.p_value));
    }
  }
}

}  // namespace
}  // namespace wan::stats
