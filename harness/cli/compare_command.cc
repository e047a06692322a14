// `repro compare BASE.json CAND.json`: bit-exactness, then the noise-aware speed verdict.
#include <cstdio>
#include <filesystem>

#include "harness/atomic_file.h"
#include "harness/cli/commands.h"
#include "harness/cli/exit_codes.h"
#include "harness/compare.h"

namespace wan::cli {

int exit_code_for_comparison(int outcome) {
  switch (static_cast<CompareOutcome>(outcome)) {
    case CompareOutcome::kPass: return kExitOk;
    case CompareOutcome::kRegression: return kExitRegression;
    case CompareOutcome::kOutputMismatch: return kExitOutputMismatch;
    case CompareOutcome::kInconclusive: return kExitInconclusive;
    case CompareOutcome::kNotComparable: return kExitNotComparable;
  }
  return kExitInternal;
}

int compare_command(const std::vector<std::string>& args) {
  auto flags = Flags::parse(args, {"json", "html", "md", "min-effect", "kernel-min-effect", "alpha"}, {"force"});
  if (!flags.ok()) return fail("compare", flags.status());
  const Flags& f = flags.value();
  if (f.positional().size() != 2)
    return fail("compare", invalid_argument("usage: repro compare BASE.json CAND.json [--md F] [--json F] [--html F]"));
  nlohmann::json reports[2];
  for (int i = 0; i < 2; ++i) {
    auto report = read_run_report(f.positional()[i]);
    if (!report.ok()) return fail("compare", report.status());
    reports[i] = std::move(report).value();
  }
  CompareOptions o;
  auto e2e = f.get_double("min-effect", o.end_to_end_min_effect);
  auto kernel = f.get_double("kernel-min-effect", o.kernel_min_effect);
  auto alpha = f.get_double("alpha", o.alpha);
  if (!e2e.ok() || !kernel.ok() || !alpha.ok()) return fail("compare", invalid_argument("--min-effect, --kernel-min-effect and --alpha need numbers"));
  o.end_to_end_min_effect = e2e.value();
  o.kernel_min_effect = kernel.value();
  o.alpha = alpha.value();
  if (const Status valid = check_compare_options(o); !valid.ok()) return fail("compare", valid);
  // Every output is refused before any is written, so a refusal leaves none half-made.
  const Overwrite ow = f.has("force") ? Overwrite::kAllow : Overwrite::kRefuse;
  if (const Status free = refuse_existing_outputs({f.get("md"), f.get("json"), f.get("html")}, ow); !free.ok())
    return fail("compare", free);
  auto compared = compare_run_reports(reports[0], reports[1], o);
  if (!compared.ok()) return fail("compare", compared.status());
  const Comparison& c = compared.value();
  const std::string md = comparison_markdown(c.json);
  std::fputs(md.c_str(), stdout);
  if (f.has("md")) {
    const Status s = write_file_atomically(f.get("md"), md, ow);
    if (!s.ok()) return fail("compare", s);
  }
  if (f.has("json")) {
    const Status s = write_file_atomically(f.get("json"), c.json.dump(2) + "\n", ow);
    if (!s.ok()) return fail("compare", s);
  }
  if (f.has("html")) {
    const Status s = write_file_atomically(f.get("html"), comparison_html(c.json), ow);
    if (!s.ok()) return fail("compare", s);
  }
  return exit_code_for_comparison(static_cast<int>(c.outcome));
}

}  // namespace wan::cli
