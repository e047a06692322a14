// The `repro` subcommands. Each takes its arguments (after the subcommand name) and returns
// the process exit code (exit_codes.h). Results go to stdout, progress to stderr.
#pragma once

#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/core/status.h"
#include "harness/exec/output_hashing.h"
#include "harness/cli/flags.h"
#include "harness/run_case.h"

namespace wan::cli {

int run_command(const std::vector<std::string>& args, const std::vector<std::string>& argv0);
int golden_command(const std::vector<std::string>& args);
int trace_command(const std::vector<std::string>& args, const std::vector<std::string>& argv0);
int devices_command(const std::vector<std::string>& args);
int compare_command(const std::vector<std::string>& args);
int ab_command(const std::vector<std::string>& args);
int bench_command(const std::vector<std::string>& args);
int attention_command(const std::vector<std::string>& args);
int exec_command(const std::vector<std::string>& args, const std::vector<std::string>& argv0);

// What `repro exec` runs and measures (shared with `repro ab --base-cmd/--cand-cmd`).
struct ExecSpec {
  std::vector<std::string> program;  // as given; {run_dir} substituted per run
  std::string executable;            // program[0] resolved on PATH
  std::vector<std::string> hash_globs;
  HashMode hash_mode = HashMode::kAuto;
  double timeout_seconds = 3600;
  std::string time_range;            // NVTX range name whose durations are the run's time
  bool capture_profiler_api = false; // kernels only between cudaProfilerStart/Stop
  bool trace = true;                 // CUPTI + NVTX injection (--no-trace: wall clock only)
  std::string trace_unavailable;     // why not, when a profiler holds the CUDA injection
  std::string injection_library;     // absolute path of librepro_inject.so
  bool quiet = false, show_output = false;
  nlohmann::json case_json() const;  // the recorded case (program, hashing, timing choices)
  std::string case_id() const;       // "exec-" + 16 hex digits of its SHA-1
};
// The exec flags (--hash, --hash-mode, --timeout, --time-range, --capture-range, --inject-lib;
// --no-trace, --show-output) and the program after --. NOT_FOUND when the program cannot be found.
const std::set<std::string>& exec_value_flags();
const std::set<std::string>& exec_bool_flags();
Result<ExecSpec> exec_spec_from_flags(const Flags& flags, const std::vector<std::string>& program);
// One run in a fresh process under out_dir/<label>: its run record, or one with "failed".
nlohmann::json exec_one_run(const ExecSpec& spec, const std::string& out_dir, const std::string& label, int index);
// The run report over the successful runs (schema wan-repro.run, kind exec).
nlohmann::json exec_report(const ExecSpec& spec, const nlohmann::json& runs, const nlohmann::json& failed,
                           const std::vector<std::string>& command, int warmup);
// Splits a command string as a POSIX shell would split words (quotes, backslashes), without
// expanding anything. INVALID_ARGUMENT for an unterminated quote.
Result<std::vector<std::string>> split_command_line(const std::string& command);

// Flags shared by every command that describes a case (run, golden, trace).
const std::set<std::string>& case_value_flags();
// Builds and resolves a RunCase from those flags (defaults from the model config).
Result<RunCase> case_from_flags(const Flags& flags);

// Prints "repro <command>: <message>" to stderr and returns the code for the status.
int fail(const std::string& command, const Status& status);

// Progress line on stderr ("  step 3/8 t=979 0.21 s").
void print_step_progress(int step, int steps, int64_t timestep, double seconds);

// The exit code for a comparison outcome (pass 0, regression 8, output mismatch 9,
// inconclusive 10, not comparable 12); `outcome` is CompareOutcome as an int.
int exit_code_for_comparison(int outcome);

// The current UTC time in strftime `format` (report "created" fields, default file names).
std::string utc_stamp(const char* format);

// The path of this executable (for re-running it in fresh processes).
std::string self_executable();

}  // namespace wan::cli
