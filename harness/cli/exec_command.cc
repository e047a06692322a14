// `repro exec [flags] -- PROGRAM ARGS...`: any program under the harness. It runs the program
// N times, each in a fresh process with a fresh output directory ({run_dir} in the arguments,
// $REPRO_RUN_DIR in its environment), traces its CUDA kernels through the project's injection
// library (harness/exec/repro_inject.cc: CUPTI activity records attributed to the program's own
// NVTX ranges, children included), hashes the files it writes (--hash) in canonical form, and
// writes the same run report as `repro run`, so `repro compare`, the Markdown/JSON/HTML
// reports and the exit codes work unchanged.
#include <unistd.h>

extern char** environ;

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/core/device.h"
#include "harness/atomic_file.h"
#include "harness/build_info.h"
#include "harness/cli/commands.h"
#include "harness/cli/exit_codes.h"
#include "harness/cli/subprocess.h"
#include "harness/exec/exec_trace.h"
#include "harness/exec/output_hashing.h"
#include "harness/file_schemas.h"
#include "harness/fingerprint.h"
#include "harness/hashing.h"
#include "harness/stats.h"

namespace wan::cli {
namespace {

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string part; std::getline(ss, part, ',');)
    if (!part.empty()) out.push_back(part);
  return out;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
  return s;
}

// The last `lines` lines of a log file (for a failed run's message).
std::string tail_of(const std::string& path, int lines) {
  std::ifstream in(path);
  std::vector<std::string> all;
  for (std::string line; std::getline(in, line);) all.push_back(line);
  std::string out;
  for (size_t i = all.size() > static_cast<size_t>(lines) ? all.size() - lines : 0; i < all.size(); ++i)
    out += "    " + all[i] + "\n";
  return out;
}

std::string default_injection_library() {
  const std::string self = self_executable();
  const std::string dir = self.substr(0, self.rfind('/'));
  for (const std::string& candidate : {dir + "/librepro_inject.so", dir + "/exec/librepro_inject.so"})
    if (::access(candidate.c_str(), R_OK) == 0) return candidate;
  return "";
}

// Nsight Compute / Systems refuse to run when another CUDA injection is set, and own CUPTI:
// when one launched us (its CUDA_INJECTION64_PATH, or the LD_PRELOAD it uses to follow child
// processes) or the program is one, kernels are not traced and the runs are timed by the wall
// clock. Returns why, or "".
std::string profiler_in_charge(const std::string& executable) {
  if (const char* held = std::getenv("CUDA_INJECTION64_PATH"))
    return std::string("CUDA_INJECTION64_PATH is already set (") + held +
           "): a profiler holds the CUDA injection, so kernels are not traced; wall-clock timing only";
  // Nsight Compute follows child processes through its own injection and says so in the
  // environment (NV_NSIGHT_INJECTION_*, seen under ncu 2025 on CUDA 13).
  for (char** e = environ; *e; ++e) {
    const std::string kv = *e;
    for (const char* prefix : {"NV_NSIGHT_INJECTION", "NVIDIA_PROCESS_INJECTION", "NSYS_"})
      if (kv.rfind(prefix, 0) == 0)
        return "a profiler is attached (" + kv.substr(0, kv.find('=')) +
               " is set: Nsight Compute/Systems): it owns CUPTI and refuses a second CUDA injection, so kernels are not "
               "traced; wall-clock timing only";
  }
  if (const char* preload = std::getenv("LD_PRELOAD")) {
    std::string p = preload;
    for (char& c : p) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (const char* marker : {"nsight", "treelauncher", "interceptorinjection", "nsys", "ncu"})
      if (p.find(marker) != std::string::npos)
        return std::string("a profiler is attached (LD_PRELOAD=") + preload +
               "): it owns CUPTI and refuses a second CUDA injection, so kernels are not traced; wall-clock timing only";
  }
  const std::string base = executable.substr(executable.rfind('/') + 1);
  for (const char* tool : {"ncu", "nsys", "nv-nsight-cu-cli", "compute-sanitizer", "cuda-gdb"})
    if (base == tool)
      return "the program is " + base + ", which owns CUPTI and refuses a second CUDA injection, so kernels are not "
             "traced; wall-clock timing only";
  return "";
}

}  // namespace

