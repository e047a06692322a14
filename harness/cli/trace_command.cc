// `repro trace`: record a SHA-1 chain over every intermediate of a generation (optionally
// dumping chosen tensors, optionally perturbing one op for debugging), or `--diff A B`: name
// the first divergent (step, branch, block, op) and its error figures.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "engine/model/safetensors.h"
#include "harness/atomic_file.h"
#include "harness/cli/commands.h"
#include "harness/cli/exit_codes.h"
#include "harness/cli/subprocess.h"
#include "harness/fingerprint.h"
#include "harness/hashing.h"
#include "harness/trace.h"

namespace wan::cli {
namespace {

// The dumped tensor `key` of a (validated) trace, if its dump file has it: an f32 tensor of
// the shape the trace recorded for that op, else DATA_LOSS.
Result<Tensor> dumped(const nlohmann::json& trace, const std::string& key, const Shape& shape) {
  const std::string file = trace.value("dump_file", "");
  if (file.empty()) return not_found("no dumps");
  WAN_ASSIGN_OR_RETURN(Checkpoint dumps, Checkpoint::open(file));
  if (!dumps.has(key)) return not_found("no dump of " + key);
  WAN_ASSIGN_OR_RETURN(Tensor t, dumps.tensor(key));
  if (t.dtype() != DType::kF32 || t.shape() != shape)
    return data_loss("dump '" + key + "' in '" + file + "' is " + std::string(dtype_name(t.dtype())) +
                     shape_to_string(t.shape()) + ", but the trace recorded " + std::string(dtype_name(DType::kF32)) + shape_to_string(shape) +
                     " for that op; record the trace and its dumps again with `repro trace --dump " + key + "`");
  return t;
}

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa, sb;
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

// Re-runs a trace's recorded command with a dump of `key` into `out`; returns the new trace.
// The command comes from the file: a program other than this executable runs only with
// `allow_other_program` (--rerun-recorded), so a trace file cannot run an arbitrary program.
Result<nlohmann::json> rerun_with_dump(const nlohmann::json& trace, const std::string& trace_path,
                                       const std::string& key, const std::string& out, bool allow_other_program) {
  const std::vector<std::string> args = trace.value("command", std::vector<std::string>{});
  if (args.size() < 2 || args[1] != "trace")
    return data_loss("trace '" + trace_path + "' records no `repro trace` command to re-run; record both traces with `--dump " +
                     key + "` instead");
  if (!allow_other_program && !same_file(args[0], self_executable()))
    return invalid_argument("trace '" + trace_path + "' was recorded by '" + args[0] + "', not by this program (" +
                            self_executable() + "); pass --rerun-recorded to run the programs the traces name "
                            "(only for traces you trust), or record both traces with `--dump " + key + "`");
  // Drop any --out / --dump / --force of the original command, then add ours.
  std::vector<std::string> kept;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--out" || args[i] == "--dump") { ++i; continue; }
    if (args[i].rfind("--out=", 0) == 0 || args[i].rfind("--dump=", 0) == 0 || args[i] == "--force") continue;
    kept.push_back(args[i]);
  }
  for (const std::string& a : {std::string("--out"), out, std::string("--dump"), key, std::string("--force"), std::string("--quiet")})
    kept.push_back(a);
  std::fprintf(stderr, "repro trace --diff: re-running %s to dump %s\n", kept[0].c_str(), key.c_str());
  WAN_ASSIGN_OR_RETURN(const int exit_code, run_subprocess(kept));
  if (exit_code != 0)
    return internal_error("re-running '" + kept[0] + "' failed with status " + std::to_string(exit_code));
  return read_trace_file(out);
}

int diff(const Flags& f) {
  if (f.positional().size() != 2) return fail("trace", invalid_argument("usage: repro trace --diff A.trace.json B.trace.json [--rerun | --rerun-recorded]"));
  auto a = read_trace_file(f.positional()[0]);
  if (!a.ok()) return fail("trace --diff", a.status());
  auto b = read_trace_file(f.positional()[1]);
  if (!b.ok()) return fail("trace --diff", b.status());
  auto d = diff_traces(a.value(), b.value());
  if (!d.ok()) return fail("trace --diff", d.status());
  std::printf("%s\n", d->message.c_str());
  if (d->identical) return kExitOk;
  if (d->structural) return kExitTraceDiverged;
  const std::string key = op_key(d->a.step, d->a.branch, d->a.block, d->a.op);
  std::printf("  op        %s  shape %s\n", key.c_str(), shape_to_string(d->a.shape).c_str());
  std::printf("  sha1      A %s\n            B %s\n", d->a.sha1.c_str(), d->b.sha1.c_str());
  nlohmann::json ta = a.value(), tb = b.value();
  auto xa = dumped(ta, key, d->a.shape), xb = dumped(tb, key, d->b.shape);
  for (const auto* x : {&xa, &xb})
    if (x->status().code() == StatusCode::kDataLoss) return fail("trace --diff", x->status());
  if ((!xa.ok() || !xb.ok()) && (f.has("rerun") || f.has("rerun-recorded"))) {
    const std::string tmp = "/tmp/repro-trace-rerun-" + std::to_string(::getpid());
    const bool other = f.has("rerun-recorded");
    auto ra = rerun_with_dump(ta, f.positional()[0], key, tmp + "-a.json", other);
    if (!ra.ok()) return fail("trace --diff --rerun", ra.status());
    auto rb = rerun_with_dump(tb, f.positional()[1], key, tmp + "-b.json", other);
    if (!rb.ok()) return fail("trace --diff --rerun", rb.status());
    ta = ra.value();
    tb = rb.value();
    xa = dumped(ta, key, d->a.shape);
    xb = dumped(tb, key, d->b.shape);
    for (const auto* x : {&xa, &xb})
      if (x->status().code() == StatusCode::kDataLoss) return fail("trace --diff --rerun", x->status());
  }
  if (xa.ok() && xb.ok()) {
    const Tensor ca = xa->clone().value(), cb = xb->clone().value();
    const ErrorStats s = compare_f32(ca.data<float>(), cb.data<float>(), ca.numel());
    std::printf("  error     max abs %.6g, rel L2 %.6g, max ULP %lld (f32)%s, %lld of %lld elements differ\n",
                s.max_abs, s.rel_l2, static_cast<long long>(s.max_ulp_f32),
                s.max_ulp_bf16 >= 0 ? (", " + std::to_string(s.max_ulp_bf16) + " (bf16)").c_str() : "",
                static_cast<long long>(s.differing), static_cast<long long>(s.count));
  } else {
    std::printf("  error     figures need the tensors: add --rerun (re-runs both recorded commands with "
                "--dump %s), or record both traces with --dump %s\n", key.c_str(), key.c_str());
  }
  return kExitTraceDiverged;
}

}  // namespace

