// Judging a timing difference against noise (HARNESS.md), version 2. The unit of evidence is
// the PROCESS: runs inside one process share its state (clocks, allocation, code placement) and
// are not independent, so every test works on per-process means of log durations.
//  - Estimate: d = mean of the candidate's log process means - the base's (ratio = e^d, the
//    ratio of geometric means); Welch's t with Satterthwaite degrees of freedom; a t interval.
//  - Interval-null (minimum-effect) p-values against delta = log(1 + min_effect): "slower"
//    tests H0 d <= delta, "faster" H0 d >= -delta (one-sided each, the change p-value is twice
//    the smaller, so one p per comparison), "same" is TOST (H0 |d| >= delta).
//  - Many comparisons: only comparisons whose estimate lies beyond +-delta can show a change;
//    the others are left out of the family before Benjamini-Hochberg (they are never called
//    changed), so one changed kernel among hundreds keeps its power.
//  - Run-index effects (on the H200 the first run of every process is the fastest): when every
//    sample carries its run index, log time is fitted as process effect + run-index effect
//    (both sides together, least squares by backfitting) and the process effects are the
//    process means, so layouts with different runs per process compare without bias.
//  - Fewer than 3 processes a side: no verdict (inconclusive) and an explanation of what to run.
//  - Advice: processes per side for 80% power at the observed effect (or to show "same").
// The percentile bootstrap of the median ratio (v1) is kept for reports that show medians.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace wan::stats {

struct Sample {
  double value;     // seconds (or any positive duration)
  int process = 0;  // which process measured it
  int run = -1;     // its run index inside the process (0 = first), -1 unknown
};

double median(std::vector<double> v);
double quantile(std::vector<double> v, double q);  // linear interpolation, q in [0, 1]

// Two-sided Mann-Whitney U test (normal approximation with tie and continuity corrections).
// Returns the p-value; 1.0 when either side is empty.
double mann_whitney_p(const std::vector<double>& a, const std::vector<double>& b);

struct RatioInterval {
  double ratio = 1.0;  // median(cand) / median(base)
  double low = 1.0, high = 1.0;  // 95% bootstrap percentile interval
};
// Hierarchical bootstrap of median(cand)/median(base). Deterministic for a given seed.
RatioInterval bootstrap_median_ratio(const std::vector<Sample>& base, const std::vector<Sample>& cand,
                                     int resamples = 4000, uint64_t seed = 1);

// Benjamini-Hochberg adjusted p-values (same order as the input).
std::vector<double> benjamini_hochberg(const std::vector<double>& p);

// Student's t distribution: CDF and quantile (df > 0; regularized incomplete beta).
double student_t_cdf(double t, double df);
double student_t_quantile(double p, double df);

// exp(log_ratio) with the exponent clamped to +-700, so a ratio from log space is always finite
// (exp(709) is the largest double): a kernel time of 5e114 us beside 50 us, or a wide
// interval at few degrees of freedom, gave inf, written to the report as null.
double ratio_from_log(double log_ratio);

// Welch's comparison of log process means: the base of every verdict.
struct WelchLog {
  int base_processes = 0, cand_processes = 0;
  double d = 0;       // mean log(cand) - mean log(base)
  double se = 0;      // Welch standard error of d
  double df = 0;      // Satterthwaite degrees of freedom
  double base_sd = 0, cand_sd = 0;  // sd of the log process means
  double within_sd = 0;  // pooled sd of log runs around their process mean (noise inside processes)
  bool valid = false;    // >= 2 processes a side and finite positive durations
  bool paired = false;   // paired_log_process_means: d and se over ABBA pairs
};
WelchLog welch_log_process_means(const std::vector<Sample>& base, const std::vector<Sample>& cand);

// The paired analysis of interleaved A/B processes (`repro ab`'s ABBA order): Sample::process
// is the PAIR index on both sides (base process k and candidate process k ran next to each
// other). d = mean over pairs of (log mean cand_k - log mean base_k), se = sd / sqrt(pairs),
// df = pairs - 1: drift shared by the two processes of a pair cancels. Pairs missing on one
// side are dropped; base/cand_processes report the pairs used.
WelchLog paired_log_process_means(const std::vector<Sample>& base, const std::vector<Sample>& cand);

// The difference of means (cand - base) of per-process means in the samples' own unit (not
// log: for additive splits such as end to end = kernels + unexplained, which can be negative),
// with its Welch t interval at level 1 - alpha. valid: >= 2 processes a side.
struct DifferenceInterval {
  double delta = 0, low = 0, high = 0;
  bool valid = false;
};
DifferenceInterval welch_difference(const std::vector<Sample>& base, const std::vector<Sample>& cand, double alpha = 0.05);

// Group-sequential looks: the nominal two-sided level of each of `looks` equally spaced
// analyses that keeps the overall level `alpha` (Pocock's constants for alpha = 0.05, looks
// 1..10; Bonferroni alpha / looks otherwise, which is conservative).
double sequential_nominal_alpha(int looks, double alpha);

// The one-sided minimum-effect p-values of a Welch comparison (delta = log(1 + min_effect)).
struct EffectTests {
  double p_slower = 1, p_faster = 1, p_change = 1, p_same = 1;
};
EffectTests minimum_effect_tests(const WelchLog& w, double min_effect);

enum class Verdict { kFaster, kSlower, kSame, kInconclusive };
const char* verdict_name(Verdict v);  // "faster", "slower", "same", "inconclusive"

struct Judgement {
  Verdict verdict = Verdict::kInconclusive;
  RatioInterval interval;       // e^d with its (1 - alpha) Welch t interval
  double p_value = 1.0;         // minimum-effect change p-value (2 x the smaller one-sided p)
  double p_adjusted = 1.0;      // after Benjamini-Hochberg over the family (set by judge_many)
  double p_same = 1.0;          // TOST p-value for |change| < min_effect
  double min_effect = 0.005;    // relative
  bool in_family = true;        // judge_many: estimate beyond +-min_effect, part of the FDR family
  // For inconclusive: more processes per side for 80% power (runs: that times runs per process).
  int more_runs_needed = 0;
  int more_processes_needed = 0;
  int runs_per_process = 0;
  int base_units = 0, cand_units = 0;  // processes on each side (the units of every test)
  WelchLog welch;
  std::string explanation;
};

// One comparison: "slower"/"faster" need p_adjusted < alpha for a change beyond min_effect in
// that direction; "same" needs the TOST p < alpha; any verdict needs >= 3 processes a side;
// otherwise inconclusive.
Judgement judge(const std::vector<Sample>& base, const std::vector<Sample>& cand, double min_effect,
                double alpha = 0.05, double p_adjusted = -1);
// The same verdict rules on a prepared comparison (welch_log_process_means or the paired one);
// runs_per_process for the advice.
Judgement judge_comparison(const WelchLog& w, int runs_per_process, double min_effect, double alpha = 0.05,
                           double p_adjusted = -1);

// Many comparisons with false-discovery-rate control: p-values adjusted together, then judged.
std::vector<Judgement> judge_many(const std::vector<std::vector<Sample>>& base,
                                  const std::vector<std::vector<Sample>>& cand, double min_effect,
                                  double alpha = 0.05);
// The same with one minimum effect per comparison (relative to each base median).
std::vector<Judgement> judge_many(const std::vector<std::vector<Sample>>& base,
                                  const std::vector<std::vector<Sample>>& cand,
                                  const std::vector<double>& min_effects, double alpha = 0.05);

}  // namespace wan::stats