Result<ExecSpec> exec_spec_from_flags(const Flags& f, const std::vector<std::string>& program) {
  ExecSpec s;
  if (program.empty())
    return invalid_argument("no program: give it after --, e.g. repro exec --runs 8 --hash 'out/*.safetensors' -- python3 "
                            "train.py --out {run_dir}/out");
  WAN_ASSIGN_OR_RETURN(s.executable, resolve_program(program[0]));
  s.program = program;
  s.hash_globs = split_commas(f.get("hash"));
  const std::string mode = f.get("hash-mode", "auto");
  if (mode != "auto" && mode != "raw")
    return invalid_argument("--hash-mode needs auto (safetensors tensors, Y4M/PNG pixels, else bytes) or raw, got '" + mode + "'");
  s.hash_mode = mode == "raw" ? HashMode::kRaw : HashMode::kAuto;
  auto timeout = f.get_double("timeout", 3600.0);
  if (!timeout.ok() || !(timeout.value() > 0) || timeout.value() > 7 * 86400.0)
    return invalid_argument("--timeout needs seconds in (0, 604800], e.g. 600");
  s.timeout_seconds = timeout.value();
  s.time_range = f.get("time-range");
  const std::string capture = f.get("capture-range", "none");
  if (capture != "none" && capture != "cudaProfilerApi")
    return invalid_argument("--capture-range needs none (every kernel) or cudaProfilerApi (kernels between "
                            "cudaProfilerStart and cudaProfilerStop, as nsys -c cudaProfilerApi), got '" + capture + "'");
  s.capture_profiler_api = capture == "cudaProfilerApi";
  s.trace = !f.has("no-trace");
  s.quiet = f.has("quiet");
  s.show_output = f.has("show-output");
  if (s.trace || !s.time_range.empty()) {  // --time-range needs the NVTX side even with --no-trace
    s.injection_library = f.get("inject-lib", default_injection_library());
    if (s.injection_library.empty())
      return unavailable("the injection library librepro_inject.so is not beside this repro executable; pass --inject-lib "
                         "PATH (bazel-bin/harness/librepro_inject.so), or --no-trace without --time-range for wall-clock "
                         "timing only");
    std::error_code ec;
    const auto absolute = std::filesystem::absolute(s.injection_library, ec);
    if (ec || ::access(absolute.c_str(), R_OK) != 0)
      return not_found("--inject-lib '" + s.injection_library + "' is not a readable file");
    s.injection_library = absolute.string();
  }
  if (s.trace) s.trace_unavailable = profiler_in_charge(s.executable);
  return s;
}

nlohmann::json ExecSpec::case_json() const {
  return {{"kind", "exec"},
          {"program", program},
          {"hash", hash_globs},
          {"hash_mode", hash_mode == HashMode::kRaw ? "raw" : "auto"},
          {"time_range", time_range},
          {"capture_range", capture_profiler_api ? "cudaProfilerApi" : "none"}};
}

std::string ExecSpec::case_id() const {
  const std::string text = case_json().dump();
  return "exec-" + sha1_hex(text.data(), text.size()).substr(0, 16);
}

