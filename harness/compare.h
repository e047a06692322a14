// `repro compare`: two run reports (repro run JSON) -> the bit-exactness verdict, then a
// noise-aware speed verdict end to end and per kernel (grouped by kernel name and NVTX range),
// the end-to-end change split into per-kernel deltas plus unexplained time, and the kernels
// added, removed or launched differently. Rendered as JSON and as Markdown for a PR comment.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "engine/core/json_reader.h"
#include "engine/core/status.h"
#include "harness/file_schemas.h"

namespace wan {

struct CompareOptions {
  double end_to_end_min_effect = 0.005;  // 0.5%
  double kernel_min_effect = 0.003;      // 0.3%
  // A kernel change smaller than this fraction of the end-to-end time is immaterial whatever
  // its relative size (a 1% change of a 7 us kernel): each kernel's minimum effect is
  // max(kernel_min_effect, end_to_end_floor * end-to-end median / kernel median).
  double end_to_end_floor = 1e-4;        // 0.01% of the end-to-end time
  double alpha = 0.05;                   // false-discovery rate across all comparisons
};

// The options a judge can work with: each minimum effect a finite fraction in [0, 1), alpha in
// (0, 0.5). An error names the option (as its flag) and the range.
Status check_compare_options(const CompareOptions& o);

// kNotComparable: the outputs cannot be judged as a code change: the two sides share no seed,
// or their outputs differ while their environments (fingerprint classes) differ, which a GPU,
// driver, library or build change explains as well as the code (HARNESS.md: never reported as
// a regression). The reason is in json["not_comparable"].
enum class CompareOutcome { kPass, kRegression, kOutputMismatch, kInconclusive, kNotComparable };

struct Comparison {
  CompareOutcome outcome = CompareOutcome::kInconclusive;
  nlohmann::json json;  // schema "wan-repro.compare" version 1
};

// Reads, parses (depth-limited) and validates a run report file. Errors as read_file, then
// DATA_LOSS naming the file and the field.
Result<nlohmann::json> read_run_report(const std::string& path);

// Errors: DATA_LOSS when either report fails validate_run_report (file_schemas.h) (named "base run report" and
// "candidate run report").
Result<Comparison> compare_run_reports(const nlohmann::json& base, const nlohmann::json& cand,
                                       const CompareOptions& options = {});

// Markdown for a pull-request comment: verdict first, then significant changes, then
// kernels added / removed / changed launch shape, then the noise figures.
std::string comparison_markdown(const nlohmann::json& comparison);

// A self-contained HTML page: the same tables plus plots (per-kernel time distributions and
// the end-to-end run-to-run scatter) drawn as SVG by an embedded script from the JSON.
std::string comparison_html(const nlohmann::json& comparison);

}  // namespace wan
