// `repro golden check|update`: runs the case once and compares with (or records into) golden/.
#include <cstdio>
#include <filesystem>

#include "harness/cli/commands.h"
#include "harness/cli/exit_codes.h"
#include "harness/fingerprint.h"
#include "harness/golden_store.h"
#include "harness/hashing.h"

namespace wan::cli {

int golden_command(const std::vector<std::string>& args) {
  if (args.empty() || (args[0] != "check" && args[0] != "update")) {
    return fail("golden", invalid_argument("usage: repro golden check|update [case flags | --case-from GOLDEN.json] "
                                           "[--golden-dir DIR] [--force]"));
  }
  const std::string mode = args[0];
  std::set<std::string> value_flags = case_value_flags();
  value_flags.insert("golden-dir");
  value_flags.insert("case-from");
  auto flags = Flags::parse({args.begin() + 1, args.end()}, value_flags, {"force", "quiet"});
  if (!flags.ok()) return fail("golden " + mode, flags.status());
  // --case-from: the case a golden file records (re-recording goldens after a deliberate change
  // of bits), instead of case flags.
  Result<RunCase> run_case = invalid_argument("no case");
  if (flags->has("case-from")) {
    for (const std::string& name : case_value_flags())
      if (flags->has(name))
        return fail("golden " + mode, invalid_argument("--case-from takes the whole case from the golden file; drop --" +
                                                       name + " (or drop --case-from and give every case flag)"));
    auto doc = read_golden_file(flags->get("case-from"));
    if (!doc.ok()) return fail("golden " + mode, doc.status());
    run_case = RunCase::from_json(doc.value()["case"]);
  } else {
    run_case = case_from_flags(flags.value());
  }
  if (!run_case.ok()) return fail("golden " + mode, run_case.status());
  const RunCase& c = run_case.value();
  const std::string dir = flags->get("golden-dir", "golden");
  const bool quiet = flags->has("quiet");
  const Fingerprint fp = case_fingerprint(c);

  if (mode == "check") {
    // A corrupt golden file is reported before spending time on the generation.
    const std::string path = golden_path(dir, c);
    std::error_code ec;
    if (std::filesystem::symlink_status(path, ec).type() != std::filesystem::file_type::not_found) {
      auto valid = read_golden_file(path);  // a FIFO is refused here without blocking (fopen waited)
      if (!valid.ok()) return fail("golden check", valid.status());
    }
  }
  auto pipeline = build_pipeline(c);
  if (!pipeline.ok()) return fail("golden " + mode, pipeline.status());
  auto decoder = build_vae_decoder(c, pipeline.value().get());
  if (!decoder.ok()) return fail("golden " + mode, decoder.status());
  if (!quiet) std::fprintf(stderr, "repro golden %s: generating case %s\n", mode.c_str(), c.case_id().c_str());
  auto hashes = generate_case_hashes(*pipeline.value(), decoder.value().get(), c, [&](const StepProgress& p) {
    if (!quiet) print_step_progress(p.step, p.steps, p.timestep, p.seconds);
  });
  if (!hashes.ok()) return fail("golden " + mode, hashes.status());
  const std::string sha1 = hashes->latents_sha1, frames_sha1 = hashes->frames_sha1;

  if (mode == "check") {
    auto check = check_golden(dir, c, fp, sha1, frames_sha1);
    if (!check.ok()) return fail("golden check", check.status());
    std::printf("%s  %s\n", std::string(golden_verdict_name(check->verdict)).c_str(), check->message.c_str());
    return check->verdict == GoldenVerdict::kMismatch ? kExitGoldenMismatch : kExitOk;
  }
  auto update = update_golden(dir, c, fp, sha1, flags->has("force"), frames_sha1);
  if (!update.ok()) {
    std::printf("refused  %s\n", update.status().message().c_str());
    return exit_code_for(update.status());
  }
  if (!update->changed) {
    std::printf("unchanged  %s  %s%s\n", update->file.c_str(), sha1.c_str(),
                frames_sha1.empty() ? "" : (" frames " + frames_sha1).c_str());
  } else {
    std::printf("%s  %s\n  old %s%s\n  new %s%s\n", update->old_sha1.empty() ? "recorded" : "replaced",
                update->file.c_str(), update->old_sha1.empty() ? "(none for this class)" : update->old_sha1.c_str(),
                update->old_frames_sha1.empty() ? "" : (" frames " + update->old_frames_sha1).c_str(), sha1.c_str(),
                frames_sha1.empty() ? "" : (" frames " + frames_sha1).c_str());
  }
  return kExitOk;
}

int devices_command(const std::vector<std::string>& args) {
  auto flags = Flags::parse(args, {}, {});
  if (!flags.ok()) return fail("devices", flags.status());
  const Fingerprint cpu = make_fingerprint(Device::cpu());
  std::printf("%s\n", cpu.fields.dump(2).c_str());
  return kExitOk;
}

}  // namespace wan::cli