// One run of the program: its run record, or a record with "failed" (the reason) when it
// failed, timed out, could not start or wrote none of the --hash files.
nlohmann::json exec_one_run(const ExecSpec& s, const std::string& out_dir, const std::string& label, int index) {
  namespace fs = std::filesystem;
  const std::string run_dir = out_dir + "/" + label;
  const std::string trace_dir = out_dir + "/trace/" + label;
  const std::string log_dir = out_dir + "/logs";
  nlohmann::json record = {{"index", index}, {"seed", 0}, {"run_dir", run_dir}, {"fresh_process", true}};
  std::error_code ec;
  // A fresh directory per run: nothing of an earlier run (outputs, trace files) can count.
  fs::remove_all(run_dir, ec);
  fs::remove_all(trace_dir, ec);
  for (const std::string& d : {run_dir, trace_dir, log_dir}) {
    fs::create_directories(d, ec);
    if (ec) {
      record["failed"] = "cannot create '" + d + "': " + ec.message();
      return record;
    }
  }
  std::vector<std::string> argv = s.program;
  argv[0] = s.executable;
  for (size_t i = 1; i < argv.size(); ++i) argv[i] = replace_all(argv[i], "{run_dir}", run_dir);
  SpawnOptions o;
  o.timeout_seconds = s.timeout_seconds;
  o.extra_env = {"REPRO_RUN_DIR=" + run_dir};
  if (s.trace && s.trace_unavailable.empty()) {
    o.extra_env.push_back("CUDA_INJECTION64_PATH=" + s.injection_library);
    if (!std::getenv("NVTX_INJECTION64_PATH")) o.extra_env.push_back("NVTX_INJECTION64_PATH=" + s.injection_library);
    o.extra_env.push_back("REPRO_EXEC_TRACE_DIR=" + trace_dir);
    if (!s.time_range.empty()) o.extra_env.push_back("REPRO_EXEC_TIME_RANGE=" + s.time_range);
  } else if (!s.time_range.empty() && !std::getenv("NVTX_INJECTION64_PATH") && !s.injection_library.empty()) {
    // Without kernel tracing the NVTX side still times the --time-range ranges.
    o.extra_env.push_back("NVTX_INJECTION64_PATH=" + s.injection_library);
    o.extra_env.push_back("REPRO_EXEC_TRACE_DIR=" + trace_dir);
    o.extra_env.push_back("REPRO_EXEC_TIME_RANGE=" + s.time_range);
  }
  if (!s.show_output) {
    o.stdout_path = log_dir + "/" + label + ".stdout";
    o.stderr_path = log_dir + "/" + label + ".stderr";
    record["logs"] = {o.stdout_path, o.stderr_path};
  }
  auto spawned = spawn_and_wait(argv, o);
  if (!spawned.ok()) {
    record["failed"] = spawned.status().message();
    return record;
  }
  const SpawnResult& r = spawned.value();
  record["pid"] = r.pid;
  record["process_seconds"] = r.seconds;
  record["exit_status"] = r.exit_code;
  const std::string log_hint = s.show_output ? "" : "; its standard error (" + o.stderr_path + ") ends:\n" + tail_of(o.stderr_path, 8);
  if (r.interrupted) {
    record["failed"] = std::string("interrupted: repro received ") + strsignal(r.interrupted) + " and passed it on";
    record["interrupted"] = r.interrupted;
    return record;
  }
  if (r.timed_out) {
    record["failed"] = "timed out after " + std::to_string(s.timeout_seconds) + " s (--timeout); its process group was ended" + log_hint;
    return record;
  }
  if (r.signal) {
    record["failed"] = "killed by signal " + std::to_string(r.signal) + " (" + strsignal(r.signal) + ")" + log_hint;
    return record;
  }
  if (r.exit_code != 0) {
    std::string hint;
    if (!s.show_output && tail_of(o.stderr_path, 50).find("CUDA_INJECTION64_PATH") != std::string::npos)
      hint = "\n  (the program refused repro's CUDA injection: a profiler inside it? pass --no-trace)";
    record["failed"] = "exited with status " + std::to_string(r.exit_code) + log_hint + hint;
    return record;
  }

  // Outputs.
  if (!s.hash_globs.empty()) {
    auto hashed = hash_outputs(run_dir, s.hash_globs, s.hash_mode);
    if (!hashed.ok()) {
      record["failed"] = hashed.status().message();
      return record;
    }
    nlohmann::json outputs = nlohmann::json::array();
    for (const HashedFile& h : hashed.value())
      outputs.push_back({{"file", h.file}, {"kind", h.kind}, {"sha1", h.sha1}, {"bytes", h.bytes}, {"detail", h.detail}});
    record["outputs"] = outputs;
    record["latents_sha1"] = combined_output_sha1(hashed.value());
  } else {
    record["latents_sha1"] = kUnhashedOutputs;
  }

  // Kernels, ranges, processes.
  auto trace = read_exec_traces(trace_dir, s.capture_profiler_api);
  if (!trace.ok()) {
    record["kernels_unavailable"] = "the trace files could not be read: " + trace.status().message();
  } else {
    const ExecTrace& t = trace.value();
    nlohmann::json processes = nlohmann::json::array();
    uint64_t dropped = 0;
    int64_t incomplete = 0;
    for (const ExecProcessTrace& p : t.processes) {
      processes.push_back({{"pid", p.pid}, {"ppid", p.ppid}, {"cupti", p.cupti}, {"api_records", p.api_records}, {"nvtx", p.nvtx},
                           {"kernel_records", p.kernels}, {"dropped_records", p.dropped},
                           {"flushed_at_exit", p.clean_exit}, {"capture_windows", p.capture_windows.size()}});
      if (!p.unavailable.empty()) processes.back()["unavailable"] = p.unavailable;
      if (p.malformed_lines) processes.back()["truncated_or_malformed_lines"] = p.malformed_lines;
      if (p.incomplete_buffers) processes.back()["incomplete_activity_buffers"] = p.incomplete_buffers;
      dropped += p.dropped;
      incomplete += p.incomplete_buffers;
    }
    record["processes"] = processes;
    record["dropped_records"] = dropped;
    if (!s.trace) {
      record["kernels_unavailable"] = "not traced (--no-trace)";
    } else if (!s.trace_unavailable.empty()) {
      record["kernels_unavailable"] = s.trace_unavailable;
    } else if (!t.any_cupti()) {
      record["kernels_unavailable"] = t.unavailable_reason() + "; wall-clock timing only";
    } else {
      double total_ms = 0, span_ms = 0;
      record["kernels"] = summarize_kernels(t.kernels, &total_ms, &span_ms);
      record["gpu_kernel_ms"] = total_ms;
      record["gpu_span_ms"] = span_ms;
      // Under --time-range the loop time is the timed ranges', which the GPU timeline of every
      // kernel does not describe: no split of the rest there.
      if (s.time_range.empty()) record["loop_gpu_timeline"] = timeline_json(loop_gpu_timeline(t.kernels));
      if (dropped || incomplete)
        record["kernels_warning"] = "CUPTI dropped " + std::to_string(dropped) + " records and " + std::to_string(incomplete) +
                                    " activity buffer(s) ended early: kernel totals are low";
    }
    if (!s.time_range.empty()) {
      std::vector<double> durations;
      for (const auto& [path, seconds] : t.timed_range_seconds) durations.insert(durations.end(), seconds.begin(), seconds.end());
      if (durations.empty()) {
        record["failed"] = "no NVTX range named '" + s.time_range + "' (or '" + s.time_range +
                           "/...') closed in this run: check --time-range against the program's range names";
        return record;
      }
      record["step_seconds"] = durations;
      double sum = 0;
      for (double d : durations) sum += d;
      record["seconds"] = sum;
      record["timed_ranges"] = t.timed_range_seconds.size();
    }
  }
  if (!record.contains("seconds")) record["seconds"] = std::max(r.seconds, 1e-9);
  return record;
}

