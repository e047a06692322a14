// Judging a timing difference against noise (HARNESS.md): a three-way verdict from a bootstrap
// confidence interval of the ratio of medians, a Mann-Whitney U test, a minimum effect size,
// and Benjamini-Hochberg control across many comparisons. Samples carry the process they came
// from: the bootstrap resamples processes, then runs within them (runs are nested in
// processes, whose medians differ more than runs inside one), and the U test uses per-process
// medians once each side has enough processes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace wan::stats {

struct Sample {
  double value;     // seconds (or any positive duration)
  int process = 0;  // which process measured it
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

enum class Verdict { kFaster, kSlower, kSame, kInconclusive };
const char* verdict_name(Verdict v);  // "faster", "slower", "same", "inconclusive"

struct Judgement {
  Verdict verdict = Verdict::kInconclusive;
  RatioInterval interval;
  double p_value = 1.0;         // U test
  double p_adjusted = 1.0;      // after Benjamini-Hochberg (set by judge_many)
  double min_effect = 0.005;    // relative
  int more_runs_needed = 0;     // for inconclusive: about how many more units (processes when
                                // each side has >= 3 processes, else runs) per side
  int base_units = 0, cand_units = 0;  // independent units the U test used
  std::string explanation;
};

// One comparison: "slower"/"faster" need p_adjusted < alpha AND the whole interval beyond
// +-min_effect; "same" needs the whole interval inside +-min_effect; any verdict needs >= 3
// units a side; otherwise inconclusive.
Judgement judge(const std::vector<Sample>& base, const std::vector<Sample>& cand, double min_effect,
                double alpha = 0.05, double p_adjusted = -1);

// Many comparisons with false-discovery-rate control: p-values adjusted together, then judged.
std::vector<Judgement> judge_many(const std::vector<std::vector<Sample>>& base,
                                  const std::vector<std::vector<Sample>>& cand, double min_effect,
                                  double alpha = 0.05);
// The same with one minimum effect per comparison (relative to each base median).
std::vector<Judgement> judge_many(const std::vector<std::vector<Sample>>& base,
                                  const std::vector<std::vector<Sample>>& cand,
                                  const std::vector<double>& min_effects, double alpha = 0.05);

}  // namespace wan::stats
