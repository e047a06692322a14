#include "harness/stats.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <sstream>

namespace wan::stats {

double median(std::vector<double> v) { return quantile(std::move(v), 0.5); }

namespace {
// A strict weak order even with NaN (sorted last): plain < on NaN is undefined for std::sort.
bool nan_last(double a, double b) { return std::isnan(b) ? !std::isnan(a) : a < b; }

// Durations the judge can use: finite and positive (a zero median makes every ratio 0/0).
bool usable(const std::vector<Sample>& s) {
  return std::all_of(s.begin(), s.end(), [](const Sample& x) { return std::isfinite(x.value) && x.value > 0; });
}
}  // namespace

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end(), nan_last);
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

double mann_whitney_p(const std::vector<double>& a, const std::vector<double>& b) {
  const size_t n1 = a.size(), n2 = b.size();
  if (n1 == 0 || n2 == 0) return 1.0;
  std::vector<std::pair<double, int>> all;
  for (double x : a) all.emplace_back(x, 0);
  for (double x : b) all.emplace_back(x, 1);
  if (std::any_of(all.begin(), all.end(), [](const auto& x) { return std::isnan(x.first); })) return 1.0;
  std::sort(all.begin(), all.end());
  const size_t n = all.size();
  std::vector<double> ranks(n);
  double tie_term = 0.0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j + 1 < n && all[j + 1].first == all[i].first) ++j;
    const double avg = (static_cast<double>(i) + static_cast<double>(j)) / 2.0 + 1.0;
    for (size_t k = i; k <= j; ++k) ranks[k] = avg;
    const double t = static_cast<double>(j - i + 1);
    tie_term += t * t * t - t;
    i = j + 1;
  }
  double r1 = 0.0;
  for (size_t i = 0; i < n; ++i)
    if (all[i].second == 0) r1 += ranks[i];
  const double u1 = r1 - static_cast<double>(n1) * (n1 + 1) / 2.0;
  const double mean_u = static_cast<double>(n1) * n2 / 2.0;
  const double var_u = static_cast<double>(n1) * n2 / 12.0 *
                       ((static_cast<double>(n) + 1) - tie_term / (static_cast<double>(n) * (n - 1)));
  if (var_u <= 0) return 1.0;
  const double z = (std::fabs(u1 - mean_u) - 0.5) / std::sqrt(var_u);
  return std::min(1.0, std::erfc(std::max(0.0, z) / std::sqrt(2.0)));
}

namespace {

// splitmix64: a small deterministic generator for the bootstrap.
struct Rng {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  size_t below(size_t n) { return static_cast<size_t>(next() % n); }
};

std::vector<std::vector<double>> by_process(const std::vector<Sample>& s) {
  std::map<int, std::vector<double>> groups;
  for (const Sample& x : s) groups[x.process].push_back(x.value);
  std::vector<std::vector<double>> out;
  for (auto& [p, v] : groups) out.push_back(std::move(v));
  return out;
}

double resampled_median(const std::vector<std::vector<double>>& groups, Rng& rng, std::vector<double>& scratch) {
  scratch.clear();
  for (size_t g = 0; g < groups.size(); ++g) {
    const auto& chosen = groups[groups.size() == 1 ? 0 : rng.below(groups.size())];
    for (size_t i = 0; i < chosen.size(); ++i) scratch.push_back(chosen[rng.below(chosen.size())]);
  }
  return median(scratch);
}

std::vector<double> values(const std::vector<Sample>& s) {
  std::vector<double> v;
  for (const Sample& x : s) v.push_back(x.value);
  return v;
}

// The independent units for the U test, chosen for both sides together: per-process medians
// when each side has >= 3 processes, else the runs themselves (one process: runs are units).
bool use_process_units(const std::vector<Sample>& a, const std::vector<Sample>& b) {
  return by_process(a).size() >= 3 && by_process(b).size() >= 3;
}

std::vector<double> test_units(const std::vector<Sample>& s, bool per_process) {
  if (!per_process) return values(s);
  std::vector<double> med;
  for (const auto& g : by_process(s)) med.push_back(median(g));
  return med;
}

// A verdict other than "inconclusive" needs at least this many units a side.
constexpr int kMinUnits = 3;

}  // namespace

RatioInterval bootstrap_median_ratio(const std::vector<Sample>& base, const std::vector<Sample>& cand,
                                     int resamples, uint64_t seed) {
  RatioInterval r;
  if (base.empty() || cand.empty() || !usable(base) || !usable(cand)) return r;
  r.ratio = median(values(cand)) / median(values(base));
  const auto gb = by_process(base), gc = by_process(cand);
  Rng rng{seed};
  std::vector<double> ratios, scratch;
  ratios.reserve(resamples);
  for (int i = 0; i < resamples; ++i) {
    const double mb = resampled_median(gb, rng, scratch);
    const double mc = resampled_median(gc, rng, scratch);
    ratios.push_back(mc / mb);
  }
  r.low = quantile(ratios, 0.025);
  r.high = quantile(ratios, 0.975);
  return r;
}

