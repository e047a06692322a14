#include "harness/compare.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include "harness/atomic_file.h"
#include "harness/hierarchy.h"
#include "harness/kernel_summary.h"
#include "harness/kernel_names.h"
#include "harness/stats.h"

namespace wan {
namespace {

using stats::Sample;

// Kernel names without build-specific anonymous-namespace hashes (harness/kernel_names.h), so a
// kernel keeps its key when its .cu file changes.
std::string name_of(const nlohmann::json& k) { return stable_kernel_name(k.value("name", std::string("?"))); }

std::string key_of(const nlohmann::json& k) {
  return name_of(k) + " @ " + k.value("range", std::string(""));
}

// Per kernel key: one sample per run (total time of that key in the run, ms). by_name sums a
// kernel's launches over all its NVTX ranges (e.g. one attention kernel over every block).
std::map<std::string, std::vector<Sample>> kernel_samples(const nlohmann::json& report, std::map<std::string, nlohmann::json>* shapes,
                                                          bool by_name = false) {
  std::map<std::string, std::vector<Sample>> out;
  for (const auto& run : report["runs"]) {
    if (!run.contains("kernels")) continue;
    const int process = run.value("pid", 0);
    std::map<std::string, double> per_run;
    for (const auto& k : run["kernels"]) per_run[by_name ? name_of(k) : key_of(k)] += k["total_us"].get<double>() / 1e3;
    const int run_index = run.value("run_in_process", -1);
    for (const auto& [key, ms] : per_run) out[key].push_back({ms, process, run_index});
    for (const auto& k : run["kernels"]) {
      const std::string key = by_name ? name_of(k) : key_of(k);
      if (shapes && !shapes->count(key))
        (*shapes)[key] = {{"grid", k["grid"]}, {"block", k["block"]}, {"registers", k["registers"]}, {"smem", k["smem"]}};
    }
  }
  return out;
}

// End to end = the denoising loop (the sum of the step times: every forward, the CFG combine
// and the scheduler step); setup outside the loop (embeddings, noise, the final copy) is
// host work that says nothing about the kernels and is reported separately.
std::vector<Sample> end_to_end(const nlohmann::json& report) {
  std::vector<Sample> out;
  for (const auto& run : report["runs"]) {
    double ms = 0;
    if (run.contains("step_seconds") && !run["step_seconds"].empty()) {
      for (const auto& s : run["step_seconds"]) ms += s.get<double>() * 1e3;
    } else {
      ms = run["seconds"].get<double>() * 1e3;
    }
    out.push_back({ms, run.value("pid", 0), run.value("run_in_process", -1)});
  }
  return out;
}

// `repro ab` marks each run with the index of its ABBA pair (base process k and candidate
// process k ran back to back); with marks on every run of both sides the end-to-end judgement
// is paired by them.
bool has_ab_pairs(const nlohmann::json& report) {
  for (const auto& run : report["runs"])
    if (!run.contains("ab_pair") || !run["ab_pair"].is_number_integer() || run["ab_pair"].get<int64_t>() < 0 ||
        run["ab_pair"].get<int64_t>() > (1 << 20))
      return false;
  return !report["runs"].empty();
}
std::vector<Sample> by_ab_pair(std::vector<Sample> samples, const nlohmann::json& report) {
  size_t i = 0;
  for (const auto& run : report["runs"]) samples[i++].process = static_cast<int>(run["ab_pair"].get<int64_t>());
  return samples;
}

std::vector<Sample> whole_generation(const nlohmann::json& report) {
  std::vector<Sample> out;
  for (const auto& run : report["runs"])
    out.push_back({run["seconds"].get<double>() * 1e3, run.value("pid", 0), run.value("run_in_process", -1)});
  return out;
}

std::vector<double> values(const std::vector<Sample>& s) {
  std::vector<double> v;
  for (const auto& x : s) v.push_back(x.value);
  return v;
}

nlohmann::json judgement_json(const stats::Judgement& j) {
  return {{"verdict", stats::verdict_name(j.verdict)},
          {"ratio", j.interval.ratio},
          {"ci_low", j.interval.low},
          {"ci_high", j.interval.high},
          {"p", j.p_value},
          {"p_adjusted", j.p_adjusted},
          {"min_effect", j.min_effect},
          {"p_same", j.p_same},
          {"in_family", j.in_family},
          {"more_runs_needed", j.more_runs_needed},
          {"more_processes_needed", j.more_processes_needed},
          {"runs_per_process", j.runs_per_process},
          {"units", {j.base_units, j.cand_units}},
          {"method", j.welch.paired ? "paired t on log process means of ABBA pairs, minimum-effect p-values"
                                    : "Welch t on log process means, minimum-effect p-values"},
          {"noise", {{"between_process_sd", std::sqrt(0.5 * (j.welch.base_sd * j.welch.base_sd +
                                                              j.welch.cand_sd * j.welch.cand_sd))},
                     {"within_process_sd", j.welch.within_sd},
                     // the change this layout detects with 80% power beyond the minimum effect (relative)
                     {"detectable_change", j.welch.valid && j.welch.se > 0
                                               ? stats::ratio_from_log(std::log1p(j.min_effect) +
                                                                       (stats::student_t_quantile(0.975, j.welch.df) + 0.8416) * j.welch.se) - 1.0
                                               : 0.0}}},
          {"explanation", j.explanation}};
}

double cv(const std::vector<double>& v) {
  if (v.size() < 2) return 0.0;
  double mean = 0;
  for (double x : v) mean += x;
  mean /= v.size();
  if (!(mean > 0) || !std::isfinite(mean)) return 0.0;
  double var = 0;
  for (double x : v) var += (x - mean) * (x - mean);
  return std::sqrt(var / (v.size() - 1)) / mean;
}

int processes(const std::vector<Sample>& s) {
  std::set<int> p;
  for (const auto& x : s) p.insert(x.process);
  return static_cast<int>(p.size());
}

}  // namespace

Result<nlohmann::json> read_run_report(const std::string& path) {
  WAN_ASSIGN_OR_RETURN(const std::string text, read_file(path));
  const JsonSource source{"run report '" + path + "'",
                          "pass a report written by `repro run --report` (or `repro bench`), or regenerate it"};
  WAN_ASSIGN_OR_RETURN(nlohmann::json report, parse_json(text, source));
  WAN_RETURN_IF_ERROR(validate_run_report(report, source));
  return report;
}

// The runs the timing judgements use: each run marked with its index inside its process
// ("run_in_process", for the run-index model), throttled runs (NVML: a throttle reason, or the
// SM clock below 75% of its maximum) left out unless every run was throttled.
nlohmann::json timing_runs(const nlohmann::json& report, int* excluded) {
  nlohmann::json t = report;
  t["runs"] = nlohmann::json::array();
  std::map<int, int> seen;
  nlohmann::json all = nlohmann::json::array();
  for (const auto& run : report["runs"]) {
    nlohmann::json c = run;
    c["run_in_process"] = seen[run.value("pid", 0)]++;
    all.push_back(c);
    if (run.contains("throttled") && run["throttled"].is_boolean() && run["throttled"].get<bool>()) {
      ++*excluded;
      continue;
    }
    t["runs"].push_back(c);
  }
  if (t["runs"].empty()) {
    t["runs"] = all;
    *excluded = 0;
  }
  return t;
}

static std::string option_value(double v) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", v);
  return text;
}