nlohmann::json exec_report(const ExecSpec& s, const nlohmann::json& runs, const nlohmann::json& failed,
                           const std::vector<std::string>& command, int warmup) {
  // The fingerprint after the runs, so that it does not touch the GPU before the first one.
  static const Fingerprint fp = make_fingerprint(discover_devices().has_gpu() ? Device::cuda(0) : Device::cpu());
  std::set<std::string> hashes;
  std::vector<double> times;
  for (const auto& r : runs) {
    hashes.insert(r["latents_sha1"].get<std::string>());
    times.push_back(r["seconds"].get<double>());
  }
  std::string verdict = hashes.size() == 1 ? "identical" : "differ";
  if (hashes.size() == 1 && *hashes.begin() == kUnhashedOutputs) verdict = "not hashed (no --hash)";
  if (runs.empty()) verdict = "no successful run";
  nlohmann::json report = {
      {"schema", "wan-repro.run"},
      {"schema_version", kRunReportSchemaVersion},
      {"kind", "exec"},
      {"created", utc_stamp("%Y-%m-%dT%H:%M:%SZ")},
      {"tool", {{"name", "repro"}, {"engine_commit", engine_commit()}}},
      {"command", command},
      {"case", s.case_json()},
      {"case_id", s.case_id()},
      {"fingerprint", fp.fields},
      {"fingerprint_class", fp.class_fields},
      {"fresh_process", true},
      {"warmup_generations", warmup},
      {"kernel_tracing", s.trace && s.trace_unavailable.empty()},
      {"runs", runs},
      {"failed_runs", failed},
      {"determinism", {{"verdict", verdict}, {"distinct_hashes", hashes.size()}}},
      {"exec", {{"tracing", !s.trace ? "off (--no-trace)"
                                     : (s.trace_unavailable.empty() ? "CUPTI + NVTX injection (" + s.injection_library + ")"
                                                                    : s.trace_unavailable)},
                {"timing", s.time_range.empty() ? "process wall clock, spawn to exit"
                                                : "host durations of the NVTX ranges '" + s.time_range + "'"}}},
  };
  if (!times.empty())
    report["timing"] = {{"median_seconds", stats::median(times)},
                        {"min_seconds", *std::min_element(times.begin(), times.end())},
                        {"max_seconds", *std::max_element(times.begin(), times.end())}};
  return report;
}