int trace_command(const std::vector<std::string>& args, const std::vector<std::string>& argv0) {
  std::set<std::string> value_flags = case_value_flags();
  for (const char* n : {"out", "dump", "debug-perturb"}) value_flags.insert(n);
  auto flags = Flags::parse(args, value_flags, {"diff", "rerun", "rerun-recorded", "force", "quiet"});
  if (!flags.ok()) return fail("trace", flags.status());
  const Flags& f = flags.value();
  if (f.has("diff")) return diff(f);

  auto run_case = case_from_flags(f);
  if (!run_case.ok()) return fail("trace", run_case.status());
  const RunCase& c = run_case.value();
  std::vector<OpSelector> dumps;
  if (f.has("dump")) {
    std::stringstream ss(f.get("dump"));
    for (std::string s; std::getline(ss, s, ',');) {
      auto sel = OpSelector::parse(s);
      if (!sel.ok()) return fail("trace", sel.status());
      dumps.push_back(sel.value());
    }
  }
  const std::string out = f.get("out", "repro-out/trace-" + c.case_id() + ".json");
  const std::string dump_path = out + ".dumps.safetensors";
  const Overwrite overwrite = f.has("force") ? Overwrite::kAllow : Overwrite::kRefuse;
  // Refused before the generation runs; the writes below refuse again if a file appears since.
  std::vector<std::string> targets = {out};
  if (!dumps.empty()) targets.push_back(dump_path);
  if (const Status free = refuse_existing_outputs(targets, overwrite); !free.ok()) return fail("trace", free);

  auto pipeline = build_pipeline(c);
  if (!pipeline.ok()) return fail("trace", pipeline.status());
  auto decoder = build_vae_decoder(c, pipeline.value().get());
  if (!decoder.ok()) return fail("trace", decoder.status());
  TraceRecorder recorder(dumps);
  std::unique_ptr<PerturbObserver> perturb;
  std::vector<GenerationObserver*> chain;
  std::vector<VaeObserver*> vae_chain;
  if (f.has("debug-perturb")) {
    auto where = OpSelector::parse(f.get("debug-perturb"));
    if (!where.ok()) return fail("trace", where.status());
    perturb = std::make_unique<PerturbObserver>(where.value());
    chain.push_back(perturb.get());
    vae_chain.push_back(perturb.get());
  }
  chain.push_back(&recorder);
  vae_chain.push_back(&recorder);
  ObserverChain observers(chain, vae_chain);
  const bool quiet = f.has("quiet");
  auto latents = pipeline.value()->generate(c.request, &observers, [&](const StepProgress& p) {
    if (!quiet) print_step_progress(p.step, p.steps, p.timestep, p.seconds);
  });
  if (!latents.ok()) return fail("trace", latents.status());
  std::string frames_sha1;
  if (decoder.value()) {
    // The decoder's ops follow the last step in the chain (step -1, branch vae).
    auto tiling = VaeTiling::parse(c.vae_tiling);
    if (!tiling.ok()) return fail("trace", tiling.status());
    auto video = decoder.value()->decode(latents.value(), &observers, nullptr, tiling.value());
    if (!video.ok()) return fail("trace", video.status());
    auto frames = video_to_frames(video.value());
    if (!frames.ok()) return fail("trace", frames.status());
    frames_sha1 = sha1_frames(frames.value());
  }
  if (perturb && !perturb->fired())
    return fail("trace", invalid_argument("--debug-perturb " + f.get("debug-perturb") + " matched no op of this case"));
  for (size_t i = 0; i < dumps.size(); ++i) {  // a selector that dumps nothing is a typo, not an empty wish
    const auto& records = recorder.records();
    const bool matched = std::any_of(records.begin(), records.end(), [&](const TraceRecord& r) {
      return dumps[i].matches(r.step, r.branch, r.block, r.op);
    });
    if (!matched)
      return fail("trace", invalid_argument("--dump: selector " + std::to_string(i + 1) + " of '" + f.get("dump") +
                                            "' matched no op of this case (" + std::to_string(records.size()) +
                                            " ops recorded; run `repro trace` without --dump and look at its ops for "
                                            "the step, branch, block and op names)"));
  }
  const std::string final_sha1 = sha1_tensor(latents.value()).value();
  std::string dump_file;
  if (!recorder.dumps().empty()) {
    dump_file = dump_path;
    const Status s = write_file_atomically_with(
        dump_file, [&](const std::string& temp) { return write_safetensors(temp, recorder.dumps(), {{"trace", out}}); },
        overwrite);
    if (!s.ok()) return fail("trace", s);
  }
  std::vector<std::string> command = argv0;
  if (!command.empty()) command[0] = self_executable();
  nlohmann::json doc = trace_to_json(recorder, c.to_json(), case_fingerprint(c).fields,
                                     final_sha1, command, dump_file);
  if (!frames_sha1.empty()) doc["final_frames_sha1"] = frames_sha1;
  const Status s = write_file_atomically(out, doc.dump(1) + "\n", overwrite);
  if (!s.ok()) return fail("trace", s);
  std::printf("trace     %s (%zu ops, chain %s)\nlatents   sha1 %s\n", out.c_str(), recorder.records().size(),
              recorder.records().empty() ? "-" : recorder.records().back().chain.substr(0, 12).c_str(), final_sha1.c_str());
  if (!frames_sha1.empty()) std::printf("frames    sha1 %s\n", frames_sha1.c_str());
  if (!dump_file.empty()) std::printf("dumps     %s (%zu tensors)\n", dump_file.c_str(), recorder.dumps().size());
  return kExitOk;
}

}  // namespace wan::cli