Status check_compare_options(const CompareOptions& o) {
  const auto fraction = [](double v) { return std::isfinite(v) && v >= 0 && v < 1; };
  if (!fraction(o.end_to_end_min_effect))
    return invalid_argument("--min-effect " + option_value(o.end_to_end_min_effect) +
                            ": needs a fraction in [0, 1), e.g. 0.005 for 0.5%");
  if (!fraction(o.kernel_min_effect))
    return invalid_argument("--kernel-min-effect " + option_value(o.kernel_min_effect) +
                            ": needs a fraction in [0, 1), e.g. 0.003 for 0.3%");
  if (!fraction(o.end_to_end_floor))
    return invalid_argument("end-to-end floor " + option_value(o.end_to_end_floor) + ": needs a fraction in [0, 1)");
  if (!(std::isfinite(o.alpha) && o.alpha > 0 && o.alpha < 0.5))
    return invalid_argument("--alpha " + option_value(o.alpha) + ": needs a number in (0, 0.5), e.g. 0.05");
  return Status();
}

Result<Comparison> compare_run_reports(const nlohmann::json& base_report, const nlohmann::json& cand_report,
                                       const CompareOptions& o) {
  WAN_RETURN_IF_ERROR(check_compare_options(o));
  const std::string fix = "regenerate it with `repro run --report` or `repro bench`";
  WAN_RETURN_IF_ERROR(validate_run_report(base_report, {"base run report", fix}));
  WAN_RETURN_IF_ERROR(validate_run_report(cand_report, {"candidate run report", fix}));
  int throttled_base = 0, throttled_cand = 0;
  const nlohmann::json base = timing_runs(base_report, &throttled_base);
  const nlohmann::json cand = timing_runs(cand_report, &throttled_cand);
  Comparison c;
  nlohmann::json& j = c.json;
  j["schema"] = "wan-repro.compare";
  j["schema_version"] = 1;
  auto side = [](const nlohmann::json& r) {
    const nlohmann::json tool = r.value("tool", nlohmann::json::object());
    const nlohmann::json fp = r.value("fingerprint", nlohmann::json::object());
    const nlohmann::json c = r.value("case", nlohmann::json::object());
    return nlohmann::json{{"commit", tool.value("engine_commit", "")}, {"case_id", r.value("case_id", "")},
                          {"runs", r.at("runs").size()}, {"device", fp.value("gpu_name", fp.value("cpu_model", ""))},
                          {"attention", c.is_object() && c.contains("backend") && c["backend"].is_string()
                                            ? c["backend"].get<std::string>() : std::string("?")}};
  };
  j["base"] = side(base);
  j["cand"] = side(cand);
  j["options"] = {{"end_to_end_min_effect", o.end_to_end_min_effect}, {"kernel_min_effect", o.kernel_min_effect},
                  {"end_to_end_floor", o.end_to_end_floor}, {"alpha", o.alpha}};
  std::vector<std::string> warnings;
  if (throttled_base || throttled_cand)
    warnings.push_back("left out of the timing judgements: " + std::to_string(throttled_base) + " base and " +
                       std::to_string(throttled_cand) + " candidate run(s) measured while the GPU was throttled "
                       "(outputs still compared)");
  if (j["base"]["attention"] != j["cand"]["attention"])
    warnings.push_back("the attention backends differ (" + j["base"]["attention"].get<std::string>() + " vs " +
                       j["cand"]["attention"].get<std::string>() +
                       "): outputs are not expected to be bit-exact and kernels compare different algorithms");
  if (base.value("case", nlohmann::json()) != cand.value("case", nlohmann::json())) warnings.push_back("the two reports describe different cases; timings compare different work");
  if (base.value("fingerprint_class", nlohmann::json()) != cand.value("fingerprint_class", nlohmann::json()))
    warnings.push_back("the environments differ (fingerprint class): noise across machines is larger than within one");
  for (const char* setting : {"kernel_tracing", "cuda_graphs", "warmup_generations"}) {
    if (base.value(setting, nlohmann::json()) != cand.value(setting, nlohmann::json()))
      warnings.push_back(std::string("the runs were measured differently (") + setting + ": " +
                         base.value(setting, nlohmann::json()).dump() + " vs " + cand.value(setting, nlohmann::json()).dump() +
                         "): end-to-end times compare different setups");
  }

  // 1. Outputs.
  std::map<uint64_t, std::set<std::string>> hb, hc;
  // Outputs: every run, throttled or not.
  // `repro exec` runs have no seed (the program chooses its own): they pair with every seed.
  const bool any_exec = base_report.value("kind", "") == "exec" || cand_report.value("kind", "") == "exec";
  const auto seed_of = [&](const nlohmann::json& r) { return any_exec ? uint64_t{0} : r["seed"].get<uint64_t>(); };
  for (const auto& r : base_report["runs"]) hb[seed_of(r)].insert(r["latents_sha1"].get<std::string>());
  for (const auto& r : cand_report["runs"]) hc[seed_of(r)].insert(r["latents_sha1"].get<std::string>());
  std::string outputs = "bit-exact";
  int seeds = 0;
  for (const auto& [seed, set] : hb) {
    if (!hc.count(seed)) continue;
    ++seeds;
    if (set.size() > 1 || hc[seed].size() > 1) outputs = "nondeterministic";
    else if (set != hc[seed] && outputs == "bit-exact") outputs = "mismatch";
  }
  if (seeds == 0) outputs = "no common seed";
  // `repro exec` runs without --hash carry no output hash: nothing to compare.
  const auto unhashed = [](const std::map<uint64_t, std::set<std::string>>& h) {
    for (const auto& [seed, set] : h)
      if (set != std::set<std::string>{kUnhashedOutputs}) return false;
    return !h.empty();
  };
  if (unhashed(hb) || unhashed(hc)) outputs = "not compared (the runs hashed no outputs: pass repro exec --hash GLOB)";
  // Decoded video: the frames hash beside the latents; a change confined to the VAE keeps the
  // latents and changes the frames, and the verdict says so.
  std::map<uint64_t, std::set<std::string>> fb, fc;
  for (const auto& r : base_report["runs"]) fb[seed_of(r)].insert(r.value("frames_sha1", ""));
  for (const auto& r : cand_report["runs"]) fc[seed_of(r)].insert(r.value("frames_sha1", ""));
  std::string frames = "bit-exact";
  bool any_frames = false;
  for (const auto& [seed, set] : fb) {
    if (!fc.count(seed)) continue;
    for (const std::string& h : set) any_frames = any_frames || !h.empty();
    for (const std::string& h : fc[seed]) any_frames = any_frames || !h.empty();
    if (set.size() > 1 || fc[seed].size() > 1) frames = "nondeterministic";
    else if (set != fc[seed] && frames == "bit-exact") frames = "mismatch";
  }
  if (any_frames && outputs == "bit-exact" && frames != "bit-exact")
    outputs = frames == "mismatch" ? "mismatch (decoded frames only: latents are bit-exact, the change is inside the VAE decoder)"
                                   : "nondeterministic (decoded frames)";
  if (base.value("kind", "") == "bench" || cand.value("kind", "") == "bench") outputs = "not applicable (benchmarks)";
  j["outputs"] = {{"verdict", outputs}, {"seeds_compared", seeds}};
  if (any_frames) j["outputs"]["frames_verdict"] = frames;

  // 2. End to end.
  const auto eb = end_to_end(base), ec = end_to_end(cand);
  const bool paired = has_ab_pairs(base) && has_ab_pairs(cand);
  stats::Judgement e2e;
  if (paired) {
    const stats::WelchLog w = stats::paired_log_process_means(by_ab_pair(eb, base), by_ab_pair(ec, cand));
    const int runs_per_pair = static_cast<int>(eb.size() / static_cast<size_t>(std::max(1, w.base_processes)));
    e2e = stats::judge_comparison(w, runs_per_pair, o.end_to_end_min_effect, o.alpha);
  } else {
    e2e = stats::judge(eb, ec, o.end_to_end_min_effect, o.alpha);
  }
  j["end_to_end"] = judgement_json(e2e);
  j["end_to_end"]["base_median_ms"] = stats::median(values(eb));
  j["end_to_end"]["cand_median_ms"] = stats::median(values(ec));
  j["end_to_end"]["metric"] = "denoising loop (sum of step times)";
  // HARNESS.md's bootstrap CI of the median ratio, beside the verdict's Welch interval of the
  // geometric-mean ratio: processes resampled, then runs within each (4000 resamples, seed 1).
  const auto positive = [](const std::vector<Sample>& v) {
    for (const Sample& x : v)
      if (!(std::isfinite(x.value) && x.value > 0)) return false;
    return !v.empty();
  };
  // (bootstrap_median_ratio answers 1 [1, 1] for unusable samples, such as zero step times)
  const stats::RatioInterval boot = positive(eb) && positive(ec) ? stats::bootstrap_median_ratio(eb, ec)
                                                                 : stats::RatioInterval{NAN, NAN, NAN};
  if (std::isfinite(boot.ratio) && std::isfinite(boot.low) && std::isfinite(boot.high))
    j["end_to_end"]["median_ratio"] = {{"ratio", boot.ratio}, {"low", boot.low}, {"high", boot.high},
                                     {"method", "hierarchical percentile bootstrap (processes, then runs within "
                                                "them), 4000 resamples, seed 1, 95%"}};
  j["whole_generation"] = {{"base_median_ms", stats::median(values(whole_generation(base)))},
                           {"cand_median_ms", stats::median(values(whole_generation(cand)))}};
  j["noise"] = {{"base_cv", cv(values(eb))}, {"cand_cv", cv(values(ec))}, {"base_processes", processes(eb)},
                {"cand_processes", processes(ec)}};
  j["samples"] = {{"base_ms", values(eb)}, {"cand_ms", values(ec)}};

  // 3. Kernels.
  std::map<std::string, nlohmann::json> shapes_b, shapes_c;
  auto kb = kernel_samples(base, &shapes_b), kc = kernel_samples(cand, &shapes_c);
  if (kb.empty() || kc.empty()) {  // one side has no kernel traces: nothing to compare per kernel
    if (kb.empty() != kc.empty()) warnings.push_back("only one report has per-kernel timings; kernels are not compared");
    kb.clear();
    kc.clear();
  }
  std::vector<std::string> common;
  nlohmann::json added = nlohmann::json::array(), removed = nlohmann::json::array(), changed = nlohmann::json::array();
  for (const auto& [key, s] : kb) {
    if (kc.count(key)) common.push_back(key);
    else removed.push_back({{"kernel", key}, {"base_median_ms", stats::median(values(s))}});
  }
  for (const auto& [key, s] : kc)
    if (!kb.count(key)) added.push_back({{"kernel", key}, {"cand_median_ms", stats::median(values(s))}});
  for (const auto& key : common)
    if (shapes_b[key] != shapes_c[key]) changed.push_back({{"kernel", key}, {"base", shapes_b[key]}, {"cand", shapes_c[key]}});
  std::vector<std::vector<Sample>> sb, sc;
  for (const auto& key : common) {
    sb.push_back(kb.at(key));
    sc.push_back(kc.at(key));
  }
  const double e2e_median = stats::median(values(eb));
  auto min_effects = [&](const std::vector<std::vector<Sample>>& groups) {
    std::vector<double> m;
    for (const auto& g : groups) {
      const double med = stats::median(values(g));
      m.push_back(std::max(o.kernel_min_effect, med > 0 ? o.end_to_end_floor * e2e_median / med : 1.0));
    }
    return m;
  };
  // Per kernel name (all ranges summed: less noise per sample), judged first: the names are the
  // middle level of the hierarchical FDR below.
  auto nb = kernel_samples(base, nullptr, true), nc = kernel_samples(cand, nullptr, true);
  if (kb.empty()) nb.clear();
  std::vector<std::string> names;
  std::vector<std::vector<Sample>> b2, c2;
  for (const auto& [name, sv] : nb)
    if (nc.count(name)) {
      names.push_back(name);
      b2.push_back(sv);
      c2.push_back(nc.at(name));
    }
  auto jn = stats::judge_many(b2, c2, min_effects(b2), o.alpha);
  auto judgements = stats::judge_many(sb, sc, min_effects(sb), o.alpha);
  // Hierarchical FDR (harness/hierarchy.h): end to end -> kernel names -> ranges; a range is
  // called only inside a called name, a name only below a rejected root. Verdicts are re-judged
  // with the hierarchical adjusted p-values (the same rules otherwise).
  {
    stats::HierarchicalInput in;
    for (size_t i = 0; i < common.size(); ++i) {
      in.range_name.push_back(common[i].substr(0, common[i].find(" @ ")));
      in.range_p.push_back(judgements[i].in_family ? judgements[i].p_value : 1.0);
    }
    for (size_t k = 0; k < names.size(); ++k) in.name_p[names[k]] = jn[k].in_family ? jn[k].p_value : 1.0;
    const stats::HierarchicalResult h = stats::hierarchical_fdr(in, o.alpha);
    for (size_t i = 0; i < common.size(); ++i) {
      if (!judgements[i].welch.valid) continue;
      const bool member = judgements[i].in_family;
      judgements[i] = stats::judge_comparison(judgements[i].welch, judgements[i].runs_per_process, judgements[i].min_effect,
                                              o.alpha, h.range_called[i] ? h.range_p_adjusted[i] : 1.0);
      judgements[i].in_family = member;
    }
    for (size_t k = 0; k < names.size(); ++k) {
      if (!jn[k].welch.valid) continue;
      const bool member = jn[k].in_family;
      const auto called = h.name_called.find(names[k]);
      jn[k] = stats::judge_comparison(jn[k].welch, jn[k].runs_per_process, jn[k].min_effect, o.alpha,
                                      called != h.name_called.end() && called->second ? jn[k].p_adjusted : 1.0);
      jn[k].in_family = member;
    }
    j["hierarchy"] = {{"root_p", h.root_p},
                      {"method", "hierarchical FDR (Yekutieli): Simes node p-values, Benjamini-Hochberg per level, "
                                 "kernel names then their ranges"}};
  }
  nlohmann::json kernels = nlohmann::json::array();
  double explained = 0;
  int same = 0, faster = 0, slower = 0, inconclusive = 0;
  for (size_t i = 0; i < common.size(); ++i) {
    const double mb = stats::median(values(sb[i])), mc = stats::median(values(sc[i]));
    explained += mc - mb;
    nlohmann::json k = judgement_json(judgements[i]);
    k["kernel"] = common[i];
    k["readable"] = readable_kernel_key(common[i]);
    k["base_median_ms"] = mb;
    k["cand_median_ms"] = mc;
    k["delta_ms"] = mc - mb;
    k["base_ms"] = values(sb[i]);
    k["cand_ms"] = values(sc[i]);
    kernels.push_back(k);
    switch (judgements[i].verdict) {
      case stats::Verdict::kSame: ++same; break;
      case stats::Verdict::kFaster: ++faster; break;
      case stats::Verdict::kSlower: ++slower; break;
      case stats::Verdict::kInconclusive: ++inconclusive; break;
    }
  }
  for (const auto& a : added) explained += a["cand_median_ms"].get<double>();
  for (const auto& r : removed) explained -= r["base_median_ms"].get<double>();
  std::sort(kernels.begin(), kernels.end(), [](const nlohmann::json& a, const nlohmann::json& b) {
    return std::fabs(a["delta_ms"].get<double>()) > std::fabs(b["delta_ms"].get<double>());
  });
  j["kernels"] = kernels;
  j["kernel_summary"] = {{"compared", common.size()}, {"same", same}, {"faster", faster}, {"slower", slower},
                         {"inconclusive", inconclusive}, {"traced", !kb.empty() && !kc.empty()}};
  // The per-name judgements (made above) in the report.
  {
    nlohmann::json by_name = nlohmann::json::array();
    int n_same = 0, n_slower = 0, n_faster = 0, n_inc = 0;
    for (size_t i = 0; i < names.size(); ++i) {
      nlohmann::json k = judgement_json(jn[i]);
      k["kernel"] = names[i];
      k["base_median_ms"] = stats::median(values(b2[i]));
      k["cand_median_ms"] = stats::median(values(c2[i]));
      k["delta_ms"] = k["cand_median_ms"].get<double>() - k["base_median_ms"].get<double>();
      by_name.push_back(k);
      n_same += jn[i].verdict == stats::Verdict::kSame;
      n_slower += jn[i].verdict == stats::Verdict::kSlower;
      n_faster += jn[i].verdict == stats::Verdict::kFaster;
      n_inc += jn[i].verdict == stats::Verdict::kInconclusive;
    }
    std::sort(by_name.begin(), by_name.end(), [](const nlohmann::json& a, const nlohmann::json& b) {
      return a["base_median_ms"].get<double>() > b["base_median_ms"].get<double>();
    });
    j["kernels_by_name"] = by_name;
    j["kernel_summary"]["by_name"] = {{"compared", names.size()}, {"same", n_same}, {"slower", n_slower},
                                      {"faster", n_faster}, {"inconclusive", n_inc}};
  }
  // Renamed: a removed and an added kernel in the same NVTX range with the same launch shape
  // (grid, block, registers, shared memory), e.g. a kernel renamed or re-templated by the PR.
  nlohmann::json renamed = nlohmann::json::array();
  {
    auto range_of = [](const std::string& key) {
      const size_t at = key.find(" @ ");
      return at == std::string::npos ? std::string() : key.substr(at + 3);
    };
    std::set<size_t> used;
    for (const auto& r : removed) {
      const std::string rk = r["kernel"].get<std::string>();
      for (size_t i = 0; i < added.size(); ++i) {
        const std::string ak = added[i]["kernel"].get<std::string>();
        if (used.count(i) || range_of(ak) != range_of(rk) || shapes_b[rk] != shapes_c[ak]) continue;
        used.insert(i);
        renamed.push_back({{"from", rk}, {"to", ak}, {"base_median_ms", r["base_median_ms"]},
                           {"cand_median_ms", added[i]["cand_median_ms"]}});
        break;
      }
    }
  }
  j["added"] = added;
  j["removed"] = removed;
  j["renamed"] = renamed;
  j["launch_changed"] = changed;
  // The split from per-run totals: each run's loop time = its loop kernels' time (NVTX range
  // under denoising/; every kernel for bench reports) + the rest (gaps, host, synchronisation),
  // each part's change with a Welch interval over process means (additive, unlike medians).
  {
    auto parts = [&](const nlohmann::json& report, const std::vector<Sample>& loop) {
      std::vector<Sample> kernels_ms, rest_ms;
      size_t i = 0;
      for (const auto& run : report["runs"]) {
        double in_loop = 0, any = 0;
        bool has_loop = false;
        static const nlohmann::json kNone = nlohmann::json::array();
        for (const auto& k : run.contains("kernels") && run["kernels"].is_array() ? run["kernels"] : kNone) {
          const double ms = k["total_us"].get<double>() / 1e3;
          any += ms;
          if (is_loop_range(k.value("range", std::string()))) {
            in_loop += ms;
            has_loop = true;
          }
        }
        const double kernel_ms = has_loop ? in_loop : any;
        kernels_ms.push_back({kernel_ms, loop[i].process});
        rest_ms.push_back({loop[i].value - kernel_ms, loop[i].process});
        ++i;
      }
      return std::make_pair(kernels_ms, rest_ms);
    };
    const auto [kb_ms, rb_ms] = parts(base, eb);
    const auto [kc_ms, rc_ms] = parts(cand, ec);
    auto interval = [&](const std::vector<Sample>& b, const std::vector<Sample>& c) {
      const stats::DifferenceInterval d = stats::welch_difference(b, c, o.alpha);
      return nlohmann::json{{"delta_ms", d.delta}, {"low_ms", d.low}, {"high_ms", d.high}, {"interval", d.valid}};
    };
    auto traced = [](const nlohmann::json& report) {
      for (const auto& run : report["runs"])
        if (!run.contains("kernels") || !run["kernels"].is_array()) return false;
      return true;
    };
    const bool both_traced = traced(base) && traced(cand);
    // The rest split by the GPU's timeline (loop_gpu_timeline, kernel_summary.h), where every
    // run of both sides has one: GPU idle between loop kernels, host time outside the GPU's
    // span, and the time kernels overlapped (counted twice in the kernel sum).
    auto timeline_parts = [&](const nlohmann::json& report, const std::vector<Sample>& loop) {
      std::vector<Sample> idle, outside, overlap;
      size_t i = 0;
      for (const auto& run : report["runs"]) {
        if (!run.contains("loop_gpu_timeline")) return std::array<std::vector<Sample>, 3>{};
        const auto& t = run["loop_gpu_timeline"];
        const double kernel_ms = t["kernel_ms"].get<double>(), busy_ms = t["busy_ms"].get<double>(),
                     span_ms = t["span_ms"].get<double>();
        idle.push_back({span_ms - busy_ms, loop[i].process});
        outside.push_back({loop[i].value - span_ms, loop[i].process});
        overlap.push_back({kernel_ms - busy_ms, loop[i].process});
        ++i;
      }
      return std::array<std::vector<Sample>, 3>{idle, outside, overlap};
    };
    const auto tb = timeline_parts(base, eb), tc = timeline_parts(cand, ec);
    nlohmann::json rest_parts;
    if (both_traced && !tb[0].empty() && !tc[0].empty())
      rest_parts = {{"gpu_idle_in_span", interval(tb[0], tc[0])}, {"host_outside_span", interval(tb[1], tc[1])},
                    {"kernel_overlap", interval(tb[2], tc[2])},
                    {"method", "per run: GPU idle = loop kernels' span - their busy time (union of intervals); "
                               "host outside = loop time - span; overlap = kernel sum - busy time; "
                               "rest = idle + outside - overlap"}};
    const nlohmann::json untraced = {{"delta_ms", 0.0}, {"low_ms", 0.0}, {"high_ms", 0.0}, {"interval", false},
                                     {"untraced", true}};
    const nlohmann::json loop = interval(eb, ec);
    const nlohmann::json in_kernels = both_traced ? interval(kb_ms, kc_ms) : untraced;
    const nlohmann::json rest = both_traced ? interval(rb_ms, rc_ms) : untraced;
    j["split"] = {{"end_to_end_delta_ms", loop["delta_ms"]}, {"kernel_deltas_ms", in_kernels["delta_ms"]},
                  {"unexplained_ms", rest["delta_ms"]}, {"end_to_end", loop}, {"kernels", in_kernels},
                  {"unexplained", rest}, {"median_kernel_deltas_ms", explained},
                  {"method", "per-run totals (loop kernels: NVTX ranges under denoising/), differences of process means, "
                             "Welch t intervals"}};
    if (!rest_parts.is_null()) j["split"]["unexplained_parts"] = rest_parts;
  }
  j["warnings"] = warnings;

  // Kernel regressions are material when the significant ones together cost >= 0.1% end to
  // end (one kernel slowed in every block shows as many small groups).
  const double e2e_base = j["end_to_end"]["base_median_ms"].get<double>();
  nlohmann::json material = nlohmann::json::array();
  double slower_ms = 0;
  for (const auto& k : kernels)
    if (k["verdict"] == "slower") slower_ms += k["delta_ms"].get<double>();
  if (slower_ms >= 0.001 * e2e_base)
    for (const auto& k : kernels)
      if (k["verdict"] == "slower") material.push_back(k["kernel"]);
  j["kernel_summary"]["slower_total_ms"] = slower_ms;
  j["material_kernel_regressions"] = material;
  const nlohmann::json base_class = base.value("fingerprint_class", nlohmann::json()),
                       cand_class = cand.value("fingerprint_class", nlohmann::json());
  std::string not_comparable;
  if (outputs == "no common seed")
    not_comparable = "the two reports share no seed, so their outputs cannot be compared; run both sides with the same "
                     "--seed (and --runs), or use `repro ab`";
  else if (outputs.rfind("mismatch", 0) == 0 && base_class != cand_class)
    not_comparable = "environment changed: the outputs differ, but so do the environments (" +
                     (base_class.is_object() && cand_class.is_object() ? describe_class_difference(base_class, cand_class)
                                                                       : std::string("a fingerprint class is missing")) +
                     "), which explain different bits as well as the code does; compare runs from one machine and build";
  if (!not_comparable.empty()) {
    c.outcome = CompareOutcome::kNotComparable;
    j["not_comparable"] = not_comparable;
  } else if (outputs != "bit-exact" && outputs.rfind("not applicable", 0) != 0 && outputs.rfind("not compared", 0) != 0) {
    c.outcome = CompareOutcome::kOutputMismatch;
  } else if (e2e.verdict == stats::Verdict::kSlower || !material.empty()) {
    c.outcome = CompareOutcome::kRegression;
  } else if (e2e.verdict == stats::Verdict::kInconclusive) {
    c.outcome = CompareOutcome::kInconclusive;
  } else {
    c.outcome = CompareOutcome::kPass;
  }
  static const char* kNames[] = {"pass", "regression", "output mismatch", "inconclusive", "not comparable"};
  j["outcome"] = kNames[static_cast<int>(c.outcome)];
  return c;
}

