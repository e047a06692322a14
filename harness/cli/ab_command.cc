// `repro ab --base BIN --cand BIN [case flags]`: interleaved A/B runs of two builds in fresh
// processes; `repro ab --base-cmd '...' --cand-cmd '...' [exec flags]`: the same for two
// commands of any program, each process one `repro exec` run (kernels traced by injection,
// outputs hashed with --hash); ABBA order (A B, then B A, ...) so clock and thermal drift cancel, then the same
// comparison as `repro compare` over the merged reports, with the end to end judged PAIRED
// (base and candidate process k ran back to back: runs carry "ab_pair": k).
// --adaptive: after the first --processes pairs, adds --pairs-per-look (4) ABBA pairs at a time
// until the end-to-end verdict is conclusive or --max-processes (40) / --max-minutes (60) is
// reached (a true +1% change at 0.5% process noise: "slower" in 95% of simulated trials, 19
// pairs on average; harness/stats_simulation_test). Every look tests at
// the group-sequential nominal level (stats::sequential_nominal_alpha: Pocock), so the repeated
// looks keep the overall --alpha.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "harness/atomic_file.h"
#include "harness/cli/commands.h"
#include "harness/cli/exit_codes.h"
#include "harness/cli/subprocess.h"
#include "harness/compare.h"
#include "harness/stats.h"

