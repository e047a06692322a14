// Fuzz target: parse_json and every JsonValue accessor on whatever parses. Contract: no crash,
// every error DATA_LOSS with a message, parsed documents within the depth limit (so the
// recursive dump() and == below cannot overflow the stack).
#include "engine/core/json_reader.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

void walk(const wan::JsonValue& v, int depth) {
  if (depth > wan::kMaxJsonDepth) wan::fuzz::contract_broken("a parsed document is deeper than the limit");
  (void)v.as_string();
  (void)v.as_bool();
  (void)v.as_int(-5, 5);
  (void)v.as_uint();
  (void)v.as_number(0.0, 1.0);
  (void)v.as_sha1();
  (void)v.as_int_array(0);
  (void)v.as_string_array();
  (void)v.string_field_or("a", "");
  (void)v.int_field_or("a", 0, 0, 10);
  (void)v.number_field_or("a", 0.0);
  if (auto items = v.elements(); items.ok())
    for (const auto& item : items.value()) walk(item, depth + 1);
  if (auto members = v.members(); members.ok())
    for (const auto& [key, item] : members.value()) walk(item, depth + 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const wan::JsonSource source{"fuzz input", "none"};
  auto doc = wan::parse_json(wan::fuzz::text_of(data, size), source);
  if (!doc.ok()) {
    if (doc.status().code() != wan::StatusCode::kDataLoss) wan::fuzz::contract_broken(doc.status().to_string());
    return 0;
  }
  walk(wan::JsonValue(doc.value(), source), 1);
  const nlohmann::json copy = doc.value();
  if (!(copy == doc.value())) wan::fuzz::contract_broken("a copy differs");
  (void)copy.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return 0;
}