void print_exec_summary(const nlohmann::json& report, const std::string& report_path) {
  std::printf("program   %s\n", report["case"]["program"].dump().c_str());
  std::printf("case      %s; tracing: %s; timing: %s\n", report["case_id"].get<std::string>().c_str(),
              report["exec"]["tracing"].get<std::string>().c_str(), report["exec"]["timing"].get<std::string>().c_str());
  for (const auto& r : report["runs"]) {
    std::printf("run %-3d   sha1 %s  %.3f s (process %.3f s, %zu process(es))\n", r["index"].get<int>() + 1,
                r["latents_sha1"].get<std::string>().c_str(), r["seconds"].get<double>(),
                r.value("process_seconds", 0.0), r.contains("processes") ? r["processes"].size() : size_t{0});
    if (r.contains("outputs") && r["index"].get<int>() == report["runs"][0]["index"].get<int>())
      for (const auto& o : r["outputs"])
        std::printf("          %s  %s (%s: %s)\n", o["sha1"].get<std::string>().c_str(), o["file"].get<std::string>().c_str(),
                    o["kind"].get<std::string>().c_str(), o["detail"].get<std::string>().c_str());
  }
  for (const auto& r : report["failed_runs"])
    std::printf("run %-3d   FAILED: %s\n", r["index"].get<int>() + 1, r["failed"].get<std::string>().c_str());
  std::printf("determinism %s (%zu runs)\n", report["determinism"]["verdict"].get<std::string>().c_str(), report["runs"].size());
  if (report.contains("timing"))
    std::printf("time      median %.3f s, min %.3f s, max %.3f s per run\n", report["timing"]["median_seconds"].get<double>(),
                report["timing"]["min_seconds"].get<double>(), report["timing"]["max_seconds"].get<double>());
  if (!report["runs"].empty()) {
    const auto& first = report["runs"][0];
    if (first.contains("kernels")) {
      std::printf("kernels   %.3f ms in %zu (kernel, range) groups over a %.3f ms span (run 1); top by range:\n",
                  first.value("gpu_kernel_ms", 0.0), first["kernels"].size(), first.value("gpu_span_ms", 0.0));
      for (size_t i = 0; i < first["kernels"].size() && i < 10; ++i) {
        const auto& k = first["kernels"][i];
        std::string name = k["name"].get<std::string>();
        if (name.size() > 60) name = name.substr(0, 57) + "...";
        const std::string range = k["range"].get<std::string>();
        std::printf("          %9.3f ms  %5lld x  %-28s %s\n", k["total_us"].get<double>() / 1e3,
                    static_cast<long long>(k["count"].get<int64_t>()), range.empty() ? "(no range)" : range.c_str(), name.c_str());
      }
    } else if (first.contains("kernels_unavailable")) {
      std::printf("kernels   %s\n", first["kernels_unavailable"].get<std::string>().c_str());
    }
  }
  std::printf("report    %s\n", report_path.c_str());
}

