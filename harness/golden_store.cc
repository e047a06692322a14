#include "harness/golden_store.h"

#include <chrono>
#include <ctime>
#include <filesystem>

#include "engine/core/json_reader.h"
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
  const JsonSource source{"golden file '" + path + "'",
                          "restore it with `git checkout -- " + path +
                              "` or re-record it with `repro golden update --force`"};
  WAN_ASSIGN_OR_RETURN(nlohmann::json j, parse_json(text, source));
  WAN_RETURN_IF_ERROR(validate_golden(j, source));
  return j;
}

namespace {
// The file is found by the case id (a hash of the case), so a different recorded case means
// the file was renamed or edited by hand.
Status check_case(const std::string& path, const nlohmann::json& golden, const RunCase& run_case) {
  if (golden["case"] == run_case.to_json()) return Status();
  return data_loss("golden file '" + path + "' records the case " + golden["case"].dump() + ", not this run's " +
                   run_case.to_json().dump() + " (renamed or edited by hand); restore it with `git checkout -- " +
                   path + "` or re-record it with `repro golden update --force`");
}
}  // namespace

Result<GoldenCheck> check_golden(const std::string& golden_dir, const RunCase& run_case,
                                 const Fingerprint& fp, const std::string& latents_sha1,
                                 const std::string& frames_sha1) {
  GoldenCheck c;
  c.file = golden_path(golden_dir, run_case);
  std::error_code ec;
  if (!std::filesystem::exists(c.file, ec)) {
    c.verdict = GoldenVerdict::kMissing;
    c.message = "no golden for this case (" + c.file + "); record one with `repro golden update`";
    return c;
  }
  WAN_ASSIGN_OR_RETURN(nlohmann::json j, read_golden_file(c.file));
  WAN_RETURN_IF_ERROR(check_case(c.file, j, run_case));
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
  c.recorded_commit = g.value("recorded", nlohmann::json::object()).value("engine_commit", "");  // validated
  c.expected_frames_sha1 = g.value("frames_sha1", "");
  const bool latents_match = c.expected_sha1 == latents_sha1;
  const bool frames_match = c.expected_frames_sha1 == frames_sha1;
  if (latents_match && frames_match) {
    c.verdict = GoldenVerdict::kMatch;
    c.message = "matches golden " + c.expected_sha1.substr(0, 12) +
                (frames_sha1.empty() ? "" : ", frames " + frames_sha1.substr(0, 12)) + " (" + c.file + ")";
  } else if (latents_match) {
    c.verdict = GoldenVerdict::kMismatch;
    c.message = "MISMATCH in the decoded video: latents match golden " + c.expected_sha1.substr(0, 12) +
                " but frames hash " + (frames_sha1.empty() ? std::string("(none)") : frames_sha1.substr(0, 12)) +
                " differs from golden " +
                (c.expected_frames_sha1.empty() ? std::string("(none)") : c.expected_frames_sha1.substr(0, 12)) +
                " recorded at " + c.recorded_commit + ": the change is inside the VAE decoder";
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
                                   bool force, const std::string& frames_sha1) {
  GoldenUpdate u;
  u.file = golden_path(golden_dir, run_case);
  u.new_sha1 = latents_sha1;
  u.new_frames_sha1 = frames_sha1;
  // Read, modify, write under one lock: two updates of one case at once must not lose one.
  WAN_ASSIGN_OR_RETURN(const DirectoryLock lock, DirectoryLock::acquire(golden_dir));
  nlohmann::json j;
  std::error_code ec;
  if (std::filesystem::exists(u.file, ec)) {
    auto existing = read_golden_file(u.file);
    if (existing.ok()) {
      const Status same_case = check_case(u.file, existing.value(), run_case);
      if (!same_case.ok()) existing = same_case;
    }
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
    u.old_frames_sha1 = j["goldens"][fp.class_id].value("frames_sha1", "");
    if (u.old_sha1 == latents_sha1 && u.old_frames_sha1 == frames_sha1) return u;  // unchanged
    if (!force) {
      return failed_precondition("golden " + u.file + " for fingerprint class " + fp.class_id +
                                 ": old " + u.old_sha1 + (u.old_frames_sha1.empty() ? "" : " frames " + u.old_frames_sha1) +
                                 ", new " + latents_sha1 + (frames_sha1.empty() ? "" : " frames " + frames_sha1) +
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
  if (!frames_sha1.empty()) j["goldens"][fp.class_id]["frames_sha1"] = frames_sha1;
  WAN_RETURN_IF_ERROR(write_file_atomically(u.file, j.dump(2) + "\n", Overwrite::kAllow));
  u.changed = true;
  return u;
}

}  // namespace wan