namespace {
std::string pct(double ratio) {
  if (!std::isfinite(ratio)) return "n/a";
  std::ostringstream s;
  s.precision(2);
  s << std::fixed << (ratio - 1.0) * 100.0 << "%";
  return (ratio >= 1.0 ? "+" : "") + s.str();
}
std::string num(double x, int digits = 3) {
  if (!std::isfinite(x)) return "n/a";
  std::ostringstream s;
  s.precision(digits);
  s << std::fixed << x;
  return s.str();
}
}  // namespace

std::string comparison_markdown(const nlohmann::json& j) {
  std::ostringstream md;
  const auto& e = j["end_to_end"];
  const std::string outcome = j["outcome"].get<std::string>();
  std::string headline;
  if (outcome == "not comparable") headline = "NOT COMPARABLE: " + j["not_comparable"].get<std::string>();
  else if (outcome == "output mismatch") headline = "OUTPUT MISMATCH: outputs are not bit-exact (" + j["outputs"]["verdict"].get<std::string>() + ")";
  else if (outcome == "regression" && e["verdict"] == "slower") headline = "REGRESSION: " + pct(e["ratio"].get<double>()) + " slower end to end";
  else if (outcome == "regression") headline = "REGRESSION: " + std::to_string(j["material_kernel_regressions"].size()) + " kernel(s) significantly slower (end to end " + e["verdict"].get<std::string>() + ")";
  else if (outcome == "inconclusive" && std::min(e["units"][0].get<int>(), e["units"][1].get<int>()) < 3)
    headline = "INCONCLUSIVE: no verdict from " + std::to_string(e["units"][0].get<int>()) + " v " +
               std::to_string(e["units"][1].get<int>()) + " processes; run >= 3 processes a side (`repro ab`, or `repro run --runs N --fresh-process`)";
  else if (outcome == "inconclusive")
    headline = "INCONCLUSIVE: about " + std::to_string(e["more_processes_needed"].get<int>()) + " more processes per side (" +
               std::to_string(e["more_runs_needed"].get<int>()) + " runs) for 80% power";
  else headline = std::string("PASS: bit-exact, ") + (e["verdict"] == "faster" ? pct(e["ratio"].get<double>()) + " faster" : "same speed within noise");
  if (e.contains("units") && j.contains("base") && j["base"].contains("runs"))
    headline += " (" + std::to_string(e["units"][0].get<int>()) + " v " + std::to_string(e["units"][1].get<int>()) +
                (e["method"].get<std::string>().find("paired") != std::string::npos ? " ABBA pairs, " : " processes, ") +
                std::to_string(j["base"]["runs"].get<int>()) + " v " + std::to_string(j["cand"]["runs"].get<int>()) + " runs)";
  md << "## repro compare: " << headline << "\n\n";
  md << "- **Outputs:** " << j["outputs"]["verdict"].get<std::string>() << " (" << j["outputs"]["seeds_compared"] << " seed(s))\n";
  md << "- **End to end:** " << e["verdict"].get<std::string>() << ", median " << num(e["base_median_ms"].get<double>())
     << " -> " << num(e["cand_median_ms"].get<double>()) << " ms (" << pct(e["ratio"].get<double>()) << ", 95% CI "
     << pct(e["ci_low"].get<double>()) << " .. " << pct(e["ci_high"].get<double>()) << ", p " << num(e["p"].get<double>(), 4)
     << ", minimum effect " << num(e["min_effect"].get<double>() * 100, 2) << "%)";
  if (e.contains("median_ratio"))
    md << "; median ratio " << pct(e["median_ratio"]["ratio"].get<double>()) << " (bootstrap 95% CI "
       << pct(e["median_ratio"]["low"].get<double>()) << " .. " << pct(e["median_ratio"]["high"].get<double>()) << ")";
  md << "\n";
  const auto& sp = j["split"];
  auto with_interval = [&](const nlohmann::json& part) {
    std::string s = num(part["delta_ms"].get<double>()) + " ms";
    if (part["interval"].get<bool>())
      s += " [" + num(part["low_ms"].get<double>()) + ", " + num(part["high_ms"].get<double>()) + "]";
    return s;
  };
  if (sp["kernels"].value("untraced", false))
    md << "- **Where the time went:** " << with_interval(sp["end_to_end"]) << " end to end; no per-kernel split (a "
       << "side was not traced)\n";
  else
    md << "- **Where the time went:** " << with_interval(sp["end_to_end"]) << " end to end = "
       << with_interval(sp["kernels"]) << " in loop kernels + " << with_interval(sp["unexplained"])
       << " elsewhere (gaps, host, synchronisation; per-run totals, 95% intervals)\n";
  if (sp.contains("unexplained_parts") && sp["unexplained_parts"].is_object())
    md << "  - elsewhere = " << with_interval(sp["unexplained_parts"]["gpu_idle_in_span"])
       << " GPU idle between loop kernels (waiting for launches or the host) + "
       << with_interval(sp["unexplained_parts"]["host_outside_span"])
       << " host time outside the loop kernels' GPU span (before the first reaches the GPU, after the last: "
          "synchronisation) - " << with_interval(sp["unexplained_parts"]["kernel_overlap"])
       << " of kernels running at once\n";
  const auto& ks = j["kernel_summary"];
  if (ks["traced"].get<bool>()) {
    md << "- **Kernels:** " << ks["compared"] << " compared: " << ks["slower"] << " slower, " << ks["faster"] << " faster, "
       << ks["same"] << " same, " << ks["inconclusive"] << " inconclusive (Benjamini-Hochberg at "
       << num(j["options"]["alpha"].get<double>(), 2) << "); per kernel name over all ranges: "
       << ks["by_name"]["compared"] << " compared, " << ks["by_name"]["slower"] << " slower, " << ks["by_name"]["faster"]
       << " faster, " << ks["by_name"]["same"] << " same, " << ks["by_name"]["inconclusive"] << " inconclusive\n";
  } else {
    md << "- **Kernels:** no per-kernel timings in one of the reports (run with CUPTI on a GPU)\n";
  }
  for (const auto& w : j["warnings"]) md << "- **Warning:** " << w.get<std::string>() << "\n";
  md << "\n";
  // Significant changes grouped by kernel name first (one line per kernel, its per-range rows
  // folded), names demangled; "none" when there are none.
  md << "### Significant kernel changes\n\n";
  std::map<std::string, std::vector<const nlohmann::json*>> by_kernel;
  std::map<std::string, int> ranges_of;
  for (const auto& k : j["kernels"]) {
    const std::string key = k["kernel"].get<std::string>();
    const std::string name = key.substr(0, key.find(" @ "));
    ++ranges_of[name];
    const std::string v = k["verdict"].get<std::string>();
    if (v == "faster" || v == "slower") by_kernel[name].push_back(&k);
  }
  if (by_kernel.empty()) md << "none\n\n";
  for (const auto& [name, rows] : by_kernel) {
    int slower = 0, faster = 0;
    double delta = 0;
    for (const auto* k : rows) {
      ((*k)["verdict"] == "slower" ? slower : faster) += 1;
      delta += (*k)["delta_ms"].get<double>();
    }
    md << "- **`" << readable_kernel_key(name) << "`**: ";
    if (slower) md << "slower in " << slower << " of " << ranges_of[name] << " range(s)";
    if (slower && faster) md << ", ";
    if (faster) md << "faster in " << faster << " of " << ranges_of[name] << " range(s)";
    md << ", " << (delta >= 0 ? "+" : "") << num(delta * 1e3, 1) << " us per run in those ranges\n";
    md << "  <details><summary>per range</summary>\n\n  | range | verdict | base ms | cand ms | change | 95% CI | p (BH) |\n"
       << "  |---|---|---|---|---|---|---|\n";
    for (const auto* k : rows) {
      const std::string key = (*k)["kernel"].get<std::string>();
      const size_t at = key.find(" @ ");
      md << "  | " << (at == std::string::npos ? std::string("(none)") : key.substr(at + 3)) << " | "
         << (*k)["verdict"].get<std::string>() << " | " << num((*k)["base_median_ms"].get<double>()) << " | "
         << num((*k)["cand_median_ms"].get<double>()) << " | " << pct((*k)["ratio"].get<double>()) << " | "
         << pct((*k)["ci_low"].get<double>()) << " .. " << pct((*k)["ci_high"].get<double>()) << " | "
         << num((*k)["p_adjusted"].get<double>(), 4) << " |\n";
    }
    md << "\n  </details>\n";
  }
  if (!by_kernel.empty()) md << "\n";
  md << "### Kernels added, removed or launched differently\n\n";
  if (j["added"].empty() && j["removed"].empty() && j["launch_changed"].empty()) md << "none\n\n";
  {
    for (const auto& a : j["added"]) md << "- added `" << readable_kernel_key(a["kernel"].get<std::string>()) << "` (" << num(a["cand_median_ms"].get<double>()) << " ms)\n";
    for (const auto& r : j["removed"]) md << "- removed `" << readable_kernel_key(r["kernel"].get<std::string>()) << "` (" << num(r["base_median_ms"].get<double>()) << " ms)\n";
    for (const auto& c : j["launch_changed"]) md << "- launch changed `" << c["kernel"].get<std::string>() << "`: " << c["base"].dump() << " -> " << c["cand"].dump() << "\n";
    for (const auto& r : j["renamed"])
      md << "- probably renamed (same range and launch shape): `" << readable_kernel_key(r["from"].get<std::string>()) << "` -> `"
         << readable_kernel_key(r["to"].get<std::string>()) << "` (" << num(r["base_median_ms"].get<double>()) << " -> "
         << num(r["cand_median_ms"].get<double>()) << " ms)\n";
    md << "\n";
  }
  const auto& n = j["noise"];
  md << "<sub>Noise: end-to-end CV " << num(n["base_cv"].get<double>() * 100, 2) << "% / " << num(n["cand_cv"].get<double>() * 100, 2)
     << "% over " << j["base"]["runs"] << " / " << j["cand"]["runs"] << " runs in " << n["base_processes"] << " / " << n["cand_processes"]
     << " process(es); base " << j["base"]["commit"].get<std::string>() << ", candidate " << j["cand"]["commit"].get<std::string>()
     << ", " << j["cand"]["device"].get<std::string>() << ".";
  if (e.contains("noise") && e["noise"]["detectable_change"].get<double>() > 0)
    md << " Between processes " << num(e["noise"]["between_process_sd"].get<double>() * 100, 2) << "%, within a process "
       << num(e["noise"]["within_process_sd"].get<double>() * 100, 2) << "% (sd of log time); this layout detects a "
       << num(e["noise"]["detectable_change"].get<double>() * 100, 2) << "% end-to-end change with 80% power.";
  md << "</sub>\n";
  return md.str();
}

