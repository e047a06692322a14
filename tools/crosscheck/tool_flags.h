// Command-line helpers of the cross-check tools: `--name value` lookup and error exit.
#pragma once

#include <cstdio>
#include <string>

#include "engine/core/status.h"

namespace wan::tools {

// The value after `--name`, or `fallback`.
inline std::string flag(int argc, char** argv, const std::string& name, const std::string& fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (argv[i] == "--" + name) return argv[i + 1];
  return fallback;
}

// Prints "<tool>: <status>" to stderr; the exit status for a bad input (2).
inline int fail(const char* tool, const Status& s) {
  std::fprintf(stderr, "%s: %s\n", tool, s.to_string().c_str());
  return 2;
}

}  // namespace wan::tools