std::vector<double> benjamini_hochberg(const std::vector<double>& p) {
  const size_t m = p.size();
  std::vector<size_t> order(m);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return nan_last(p[a], p[b]); });
  std::vector<double> adjusted(m);
  double running = 1.0;
  for (size_t k = m; k-- > 0;) {
    const size_t i = order[k];
    running = std::min(running, p[i] * static_cast<double>(m) / static_cast<double>(k + 1));
    adjusted[i] = std::min(1.0, running);
  }
  return adjusted;
}

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::kFaster: return "faster";
    case Verdict::kSlower: return "slower";
    case Verdict::kSame: return "same";
    case Verdict::kInconclusive: return "inconclusive";
  }
  return "?";
}

Judgement judge(const std::vector<Sample>& base, const std::vector<Sample>& cand, double min_effect, double alpha,
                double p_adjusted) {
  Judgement j;
  j.min_effect = min_effect;
  if (!usable(base) || !usable(cand)) {
    j.verdict = Verdict::kInconclusive;
    j.explanation = "no verdict: some timings are zero, negative or not finite";
    return j;
  }
  j.interval = bootstrap_median_ratio(base, cand);
  const bool per_process = use_process_units(base, cand);
  const auto ub = test_units(base, per_process), uc = test_units(cand, per_process);
  j.base_units = static_cast<int>(ub.size());
  j.cand_units = static_cast<int>(uc.size());
  j.p_value = mann_whitney_p(ub, uc);
  j.p_adjusted = p_adjusted >= 0 ? p_adjusted : j.p_value;
  const double lo = j.interval.low - 1.0, hi = j.interval.high - 1.0;
  std::ostringstream why;
  const bool enough = j.base_units >= kMinUnits && j.cand_units >= kMinUnits;
  if (!enough) {
    j.verdict = Verdict::kInconclusive;
    j.more_runs_needed = kMinUnits - std::min(j.base_units, j.cand_units);
  } else if (j.p_adjusted < alpha && lo > min_effect) {
    j.verdict = Verdict::kSlower;
  } else if (j.p_adjusted < alpha && hi < -min_effect) {
    j.verdict = Verdict::kFaster;
  } else if (lo >= -min_effect && hi <= min_effect) {
    j.verdict = Verdict::kSame;
  } else {
    j.verdict = Verdict::kInconclusive;
    // The interval half-width shrinks like 1/sqrt(n): runs needed so it fits the gap between
    // the estimate and the +-min_effect boundary it has to clear.
    const double half = (hi - lo) / 2.0, est = j.interval.ratio - 1.0;
    const double gap = std::fabs(std::fabs(est) - min_effect);
    // Counted in the test's units: processes when they are the units, else runs.
    const int n = std::min(j.base_units, j.cand_units);
    constexpr double kMaxAdvice = 1e6;
    if (gap > 1e-12 && half > 0) {
      const double factor = std::min(kMaxAdvice, (half / gap) * (half / gap));
      j.more_runs_needed = static_cast<int>(std::max(1.0, std::min(kMaxAdvice, std::ceil(n * factor) - n)));
    } else {
      j.more_runs_needed = 4 * std::max(1, n);
    }
  }
  why.precision(3);
  why << std::fixed << "median ratio " << j.interval.ratio << " [" << j.interval.low << ", " << j.interval.high
      << "], p " << j.p_adjusted << ", min effect " << min_effect * 100 << "%";
  j.explanation = why.str();
  return j;
}

std::vector<Judgement> judge_many(const std::vector<std::vector<Sample>>& base,
                                  const std::vector<std::vector<Sample>>& cand, double min_effect, double alpha) {
  return judge_many(base, cand, std::vector<double>(base.size(), min_effect), alpha);
}

std::vector<Judgement> judge_many(const std::vector<std::vector<Sample>>& base,
                                  const std::vector<std::vector<Sample>>& cand,
                                  const std::vector<double>& min_effects, double alpha) {
  std::vector<double> p;
  for (size_t i = 0; i < base.size(); ++i) {
    const bool per_process = use_process_units(base[i], cand[i]);
    p.push_back(usable(base[i]) && usable(cand[i])
                    ? mann_whitney_p(test_units(base[i], per_process), test_units(cand[i], per_process))
                    : 1.0);
  }
  const std::vector<double> adjusted = benjamini_hochberg(p);
  std::vector<Judgement> out;
  for (size_t i = 0; i < base.size(); ++i) out.push_back(judge(base[i], cand[i], min_effects[i], alpha, adjusted[i]));
  return out;
}

}  // namespace wan::stats
