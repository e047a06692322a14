#include "harness/golden_store.h"

#include <chrono>
#include <ctime>
#include <filesystem>

#include "harness/atomic_file.h"
#include "harness/build_info.h"

namespace wan {

std::string_view golden_verdict_name(GoldenVerdict v) {
  switch (v) {
    case GoldenVerdict::kMatch: return "match";
    case GoldenVerdict::kMismatch: return "mismatch";
    case GoldenVerdict::kNotComparable: return "not_comparable";
    case GoldenVerdict::kMissing: return "missing";
  }
  return "?";
}

std::string golden_path(const std::string& golden_dir, const RunCase& run_case) {
  return (std::filesystem::path(golden_dir) / (run_case.case_id() + ".json")).string();
}

Result<nlohmann::json> read_golden_file(const std::string& path) {
  WAN_ASSIGN_OR_RETURN(std::string text, read_file(path));
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    return data_loss("golden file '" + path + "' is not valid JSON (" + e.what() +
                     "); restore it with `git checkout -- " + path +
                     "` or re-record it with `repro golden update --force`");
  }
  auto bad = [&](const std::string& what) {
    return data_loss("golden file '" + path + "' is invalid: " + what +
                     "; restore it from git or re-record it with `repro golden update --force`");
  };
  if (!j.is_object()) return bad("the top level must be an object");
  if (!j.contains("schema_version") || !j["schema_version"].is_number_integer())
    return bad("missing integer 'schema_version'");
  if (j["schema_version"].get<int>() != kGoldenSchemaVersion)
    return bad("schema_version " + j["schema_version"].dump() + " is not " +
               std::to_string(kGoldenSchemaVersion));
  if (!j.contains("case") || !j["case"].is_object()) return bad("missing object 'case'");
  if (!j.contains("goldens") || !j["goldens"].is_object()) return bad("missing object 'goldens'");
  for (auto it = j["goldens"].begin(); it != j["goldens"].end(); ++it) {
    const auto& g = it.value();
    if (!g.is_object() || !g.contains("latents_sha1") || !g["latents_sha1"].is_string() ||
        g["latents_sha1"].get<std::string>().size() != 40)
      return bad("goldens['" + it.key() + "'] needs a 40-character 'latents_sha1'");
    if (!g.contains("fingerprint_class") || !g["fingerprint_class"].is_object())
      return bad("goldens['" + it.key() + "'] needs an object 'fingerprint_class'");
  }
  return j;
}

Result<GoldenCheck> check_golden(const std::string& golden_dir, const RunCase& run_case,
                                 const Fingerprint& fp, const std::string& latents_sha1) {
  GoldenCheck c;
  c.file = golden_path(golden_dir, run_case);
  std::error_code ec;
  if (!std::filesystem::exists(c.file, ec)) {
    c.verdict = GoldenVerdict::kMissing;
    c.message = "no golden for this case (" + c.file + "); record one with `repro golden update`";
    return c;
  }
  WAN_ASSIGN_OR_RETURN(nlohmann::json j, read_golden_file(c.file));
  const auto& goldens = j["goldens"];
  if (!goldens.contains(fp.class_id)) {
    c.verdict = GoldenVerdict::kNotComparable;
    std::string diff;
    if (!goldens.empty()) {
      diff = describe_class_difference(goldens.begin().value()["fingerprint_class"], fp.class_fields);
    }
    c.message = "not comparable: environment changed (no golden for fingerprint class " + fp.class_id +
                (diff.empty() ? "" : "; differs from a recorded class in " + diff) +
                "); this is not a failure of the code";
    return c;
  }
  const auto& g = goldens[fp.class_id];
  c.expected_sha1 = g["latents_sha1"].get<std::string>();
  c.recorded_commit = g.value("recorded", nlohmann::json::object()).value("engine_commit", "");
  if (c.expected_sha1 == latents_sha1) {
    c.verdict = GoldenVerdict::kMatch;
    c.message = "matches golden " + c.expected_sha1.substr(0, 12) + " (" + c.file + ")";
  } else {
    c.verdict = GoldenVerdict::kMismatch;
    c.message = "MISMATCH: got " + latents_sha1.substr(0, 12) + ", golden " +
                c.expected_sha1.substr(0, 12) + " recorded at " + c.recorded_commit +
                " in the same environment class; use `repro trace --diff` to find the first "
                "divergent op";
  }
  return c;
}

Result<GoldenUpdate> update_golden(const std::string& golden_dir, const RunCase& run_case,
                                   const Fingerprint& fp, const std::string& latents_sha1,
                                   bool force) {
  GoldenUpdate u;
  u.file = golden_path(golden_dir, run_case);
  u.new_sha1 = latents_sha1;
  nlohmann::json j;
  std::error_code ec;
  if (std::filesystem::exists(u.file, ec)) {
    auto existing = read_golden_file(u.file);
    if (!existing.ok()) {
      if (!force) return existing.status();
      j = nullptr;  // --force replaces an invalid file
    } else {
      j = std::move(existing).value();
    }
  }
  if (j.is_null()) {
    j = {{"schema_version", kGoldenSchemaVersion}, {"case", run_case.to_json()},
         {"goldens", nlohmann::json::object()}};
  }
  if (j["goldens"].contains(fp.class_id)) {
    u.old_sha1 = j["goldens"][fp.class_id]["latents_sha1"].get<std::string>();
    if (u.old_sha1 == latents_sha1) return u;  // unchanged
    if (!force) {
      return failed_precondition("golden " + u.file + " for fingerprint class " + fp.class_id +
                                 ": old " + u.old_sha1 + ", new " + latents_sha1 +
                                 "; pass --force to replace it");
    }
  }
  const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char date[32];
  std::strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  j["case"] = run_case.to_json();
  j["goldens"][fp.class_id] = {
      {"latents_sha1", latents_sha1},
      {"fingerprint_class", fp.class_fields},
      {"recorded", {{"engine_commit", engine_commit()}, {"date", date}, {"fingerprint", fp.fields}}}};
  WAN_RETURN_IF_ERROR(write_file_atomically(u.file, j.dump(2) + "\n", Overwrite::kAllow));
  u.changed = true;
  return u;
}

}  // namespace wan
