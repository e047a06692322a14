// Fuzz target: a run report through `repro compare`: parse, validate, compare with itself and
// with a fixed report, render Markdown and HTML. Contract: a report that validates compares
// without an error or an exception, every figure finite, no HTML comment opener in the page.
#include <cmath>

#include "harness/compare.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

const nlohmann::json& reference() {
  static const nlohmann::json r = [] {
    nlohmann::json run = {{"seed", 1}, {"latents_sha1", std::string(40, 'a')}, {"seconds", 0.5}, {"pid", 1},
                          {"kernels", {{{"name", "k"}, {"range", "r"}, {"total_us", 5.0}, {"grid", {1, 1, 1}},
                                        {"block", {32, 1, 1}}, {"registers", 32}, {"smem", 0}}}}};
    return nlohmann::json{{"schema", "wan-repro.run"}, {"runs", {run, run, run}}};
  }();
  return r;
}

// Every figure of the comparison is finite (NaN and inf were printed as -nan and written as null).
void expect_finite(const nlohmann::json& j, const std::string& path) {
  if (j.is_number_float() && !std::isfinite(j.get<double>())) wan::fuzz::contract_broken("non-finite " + path);
  if (j.is_object())
    for (const auto& [key, value] : j.items()) expect_finite(value, path + "." + key);
  if (j.is_array())
    for (size_t i = 0; i < j.size(); ++i) expect_finite(j[i], path + "[" + std::to_string(i) + "]");
}

void compare_and_render(const nlohmann::json& a, const nlohmann::json& b) {
  auto c = wan::compare_run_reports(a, b);
  if (!c.ok()) wan::fuzz::contract_broken("validated reports did not compare: " + c.status().to_string());
  expect_finite(c->json, "comparison");
  const std::string md = wan::comparison_markdown(c->json);
  const std::string html = wan::comparison_html(c->json);
  if (html.find("<!--") != std::string::npos) wan::fuzz::contract_broken("an HTML comment opener in the page");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const wan::JsonSource source{"fuzz report", "none"};
  auto doc = wan::parse_json(wan::fuzz::text_of(data, size), source);
  if (!doc.ok()) return 0;
  const wan::Status valid = wan::validate_run_report(doc.value(), source);
  wan::fuzz::expect_clear_error(valid, "validate_run_report");
  if (!valid.ok()) {
    if (wan::compare_run_reports(doc.value(), reference()).ok())
      wan::fuzz::contract_broken("compare accepted a report that does not validate");
    return 0;
  }
  compare_and_render(doc.value(), doc.value());
  compare_and_render(reference(), doc.value());
  return 0;
}
