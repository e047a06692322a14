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

namespace {

// Continued fraction of the regularized incomplete beta (Lentz), x in (0, 1).
double beta_continued_fraction(double a, double b, double x) {
  constexpr double kTiny = 1e-300;
  double c = 1.0, d = 1.0 - (a + b) * x / (a + 1.0);
  if (std::fabs(d) < kTiny) d = kTiny;
  d = 1.0 / d;
  double h = d;
  for (int m = 1; m <= 300; ++m) {
    const double m2 = 2.0 * m;
    double aa = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));
    d = 1.0 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1.0 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    h *= d * c;
    aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));
    d = 1.0 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1.0 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    const double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1.0) < 1e-15) break;
  }
  return h;
}

double regularized_beta(double a, double b, double x) {
  if (x <= 0) return 0.0;
  if (x >= 1) return 1.0;
  const double front = std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x));
  if (x < (a + 1.0) / (a + b + 2.0)) return front * beta_continued_fraction(a, b, x) / a;
  return 1.0 - front * beta_continued_fraction(b, a, 1.0 - x) / b;
}

// The run-index effects of both sides together: log x = process effect + run effect, fitted by
// backfitting (alternating means, 50 sweeps), run effects centred. Empty when any sample lacks
// its run index or all share one index (nothing to model).
std::map<int, double> run_index_offsets(const std::vector<Sample>& a, const std::vector<Sample>& b) {
  std::map<int, double> offset;
  std::map<std::pair<int, int>, std::vector<std::pair<int, double>>> by_proc;  // (side, process) -> (run, log x)
  for (int side = 0; side < 2; ++side)
    for (const Sample& x : side == 0 ? a : b) {
      if (x.run < 0) return {};
      by_proc[{side, x.process}].push_back({x.run, std::log(x.value)});
      offset[x.run] = 0.0;
    }
  if (offset.size() < 2) return {};
  for (int sweep = 0; sweep < 50; ++sweep) {
    std::map<int, std::pair<double, int>> acc;
    for (const auto& [key, runs] : by_proc) {
      double mu = 0;
      for (const auto& [r, v] : runs) mu += v - offset[r];
      mu /= static_cast<double>(runs.size());
      for (const auto& [r, v] : runs) {
        acc[r].first += v - mu;
        acc[r].second += 1;
      }
    }
    double centre = 0;
    for (auto& [r, o] : offset) {
      o = acc[r].first / acc[r].second;
      centre += o;
    }
    centre /= static_cast<double>(offset.size());
    for (auto& [r, o] : offset) o -= centre;
  }
  return offset;
}

std::vector<double> log_process_means(const std::vector<Sample>& s, const std::map<int, double>& offsets,
                                      double* within_ss, int* within_df) {
  std::map<int, std::vector<double>> groups;
  for (const Sample& x : s) {
    const auto o = offsets.find(x.run);
    groups[x.process].push_back(std::log(x.value) - (o == offsets.end() ? 0.0 : o->second));
  }
  std::vector<double> means;
  for (const auto& [p, g] : groups) {
    double sum = 0;
    for (double v : g) sum += v;
    const double mean = sum / static_cast<double>(g.size());
    for (double v : g) *within_ss += (v - mean) * (v - mean);
    *within_df += static_cast<int>(g.size()) - 1;
    means.push_back(mean);
  }
  return means;
}

void mean_var(const std::vector<double>& x, double* mean, double* var) {
  double m = 0;
  for (double v : x) m += v;
  m /= static_cast<double>(x.size());
  double ss = 0;
  for (double v : x) ss += (v - m) * (v - m);
  *mean = m;
  *var = x.size() > 1 ? ss / static_cast<double>(x.size() - 1) : 0.0;
}

// A verdict other than "inconclusive" needs at least this many processes a side.
constexpr int kMinProcesses = 3;
constexpr double kPowerZ = 0.8416212335729143;  // z_{0.8}: 80% power

}  // namespace

double student_t_cdf(double t, double df) {
  if (std::isnan(t) || !(df > 0)) return NAN;
  if (std::isinf(t)) return t > 0 ? 1.0 : 0.0;
  const double x = df / (df + t * t);
  const double tail = 0.5 * regularized_beta(df / 2.0, 0.5, x);  // P(T > |t|)
  return t > 0 ? 1.0 - tail : tail;
}

