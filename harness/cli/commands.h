// The `repro` subcommands. Each takes its arguments (after the subcommand name) and returns
// the process exit code (exit_codes.h). Results go to stdout, progress to stderr.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "engine/core/status.h"
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

// Flags shared by every command that describes a case (run, golden, trace).
const std::set<std::string>& case_value_flags();
// Builds and resolves a RunCase from those flags (defaults from the model config).
Result<RunCase> case_from_flags(const Flags& flags);

// Prints "repro <command>: <message>" to stderr and returns the code for the status.
int fail(const std::string& command, const Status& status);

// Progress line on stderr ("  step 3/8 t=979 0.21 s").
void print_step_progress(int step, int steps, int64_t timestep, double seconds);

// The exit code for a comparison outcome (pass 0, regression 8, output mismatch 9,
// inconclusive 10); `outcome` is CompareOutcome as an int.
int exit_code_for_comparison(int outcome);

// The path of this executable (for re-running it in fresh processes).
std::string self_executable();

}  // namespace wan::cli
