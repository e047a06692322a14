// Fuzz target: a golden file: validate, then every read check_golden and update_golden make
// of a validated file. Contract: those reads never throw (nlohmann's type_error aborted
// `repro golden check` after the whole generation had run).
#include "harness/file_schemas.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const wan::JsonSource source{"fuzz golden", "none"};
  auto doc = wan::parse_json(wan::fuzz::text_of(data, size), source);
  if (!doc.ok()) return 0;
  const wan::Status valid = wan::validate_golden(doc.value(), source);
  wan::fuzz::expect_clear_error(valid, "validate_golden");
  if (!valid.ok()) return 0;
  const nlohmann::json& j = doc.value();
  try {
    (void)j.at("case").dump();
    for (const auto& [class_id, g] : j.at("goldens").items()) {
      const std::string sha1 = g.at("latents_sha1").get<std::string>();
      if (sha1.size() != 40) wan::fuzz::contract_broken("a validated hash is not 40 characters");
      (void)g.at("fingerprint_class").items();
      (void)g.value("recorded", nlohmann::json::object()).value("engine_commit", "");
    }
  } catch (const nlohmann::json::exception& e) {
    wan::fuzz::contract_broken(std::string("a read of a validated golden threw: ") + e.what());
  }
  return 0;
}