const std::set<std::string>& exec_value_flags() {
  static const std::set<std::string> f = {"hash", "hash-mode", "timeout", "time-range", "capture-range", "inject-lib"};
  return f;
}
const std::set<std::string>& exec_bool_flags() {
  static const std::set<std::string> f = {"no-trace", "show-output"};
  return f;
}

int exec_command(const std::vector<std::string>& args, const std::vector<std::string>& argv0) {
  const auto dashes = std::find(args.begin(), args.end(), "--");
  const std::vector<std::string> own(args.begin(), dashes);
  const std::vector<std::string> program = dashes == args.end() ? std::vector<std::string>() : std::vector<std::string>(dashes + 1, args.end());
  std::set<std::string> value_flags = exec_value_flags();
  for (const char* n : {"runs", "warmup", "out-dir", "report"}) value_flags.insert(n);
  std::set<std::string> bool_flags = exec_bool_flags();
  for (const char* n : {"force", "quiet"}) bool_flags.insert(n);
  auto flags = Flags::parse(own, value_flags, bool_flags);
  if (!flags.ok()) return fail("exec", flags.status());
  const Flags& f = flags.value();
  if (!f.positional().empty())
    return fail("exec", invalid_argument("'" + f.positional()[0] + "' before --: the program and its arguments go after --"));
  auto spec = exec_spec_from_flags(f, program);
  if (!spec.ok()) return fail("exec", spec.status());
  const ExecSpec& s = spec.value();
  auto runs = f.get_int("runs", 3), warmup = f.get_int("warmup", 0);
  if (!runs.ok() || runs.value() < 1 || runs.value() > 10000) return fail("exec", invalid_argument("--runs needs an integer in [1, 10000]"));
  if (!warmup.ok() || warmup.value() < 0 || warmup.value() > 100) return fail("exec", invalid_argument("--warmup needs an integer in [0, 100]"));
  const Overwrite overwrite = f.has("force") ? Overwrite::kAllow : Overwrite::kRefuse;
  const std::string stamp = utc_stamp("%Y%m%dT%H%M%SZ") + "-" + std::to_string(::getpid());
  std::error_code ec;
  const std::string out_dir = std::filesystem::absolute(f.get("out-dir", "repro-out/exec-" + stamp), ec).lexically_normal().string();
  const std::string report_path = f.get("report", out_dir + "/report.json");
  if (std::filesystem::exists(out_dir, ec) && !std::filesystem::is_empty(out_dir, ec) && overwrite == Overwrite::kRefuse)
    return fail("exec", failed_precondition("--out-dir '" + out_dir + "' is not empty; its runs would mix with earlier ones. "
                                            "Pass a new directory, or --force to reuse it"));
  if (const Status free = refuse_existing_outputs({report_path}, overwrite); !free.ok()) return fail("exec", free);
  if (overwrite == Overwrite::kAllow) {
    for (const char* sub : {"trace", "logs"}) std::filesystem::remove_all(out_dir + "/" + sub, ec);
    for (int i = 0; i < runs.value(); ++i) std::filesystem::remove_all(out_dir + "/run-" + std::to_string(i + 1), ec);
  }
  if (!s.quiet)
    std::fprintf(stderr, "repro exec: %lld run(s) of %s, each in a fresh process; outputs in %s\n",
                 static_cast<long long>(runs.value()), s.executable.c_str(), out_dir.c_str());
  if (!s.trace_unavailable.empty()) std::fprintf(stderr, "repro exec: %s\n", s.trace_unavailable.c_str());
  for (int i = 0; i < warmup.value(); ++i) {
    if (!s.quiet) std::fprintf(stderr, "warm-up run %d/%lld\n", i + 1, static_cast<long long>(warmup.value()));
    const nlohmann::json w = exec_one_run(s, out_dir, "warmup-" + std::to_string(i + 1), -1);
    if (w.contains("failed")) return fail("exec", unavailable("the warm-up run failed: " + w["failed"].get<std::string>()));
  }
  nlohmann::json ok_runs = nlohmann::json::array(), failed = nlohmann::json::array();
  int interrupted = 0;
  for (int i = 0; i < runs.value(); ++i) {
    if (!s.quiet) std::fprintf(stderr, "run %d/%lld\n", i + 1, static_cast<long long>(runs.value()));
    nlohmann::json r = exec_one_run(s, out_dir, "run-" + std::to_string(i + 1), i);
    if (r.contains("failed")) {
      std::fprintf(stderr, "repro exec: run %d failed: %s\n", i + 1, r["failed"].get<std::string>().c_str());
      failed.push_back(r);
      if (r.contains("interrupted")) {
        interrupted = r["interrupted"].get<int>();
        break;  // the user asked to stop: the report keeps what ran
      }
    } else {
      if (!s.quiet)
        std::fprintf(stderr, "  %.3f s, sha1 %s\n", r["seconds"].get<double>(), r["latents_sha1"].get<std::string>().c_str());
      ok_runs.push_back(r);
    }
  }
  const nlohmann::json report = exec_report(s, ok_runs, failed, argv0, static_cast<int>(warmup.value()));
  const Status written = write_file_atomically(report_path, report.dump(2) + "\n", overwrite);
  if (!written.ok()) return fail("exec", written);
  if (!s.quiet) print_exec_summary(report, report_path);
  if (interrupted) return 128 + interrupted;
  if (!failed.empty()) return kExitProgramFailed;
  return report["determinism"]["verdict"] == "differ" ? kExitNondeterministic : kExitOk;
}

}  // namespace wan::cli

namespace wan::cli {

Result<std::vector<std::string>> split_command_line(const std::string& command) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (size_t i = 0; i < command.size(); ++i) {
    const char c = command[i];
    if (quote == '\'') {
      if (c == '\'') quote = 0;
      else word += c;
    } else if (quote == '"') {
      if (c == '"') quote = 0;
      else if (c == '\\' && i + 1 < command.size() && std::string("\"\\$`").find(command[i + 1]) != std::string::npos) word += command[++i];
      else word += c;
    } else if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (c == '\\' && i + 1 < command.size()) {
      word += command[++i];
      in_word = true;
    } else if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(word);
      word.clear();
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (quote) return invalid_argument(std::string("unterminated ") + quote + " quote in the command '" + command + "'");
  if (in_word) words.push_back(word);
  if (words.empty()) return invalid_argument("empty command");
  return words;
}

}  // namespace wan::cli
