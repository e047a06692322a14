// Fuzz target: a trace document through `repro trace --diff`: validate, diff with itself and
// with a fixed trace. Contract: a trace that validates diffs without an error, and is
// identical to itself.
#include "harness/trace_file.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

const nlohmann::json& reference() {
  static const nlohmann::json t = {
      {"schema", "wan-repro.trace"}, {"schema_version", 1}, {"dump_file", ""},
      {"records", {{{"step", 0}, {"branch", "cond"}, {"block", 0}, {"op", "norm1"}, {"shape", {2, 3}},
                    {"sha1", std::string(40, '1')}, {"chain", std::string(40, '2')}}}}};
  return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const wan::JsonSource source{"fuzz trace", "none"};
  auto doc = wan::parse_json(wan::fuzz::text_of(data, size), source);
  if (!doc.ok()) return 0;
  const wan::Status valid = wan::validate_trace(doc.value(), source);
  wan::fuzz::expect_clear_error(valid, "validate_trace");
  auto self = wan::diff_traces(doc.value(), doc.value());
  if (!valid.ok()) {
    if (self.ok()) wan::fuzz::contract_broken("diff accepted a trace that does not validate");
    return 0;
  }
  if (!self.ok() || !self->identical) wan::fuzz::contract_broken("a valid trace is not identical to itself");
  auto other = wan::diff_traces(reference(), doc.value());
  if (!other.ok()) wan::fuzz::contract_broken("valid traces did not diff: " + other.status().to_string());
  if (!other->identical && other->message.empty()) wan::fuzz::contract_broken("a divergence without a message");
  return 0;
}
