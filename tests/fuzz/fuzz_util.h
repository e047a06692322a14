// Helpers shared by the fuzz targets: the input as text, a private temporary file for readers
// that take a path, and a loud stop when a documented contract breaks (libFuzzer reports it).
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "engine/core/status.h"

namespace wan::fuzz {

inline std::string text_of(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

// A path under $TEST_TMPDIR, $TMPDIR or /tmp private to this process.
inline std::string temp_path(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  if (base == nullptr) base = std::getenv("TMPDIR");
  return std::string(base ? base : "/tmp") + "/wan-fuzz-" + std::to_string(::getpid()) + "-" + name;
}

// temp_path(name) holding the input, rewritten for every input.
inline std::string write_temp(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = temp_path(name);
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data),
                                                                static_cast<std::streamsize>(size));
  return path;
}

// A broken contract (not a rejected input): print and abort so the fuzzer keeps the input.
[[noreturn]] inline void contract_broken(const std::string& what) {
  std::fprintf(stderr, "contract broken: %s\n", what.c_str());
  std::abort();
}

// Every rejection must be DATA_LOSS (or another documented code) with a message.
inline void expect_clear_error(const Status& s, const char* reader) {
  if (s.ok()) return;
  if (s.message().empty()) contract_broken(std::string(reader) + " failed with an empty message");
  if (s.code() == StatusCode::kInternal) contract_broken(std::string(reader) + ": INTERNAL " + s.message());
}

}  // namespace wan::fuzz
