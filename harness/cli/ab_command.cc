// `repro ab --base BIN --cand BIN [case flags]`: interleaved A/B runs of two builds in fresh
// processes, ABBA order (A B, then B A, ...) so clock and thermal drift cancel, then the same
// comparison as `repro compare` over the merged reports.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <sstream>

#include "harness/atomic_file.h"
#include "harness/cli/commands.h"
#include "harness/cli/exit_codes.h"
#include "harness/cli/subprocess.h"
#include "harness/compare.h"

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
  for (const char* n : {"base", "cand", "processes", "runs-per-process", "out-dir", "min-effect", "kernel-min-effect"})
    value_flags.insert(n);
  auto flags = Flags::parse(args, value_flags, {"no-kernels", "no-cuda-graphs"});
  if (!flags.ok()) return fail("ab", flags.status());
  const Flags& f = flags.value();
  if (!f.has("base") || !f.has("cand"))
    return fail("ab", invalid_argument("usage: repro ab --base BIN --cand BIN [case flags] [--processes 8] "
                                       "[--runs-per-process 3] [--out-dir DIR]"));
  std::vector<std::string> case_args;
  for (const std::string& name : case_value_flags())
    if (f.has(name)) {
      case_args.push_back("--" + name);
      case_args.push_back(f.get(name));
    }
  std::vector<std::string> extra;
  if (f.has("no-kernels")) extra.push_back("--no-kernels");
  if (f.has("no-cuda-graphs")) extra.push_back("--no-cuda-graphs");
  auto processes = f.get_int("processes", 8), runs = f.get_int("runs-per-process", 3);
  if (!processes.ok() || !runs.ok() || processes.value() < 1 || runs.value() < 1)
    return fail("ab", invalid_argument("--processes and --runs-per-process need positive integers"));
  const std::string dir = f.get("out-dir", "repro-out/ab-" + std::to_string(::getpid()));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return fail("ab", unavailable("cannot create --out-dir '" + dir + "': " + ec.message()));
  const std::string bins[2] = {f.get("base"), f.get("cand")};
  nlohmann::json merged[2];
  for (int64_t i = 0; i < processes.value(); ++i) {
    const int order[2] = {i % 2 == 0 ? 0 : 1, i % 2 == 0 ? 1 : 0};  // A B, B A, A B, ...
    for (int side : order) {
      std::fprintf(stderr, "repro ab: process %lld/%lld, %s\n", static_cast<long long>(i + 1),
                   static_cast<long long>(processes.value()), side == 0 ? "base" : "candidate");
      const std::string report = dir + "/" + (side == 0 ? "base-" : "cand-") + std::to_string(i) + ".json";
      auto r = run_build(bins[side], case_args, static_cast<int>(runs.value()), report, extra);
      if (!r.ok()) return fail("ab", r.status());
      if (merged[side].is_null()) {
        merged[side] = r.value();
      } else {
        for (const auto& run : r.value()["runs"]) merged[side]["runs"].push_back(run);
      }
    }
  }
  for (int side = 0; side < 2; ++side) {
    merged[side]["ab_order"] = "ABBA";
    const Status s = write_file_atomically(dir + (side == 0 ? "/base.json" : "/cand.json"), merged[side].dump(1) + "\n",
                                           Overwrite::kAllow);
    if (!s.ok()) return fail("ab", s);
  }
  CompareOptions o;
  auto e2e_effect = f.get_double("min-effect", o.end_to_end_min_effect);
  auto kernel_effect = f.get_double("kernel-min-effect", o.kernel_min_effect);
  if (!e2e_effect.ok() || !kernel_effect.ok())
    return fail("ab", invalid_argument("--min-effect and --kernel-min-effect need numbers"));
  o.end_to_end_min_effect = e2e_effect.value();
  o.kernel_min_effect = kernel_effect.value();
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