std::string comparison_html(const nlohmann::json& j) {
  // The JSON is embedded; the page's script draws the tables and SVG plots from it, so the
  // rendered DOM (what the headless-Chromium test inspects) holds one <circle> per sample.
  // Every '<' (JSON has them only inside strings) as \u003c: no kernel name can close the
  // script ("</script>") or open an HTML comment ("<!--") that swallows the rest of the page.
  const std::string dumped = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string data;
  data.reserve(dumped.size());
  for (char ch : dumped) {
    if (ch == '<') data += "\\u003c";
    else data += ch;
  }
  std::ostringstream h;
  h << R"(<!doctype html>
<html><head><meta charset="utf-8"><title>repro compare</title>
<style>
body{font-family:system-ui,sans-serif;margin:24px;max-width:1100px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}
.slower{color:#b00}.faster{color:#070}.plot{margin:8px 0}.kname{font-family:monospace;font-size:12px}
</style></head><body>
<h1 id="verdict"></h1><ul id="summary"></ul>
<h2>Significant changes: intervals against the minimum effect</h2><div id="forest" class="plot"></div>
<h2>End to end, run by run</h2><div id="scatter" class="plot"></div>
<h2>Per-kernel time distributions (largest changes)</h2><div id="kernels" class="plot"></div>
<h2>Kernels added, removed, renamed or launched differently</h2><ul id="changes"></ul>
<script id="data" type="application/json">)"
    << data << R"(</script>
<script>
const d = JSON.parse(document.getElementById('data').textContent);
const NS = 'http://www.w3.org/2000/svg';
const BASE = '#1f77b4', CAND = '#ff7f0e';
function el(tag, attrs, parent) { const e = document.createElementNS(NS, tag); for (const k in attrs) e.setAttribute(k, attrs[k]); if (parent) parent.appendChild(e); return e; }
function txt(svg, x, y, s, attrs) { const t = el('text', Object.assign({x: x, y: y, 'font-size': 11}, attrs || {}), svg); t.textContent = s; return t; }
function pct(r) { return ((r - 1) * 100).toFixed(2) + '%'; }
function none(div) { const p = document.createElement('p'); p.className = 'none'; p.textContent = 'none'; div.appendChild(p); }
function legend(svg, x, y) {
  [[BASE, 'base ' + d.base.commit.slice(0, 12)], [CAND, 'candidate ' + d.cand.commit.slice(0, 12)]].forEach((e, i) => {
    el('circle', {cx: x + 5 + i * 200, cy: y - 4, r: 4, fill: e[0]}, svg);
    txt(svg, x + 14 + i * 200, y, e[1], {class: 'legend'});
  });
}
document.getElementById('verdict').textContent = 'repro compare: ' + d.outcome;
const s = document.getElementById('summary');
function li(text) { const x = document.createElement('li'); x.textContent = text; s.appendChild(x); }
if (d.not_comparable) li('Not comparable: ' + d.not_comparable);
li('Outputs: ' + d.outputs.verdict);
li('End to end: ' + d.end_to_end.verdict + ', ' + d.end_to_end.base_median_ms.toFixed(3) + ' -> ' + d.end_to_end.cand_median_ms.toFixed(3) + ' ms (' + pct(d.end_to_end.ratio) + ', CI ' + pct(d.end_to_end.ci_low) + ' .. ' + pct(d.end_to_end.ci_high) + '; ' + d.end_to_end.method + ')');
li('Split: ' + d.split.kernel_deltas_ms.toFixed(3) + ' ms in loop kernels, ' + d.split.unexplained_ms.toFixed(3) + ' ms elsewhere');
// Forest plot: each significant change (and the end to end) as its interval in % change, with
// the minimum effect band; axis in percent.
(function forest() {
  const div = document.getElementById('forest');
  const rows = [{name: 'end to end', r: d.end_to_end}].concat(d.kernels.filter(k => k.verdict === 'slower' || k.verdict === 'faster').slice(0, 30).map(k => ({name: k.readable || k.kernel, r: k})));
  if (rows.length === 1) { const p = document.createElement('p'); p.className = 'none'; p.textContent = 'no significant kernel change (none); the end to end:'; div.appendChild(p); }
  const W = 1000, L = 520, R = 40, top = 24, rowH = 18, H = top + rows.length * rowH + 50;
  const vals = rows.flatMap(x => [x.r.ci_low - 1, x.r.ci_high - 1, x.r.min_effect, -x.r.min_effect]).concat([0]);
  let lo = Math.min(...vals), hi = Math.max(...vals); if (hi - lo < 1e-9) { lo -= 0.01; hi += 0.01; }
  const x = v => L + (v - lo) / (hi - lo) * (W - L - R);
  const svg = el('svg', {width: W, height: H, id: 'forest-svg'}, div);
  const me = d.end_to_end.min_effect;
  el('rect', {x: x(-me), y: top - 6, width: x(me) - x(-me), height: rows.length * rowH + 4, fill: '#eee'}, svg);
  el('line', {x1: x(0), y1: top - 8, x2: x(0), y2: top + rows.length * rowH, stroke: '#888'}, svg);
  rows.forEach((row, i) => {
    const yy = top + i * rowH + 6, color = row.r.verdict === 'slower' ? '#b00' : row.r.verdict === 'faster' ? '#070' : '#444';
    txt(svg, 4, yy + 4, row.name.length > 80 ? row.name.slice(0, 77) + '...' : row.name, {class: 'forest-label'});
    el('line', {x1: x(row.r.ci_low - 1), y1: yy, x2: x(row.r.ci_high - 1), y2: yy, stroke: color, 'stroke-width': 2, class: 'interval'}, svg);
    el('circle', {cx: x(row.r.ratio - 1), cy: yy, r: 3, fill: color}, svg);
  });
  const axisY = top + rows.length * rowH + 10;
  el('line', {x1: L, y1: axisY, x2: W - R, y2: axisY, stroke: '#444'}, svg);
  [lo, 0, hi].filter(v => v === 0 || Math.abs(x(v) - x(0)) > 40).forEach(v => txt(svg, x(v) - 14, axisY + 14, (v * 100).toFixed(1) + '%'));
  txt(svg, L, axisY + 28, 'change (candidate vs base); grey band: +-minimum effect', {class: 'axis-label'});
})();
// Scatter: run index vs loop time, base and candidate, with axes and a legend.
function scatter(div, series) {
  const W = 760, H = 280, P = 56, B = 40, T = 36;
  const all = series.flatMap(x => x.values);
  const lo = Math.min(...all), hi = Math.max(...all), n = Math.max(...series.map(x => x.values.length));
  const svg = el('svg', {width: W, height: H, id: div.id + '-svg'}, div);
  el('line', {x1: P, y1: H - B, x2: W - 10, y2: H - B, stroke: '#444'}, svg);
  el('line', {x1: P, y1: T, x2: P, y2: H - B, stroke: '#444'}, svg);
  const y = v => hi === lo ? (H - B + T) / 2 : (H - B) - (v - lo) / (hi - lo) * (H - B - T - 6);
  series.forEach(ser => ser.values.forEach((v, i) => el('circle', {cx: P + (i + 0.5) * (W - P - 10) / n, cy: y(v), r: 3, fill: ser.color, 'data-series': ser.name}, svg)));
  txt(svg, 2, y(hi) + 4, hi.toFixed(2)); txt(svg, 2, y(lo) + 4, lo.toFixed(2));
  txt(svg, 4, T - 8, 'loop time (ms)', {class: 'axis-label'});
  txt(svg, (W - P) / 2, H - 8, 'run (in order, each side)', {class: 'axis-label'});
  legend(svg, W - 430, 12);
}
scatter(document.getElementById('scatter'), [{name: 'base', values: d.samples.base_ms, color: BASE}, {name: 'cand', values: d.samples.cand_ms, color: CAND}]);
const kd = document.getElementById('kernels');
if (!d.kernels.length) none(kd);
d.kernels.slice(0, 12).forEach(k => {
  const title = document.createElement('div'); title.className = 'kname ' + k.verdict;
  title.textContent = (k.readable || k.kernel) + ': ' + k.verdict + ' ' + pct(k.ratio); kd.appendChild(title);
  const W = 760, H = 58, L = 80, all = k.base_ms.concat(k.cand_ms), lo = Math.min(...all), hi = Math.max(...all);
  const svg = el('svg', {width: W, height: H, class: 'kernel-plot'}, kd);
  const x = v => hi === lo ? (L + W) / 2 : L + (v - lo) / (hi - lo) * (W - L - 20);
  txt(svg, 4, 16, 'base'); txt(svg, 4, 32, 'candidate');
  k.base_ms.forEach(v => el('circle', {cx: x(v), cy: 12, r: 3, fill: BASE}, svg));
  k.cand_ms.forEach(v => el('circle', {cx: x(v), cy: 28, r: 3, fill: CAND}, svg));
  el('line', {x1: L, y1: 38, x2: W - 20, y2: 38, stroke: '#444'}, svg);
  txt(svg, L - 10, 52, lo.toFixed(4) + ' ms'); txt(svg, W - 90, 52, hi.toFixed(4) + ' ms', {class: 'axis-label'});
});
const ch = document.getElementById('changes');
function item(text) { const x = document.createElement('li'); x.textContent = text; ch.appendChild(x); }
d.added.forEach(a => item('added ' + a.kernel));
d.removed.forEach(a => item('removed ' + a.kernel));
(d.renamed || []).forEach(a => item('probably renamed ' + a.from + ' -> ' + a.to));
d.launch_changed.forEach(a => item('launch changed ' + a.kernel));
if (!ch.children.length) item('none');
document.body.setAttribute('data-rendered', 'true');
</script></body></html>
)";
  return h.str();
}

}  // namespace wan