namespace wan::cli {
namespace {

Result<nlohmann::json> run_build(const std::string& binary, const std::vector<std::string>& case_args, int runs,
                                 const std::string& report, const std::vector<std::string>& extra) {
  std::vector<std::string> args = {binary, "run"};
  args.insert(args.end(), case_args.begin(), case_args.end());
  for (const std::string& a : {std::string("--runs"), std::to_string(runs), std::string("--report"), report,
                               std::string("--no-golden"), std::string("--force"), std::string("--quiet")})
    args.push_back(a);
  args.insert(args.end(), extra.begin(), extra.end());
  WAN_ASSIGN_OR_RETURN(const int exit_code, run_subprocess(args));
  if (exit_code != 0 && exit_code != kExitNondeterministic)
    return internal_error("'" + binary + " run' failed with exit status " + std::to_string(exit_code) +
                          ": is it a repro executable?");
  return read_run_report(report);
}

}  // namespace

int ab_command(const std::vector<std::string>& args) {
  std::set<std::string> value_flags = case_value_flags();
  for (const char* n : {"base", "cand", "base-cmd", "cand-cmd", "processes", "runs-per-process", "out-dir", "min-effect",
                        "kernel-min-effect", "alpha", "max-processes", "max-minutes", "pairs-per-look"})
    value_flags.insert(n);
  for (const std::string& n : exec_value_flags()) value_flags.insert(n);
  std::set<std::string> bool_flags = {"no-kernels", "no-cuda-graphs", "adaptive", "force"};
  for (const std::string& n : exec_bool_flags()) bool_flags.insert(n);
  auto flags = Flags::parse(args, value_flags, bool_flags);
  if (!flags.ok()) return fail("ab", flags.status());
  const Flags& f = flags.value();
  const bool commands = f.has("base-cmd") || f.has("cand-cmd");
  if (commands ? !(f.has("base-cmd") && f.has("cand-cmd")) || f.has("base") || f.has("cand") : !f.has("base") || !f.has("cand"))
    return fail("ab", invalid_argument("usage: repro ab --base BIN --cand BIN [case flags] [--processes 8] "
                                       "[--runs-per-process 3] [--out-dir DIR [--force]] [--alpha 0.05] [--adaptive [--max-processes 40] "
                                       "[--pairs-per-look 4] [--max-minutes 60]]\n"
                                       "   or: repro ab --base-cmd 'PROGRAM ARGS' --cand-cmd 'PROGRAM ARGS' [--hash GLOB] "
                                       "[--time-range NAME] [exec flags] [--processes 8] [...]"));
  // Command mode: each side is an exec spec; every process is one run of its command.
  ExecSpec specs[2];
  if (commands) {
    if (f.has("runs-per-process") && f.get("runs-per-process") != "1")
      return fail("ab", invalid_argument("--runs-per-process applies to --base/--cand builds; with --base-cmd/--cand-cmd "
                                         "each process is one run (time in-process repetitions with --time-range)"));
    for (int side = 0; side < 2; ++side) {
      auto words = split_command_line(f.get(side == 0 ? "base-cmd" : "cand-cmd"));
      if (!words.ok()) return fail("ab", words.status());
      auto spec = exec_spec_from_flags(f, words.value());
      if (!spec.ok()) return fail("ab", spec.status());
      specs[side] = spec.value();
      specs[side].quiet = true;
    }
  }
  std::vector<std::string> case_args;
  for (const std::string& name : case_value_flags())
    if (f.has(name)) {
      case_args.push_back("--" + name);
      case_args.push_back(f.get(name));
    }
  std::vector<std::string> extra;
  if (f.has("no-kernels")) extra.push_back("--no-kernels");
  if (f.has("no-cuda-graphs")) extra.push_back("--no-cuda-graphs");
  auto processes = f.get_int("processes", 8), runs = f.get_int("runs-per-process", commands ? 1 : 3);
  if (!processes.ok() || !runs.ok() || processes.value() < 1 || runs.value() < 1)
    return fail("ab", invalid_argument("--processes and --runs-per-process need positive integers"));
  std::error_code ec;
  // Absolute: with --base-cmd/--cand-cmd it reaches the programs ({run_dir}, trace files).
  const std::string dir =
      std::filesystem::absolute(f.get("out-dir", "repro-out/ab-" + std::to_string(::getpid())), ec).lexically_normal().string();
  // Its base/cand reports and the comparison are replaced as a whole run: an out dir holding an
  // earlier one is refused unless --force says to replace it.
  if (std::filesystem::exists(dir, ec) && !std::filesystem::is_empty(dir, ec) && !f.has("force"))
    return fail("ab", failed_precondition("--out-dir '" + dir + "' is not empty; its reports would be replaced. Pass a "
                                          "new directory, or --force to replace them"));
  std::filesystem::create_directories(dir, ec);
  if (ec) return fail("ab", unavailable("cannot create --out-dir '" + dir + "': " + ec.message()));
  CompareOptions o;
  auto e2e_effect = f.get_double("min-effect", o.end_to_end_min_effect);
  auto kernel_effect = f.get_double("kernel-min-effect", o.kernel_min_effect);
  auto alpha = f.get_double("alpha", 0.05);
  if (!e2e_effect.ok() || !kernel_effect.ok())
    return fail("ab", invalid_argument("--min-effect and --kernel-min-effect need numbers"));
  if (!alpha.ok() || !(alpha.value() > 0 && alpha.value() < 0.5))
    return fail("ab", invalid_argument("--alpha needs a number in (0, 0.5), e.g. 0.05"));
  o.end_to_end_min_effect = e2e_effect.value();
  o.kernel_min_effect = kernel_effect.value();
  o.alpha = alpha.value();
  if (const Status valid = check_compare_options(o); !valid.ok()) return fail("ab", valid);  // before any run
  const bool adaptive = f.has("adaptive");
  auto max_processes = f.get_int("max-processes", std::max<int64_t>(40, processes.value()));
  auto max_minutes = f.get_double("max-minutes", 60.0);
  auto per_look = f.get_int("pairs-per-look", 4);
  if (!max_processes.ok() || max_processes.value() < processes.value() || !max_minutes.ok() ||
      !(max_minutes.value() > 0) || !per_look.ok() || per_look.value() < 2 || per_look.value() % 2)
    return fail("ab", invalid_argument("--max-processes needs an integer >= --processes, --max-minutes a positive "
                                       "number, --pairs-per-look an even integer >= 2"));
  // Looks: after the first --processes pairs, then after every --pairs-per-look more (an even
  // number keeps the ABBA balance).
  const int looks = adaptive ? 1 + static_cast<int>((max_processes.value() - processes.value()) / per_look.value()) : 1;
  o.alpha = stats::sequential_nominal_alpha(looks, alpha.value());

  const std::string bins[2] = {f.get("base"), f.get("cand")};
  nlohmann::json merged[2];
  const auto started = std::chrono::steady_clock::now();
  auto run_pair = [&](int64_t i, int64_t planned) -> Status {
    const int order[2] = {i % 2 == 0 ? 0 : 1, i % 2 == 0 ? 1 : 0};  // A B, B A, A B, ...
    for (int side : order) {
      std::fprintf(stderr, "repro ab: process %lld/%lld, %s\n", static_cast<long long>(i + 1),
                   static_cast<long long>(planned), side == 0 ? "base" : "candidate");
      const std::string report = dir + "/" + (side == 0 ? "base-" : "cand-") + std::to_string(i) + ".json";
      nlohmann::json r;
      if (commands) {
        const nlohmann::json run = exec_one_run(specs[side], dir, (side == 0 ? "base-" : "cand-") + std::to_string(i), static_cast<int>(i));
        if (run.contains("failed"))
          return unavailable(std::string(side == 0 ? "the base" : "the candidate") + " command failed in process " +
                             std::to_string(i + 1) + ": " + run["failed"].get<std::string>());
        r = exec_report(specs[side], nlohmann::json::array({run}), nlohmann::json::array(), {}, 0);
      } else {
        WAN_ASSIGN_OR_RETURN(r, run_build(bins[side], case_args, static_cast<int>(runs.value()), report, extra));
      }
      for (auto& run : r["runs"]) run["ab_pair"] = i;
      if (merged[side].is_null()) {
        merged[side] = r;
      } else {
        for (const auto& run : r["runs"]) merged[side]["runs"].push_back(run);
      }
    }
    return Status();
  };
  int64_t pairs = 0;
  for (; pairs < processes.value(); ++pairs) {
    const Status s = run_pair(pairs, adaptive ? max_processes.value() : processes.value());
    if (!s.ok()) return fail("ab", s);
  }
  int look = 1;
  while (adaptive) {
    auto interim = compare_run_reports(merged[0], merged[1], o);
    if (!interim.ok()) return fail("ab", interim.status());
    const nlohmann::json& e = interim.value().json["end_to_end"];
    const double minutes = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() / 60.0;
    const bool conclusive = e["verdict"] != "inconclusive";
    std::fprintf(stderr, "repro ab: look %d/%d after %lld pairs (level %.4f): %s, ratio %.4f [%.4f, %.4f]\n", look, looks,
                 static_cast<long long>(pairs), o.alpha, e["verdict"].get<std::string>().c_str(), e["ratio"].get<double>(),
                 e["ci_low"].get<double>(), e["ci_high"].get<double>());
    if (conclusive || pairs + per_look.value() > max_processes.value() || minutes >= max_minutes.value()) {
      if (!conclusive)
        std::fprintf(stderr, "repro ab: stopping at the cap (%lld pairs, %.1f min) without a verdict\n",
                     static_cast<long long>(pairs), minutes);
      break;
    }
    for (int64_t k = 0; k < per_look.value(); ++k, ++pairs) {
      const Status s = run_pair(pairs, max_processes.value());
      if (!s.ok()) return fail("ab", s);
    }
    ++look;
  }
  for (int side = 0; side < 2; ++side) {
    merged[side]["ab_order"] = "ABBA";
    merged[side]["ab"] = {{"pairs", pairs}, {"adaptive", adaptive}, {"looks_planned", looks}, {"looks_taken", look},
                          {"alpha", alpha.value()}, {"nominal_alpha_per_look", o.alpha}};
    const Status s = write_file_atomically(dir + (side == 0 ? "/base.json" : "/cand.json"), merged[side].dump(1) + "\n",
                                           Overwrite::kAllow);
    if (!s.ok()) return fail("ab", s);
  }
  auto compared = compare_run_reports(merged[0], merged[1], o);
  if (!compared.ok()) return fail("ab", compared.status());
  const Comparison& c = compared.value();
  const std::string md = comparison_markdown(c.json);
  std::fputs(md.c_str(), stdout);
  for (const auto& [name, content] : {std::pair<std::string, std::string>{"compare.md", md},
                                      {"compare.json", c.json.dump(2) + "\n"},
                                      {"compare.html", comparison_html(c.json)}}) {
    const Status s = write_file_atomically(dir + "/" + name, content, Overwrite::kAllow);
    if (!s.ok()) return fail("ab", s);
  }
  std::fprintf(stderr, "repro ab: reports in %s\n", dir.c_str());
  return exit_code_for_comparison(static_cast<int>(c.outcome));
}

}  // namespace wan::cli