double student_t_quantile(double p, double df) {
  if (!(p > 0 && p < 1) || !(df > 0)) return NAN;
  double lo = -1e3, hi = 1e3;
  for (int i = 0; i < 64; ++i) {  // bisection: monotone, robust for every df (2000 / 2^64)
    const double mid = 0.5 * (lo + hi);
    (student_t_cdf(mid, df) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

WelchLog welch_log_process_means(const std::vector<Sample>& base, const std::vector<Sample>& cand) {
  WelchLog w;
  if (!usable(base) || !usable(cand) || base.empty() || cand.empty()) return w;
  double within_ss = 0;
  int within_df = 0;
  const std::map<int, double> offsets = run_index_offsets(base, cand);
  const std::vector<double> xb = log_process_means(base, offsets, &within_ss, &within_df);
  const std::vector<double> xc = log_process_means(cand, offsets, &within_ss, &within_df);
  w.base_processes = static_cast<int>(xb.size());
  w.cand_processes = static_cast<int>(xc.size());
  w.within_sd = within_df > 0 ? std::sqrt(within_ss / within_df) : 0.0;
  double mb, vb, mc, vc;
  mean_var(xb, &mb, &vb);
  mean_var(xc, &mc, &vc);
  w.d = mc - mb;
  w.base_sd = std::sqrt(vb);
  w.cand_sd = std::sqrt(vc);
  if (xb.size() < 2 || xc.size() < 2) return w;
  const double qb = vb / static_cast<double>(xb.size()), qc = vc / static_cast<double>(xc.size());
  w.se = std::sqrt(qb + qc);
  if (!(w.se > 0)) {  // identical process means: no noise estimate; an exact tie or an exact shift
    w.se = 0;
    w.df = static_cast<double>(xb.size() + xc.size() - 2);
    w.valid = true;
    return w;
  }
  w.df = (qb + qc) * (qb + qc) /
         (qb * qb / static_cast<double>(xb.size() - 1) + qc * qc / static_cast<double>(xc.size() - 1));
  w.valid = true;
  return w;
}

EffectTests minimum_effect_tests(const WelchLog& w, double min_effect) {
  EffectTests e;
  if (!w.valid) return e;
  const double delta = std::log1p(min_effect);
  if (w.se == 0) {  // no noise: the estimate is exact
    e.p_slower = w.d > delta ? 0.0 : 1.0;
    e.p_faster = w.d < -delta ? 0.0 : 1.0;
    e.p_same = std::fabs(w.d) < delta ? 0.0 : 1.0;
  } else {
    e.p_slower = 1.0 - student_t_cdf((w.d - delta) / w.se, w.df);  // H0: d <= delta
    e.p_faster = student_t_cdf((w.d + delta) / w.se, w.df);        // H0: d >= -delta
    const double p_above = 1.0 - student_t_cdf((w.d + delta) / w.se, w.df);  // H0: d <= -delta
    const double p_below = student_t_cdf((w.d - delta) / w.se, w.df);        // H0: d >= delta
    e.p_same = std::max(p_above, p_below);
  }
  e.p_change = std::min(1.0, 2.0 * std::min(e.p_slower, e.p_faster));
  return e;
}

WelchLog paired_log_process_means(const std::vector<Sample>& base, const std::vector<Sample>& cand) {
  WelchLog w;
  if (!usable(base) || !usable(cand) || base.empty() || cand.empty()) return w;
  const std::map<int, double> offsets = run_index_offsets(base, cand);
  auto log_means = [&](const std::vector<Sample>& s) {
    std::map<int, std::pair<double, int>> acc;
    for (const Sample& x : s) {
      const auto o = offsets.find(x.run);
      acc[x.process].first += std::log(x.value) - (o == offsets.end() ? 0.0 : o->second);
      acc[x.process].second += 1;
    }
    std::map<int, double> out;
    for (const auto& [k, v] : acc) out[k] = v.first / v.second;
    return out;
  };
  const std::map<int, double> mb = log_means(base), mc = log_means(cand);
  std::vector<double> diffs;
  for (const auto& [k, b] : mb) {
    const auto c = mc.find(k);
    if (c != mc.end()) diffs.push_back(c->second - b);
  }
  w.base_processes = w.cand_processes = static_cast<int>(diffs.size());
  w.paired = true;
  if (diffs.empty()) return w;
  double mean, var;
  mean_var(diffs, &mean, &var);
  w.d = mean;
  w.base_sd = w.cand_sd = std::sqrt(var / 2.0);  // per-side sd if the two sides were independent
  if (diffs.size() < 2) return w;
  w.se = std::sqrt(var / static_cast<double>(diffs.size()));
  w.df = static_cast<double>(diffs.size() - 1);
  w.valid = true;
  return w;
}

DifferenceInterval welch_difference(const std::vector<Sample>& base, const std::vector<Sample>& cand, double alpha) {
  DifferenceInterval r;
  auto process_means = [](const std::vector<Sample>& s) {
    std::vector<double> means;
    for (const auto& g : by_process(s)) {
      double sum = 0;
      for (double x : g) sum += x;
      means.push_back(sum / static_cast<double>(g.size()));
    }
    return means;
  };
  for (const auto* side : {&base, &cand})
    for (const Sample& x : *side)
      if (!std::isfinite(x.value)) return r;
  const std::vector<double> xb = process_means(base), xc = process_means(cand);
  if (xb.empty() || xc.empty()) return r;
  double mb, vb, mc, vc;
  mean_var(xb, &mb, &vb);
  mean_var(xc, &mc, &vc);
  r.delta = r.low = r.high = mc - mb;
  if (xb.size() < 2 || xc.size() < 2) return r;
  const double qb = vb / static_cast<double>(xb.size()), qc = vc / static_cast<double>(xc.size());
  const double se = std::sqrt(qb + qc);
  r.valid = true;
  if (!(se > 0)) return r;
  const double df = (qb + qc) * (qb + qc) /
                    (qb * qb / static_cast<double>(xb.size() - 1) + qc * qc / static_cast<double>(xc.size() - 1));
  const double t = student_t_quantile(1.0 - alpha / 2.0, df);
  r.low = r.delta - t * se;
  r.high = r.delta + t * se;
  return r;
}

double sequential_nominal_alpha(int looks, double alpha) {
  // Pocock (1977), two-sided overall 0.05: nominal level per look for K = 1..10 looks.
  static const double kPocock05[] = {0.05, 0.0294, 0.0221, 0.0182, 0.0158, 0.0142, 0.0130, 0.0120, 0.0112, 0.0106};
  if (looks < 1) looks = 1;
  if (std::fabs(alpha - 0.05) < 1e-12 && looks <= 10) return kPocock05[looks - 1];
  return alpha / looks;
}

double ratio_from_log(double log_ratio) {
  constexpr double kMaxLogRatio = 700.0;
  return std::exp(std::clamp(log_ratio, -kMaxLogRatio, kMaxLogRatio));
}

Judgement judge(const std::vector<Sample>& base, const std::vector<Sample>& cand, double min_effect, double alpha,
                double p_adjusted) {
  if (!usable(base) || !usable(cand)) {
    Judgement j;
    j.min_effect = min_effect;
    j.verdict = Verdict::kInconclusive;
    j.explanation = "no verdict: some timings are zero, negative or not finite";
    return j;
  }
  const WelchLog w = welch_log_process_means(base, cand);
  const int runs_per_process = static_cast<int>(std::max(base.size() / std::max(1, w.base_processes),
                                                         cand.size() / std::max(1, w.cand_processes)));
  return judge_comparison(w, runs_per_process, min_effect, alpha, p_adjusted);
}

Judgement judge_comparison(const WelchLog& welch, int runs_per_process, double min_effect, double alpha,
                           double p_adjusted) {
  Judgement j;
  j.min_effect = min_effect;
  j.welch = welch;
  const WelchLog& w = j.welch;
  j.base_units = w.base_processes;
  j.cand_units = w.cand_processes;
  j.runs_per_process = runs_per_process;
  const EffectTests e = minimum_effect_tests(w, min_effect);
  j.p_value = e.p_change;
  j.p_same = e.p_same;
  j.p_adjusted = p_adjusted >= 0 ? p_adjusted : j.p_value;
  j.interval.ratio = ratio_from_log(w.d);
  const double t = w.valid && w.se > 0 ? student_t_quantile(1.0 - alpha / 2.0, w.df) : 0.0;
  j.interval.low = ratio_from_log(w.d - t * w.se);
  j.interval.high = ratio_from_log(w.d + t * w.se);
  const double delta = std::log1p(min_effect);
  std::ostringstream why;
  why.precision(3);
  const bool enough = w.base_processes >= kMinProcesses && w.cand_processes >= kMinProcesses;
  if (!enough) {
    j.verdict = Verdict::kInconclusive;
    j.more_processes_needed = kMinProcesses - std::min(w.base_processes, w.cand_processes);
    why << "no verdict from " << w.base_processes << " v " << w.cand_processes
        << " processes: runs inside one process are not independent, and a verdict needs >= " << kMinProcesses
        << " processes a side (run `repro ab`, or `repro run --runs N --fresh-process` on each side)";
  } else if (j.p_adjusted < alpha && e.p_slower <= e.p_faster && w.d > delta) {
    j.verdict = Verdict::kSlower;
  } else if (j.p_adjusted < alpha && e.p_faster < e.p_slower && w.d < -delta) {
    j.verdict = Verdict::kFaster;
  } else if (e.p_same < alpha) {
    j.verdict = Verdict::kSame;
  } else {
    j.verdict = Verdict::kInconclusive;
    // Processes per side for 80% power: a change test at the observed distance beyond delta,
    // or a TOST at the observed distance inside it (normal approximation, the observed noise).
    const double sd = std::sqrt(0.5 * (w.base_sd * w.base_sd + w.cand_sd * w.cand_sd));
    const double gap = std::fabs(std::fabs(w.d) - delta);
    const double z_alpha = std::fabs(w.d) > delta ? -student_t_quantile(alpha / 2.0, 1e6) : -student_t_quantile(alpha, 1e6);
    const double z_beta = std::fabs(w.d) > delta ? kPowerZ : -student_t_quantile(0.1, 1e6);  // TOST: 2 sides
    const int n = std::min(w.base_processes, w.cand_processes);
    constexpr double kMaxAdvice = 1e5;
    double needed = kMaxAdvice;
    if (gap > 1e-12 && sd > 0) needed = 2.0 * sd * sd * (z_alpha + z_beta) * (z_alpha + z_beta) / (gap * gap);
    j.more_processes_needed = static_cast<int>(std::max(1.0, std::min(kMaxAdvice, std::ceil(needed) - n)));
  }
  j.more_runs_needed = j.more_processes_needed * std::max(1, j.runs_per_process);
  why << std::fixed << (enough ? "" : "; ") << "geometric-mean ratio " << j.interval.ratio
      << " [" << j.interval.low << ", " << j.interval.high << "] ("
      << (w.paired ? "paired t on log process means of " : "Welch t on log process means, ") << w.base_processes
      << (w.paired ? " ABBA pairs" : " v " + std::to_string(w.cand_processes) + " processes") << ", df " << w.df
      << "), change p " << j.p_adjusted
      << ", same p " << j.p_same << ", min effect " << min_effect * 100 << "%";
  if (j.verdict == Verdict::kInconclusive && enough)
    why << "; about " << j.more_processes_needed << " more processes per side for 80% power";
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
  // The family: comparisons whose estimate lies beyond +-min_effect (only they can be called
  // changed; the others have change p >= 0.5 and would only dilute the FDR step).
  std::vector<size_t> family;
  std::vector<double> p;
  for (size_t i = 0; i < base.size(); ++i) {
    const WelchLog w = welch_log_process_means(base[i], cand[i]);
    if (!w.valid || std::fabs(w.d) <= std::log1p(min_effects[i])) continue;
    family.push_back(i);
    p.push_back(minimum_effect_tests(w, min_effects[i]).p_change);
  }
  const std::vector<double> adjusted = benjamini_hochberg(p);
  std::vector<double> p_adj(base.size(), 1.0);
  std::vector<bool> member(base.size(), false);
  for (size_t k = 0; k < family.size(); ++k) {
    p_adj[family[k]] = adjusted[k];
    member[family[k]] = true;
  }
  std::vector<Judgement> out;
  for (size_t i = 0; i < base.size(); ++i) {
    out.push_back(judge(base[i], cand[i], min_effects[i], alpha, p_adj[i]));
    out.back().in_family = member[i];
  }
  return out;
}

}  // namespace wan::stats
