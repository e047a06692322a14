// Fuzz target: a `repro exec` per-process trace file (written by the injection library inside a
// program that may have been killed mid-write). Contract: the header or DATA_LOSS; never a
// crash; every kernel record has end >= start and a name; counts are consistent.
#include "harness/exec/exec_trace.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<wan::KernelRecord> kernels;
  std::map<std::string, std::vector<double>> timed;
  auto p = wan::parse_exec_trace(wan::fuzz::text_of(data, size), "fuzz.trace", &kernels, &timed);
  if (!p.ok()) {
    wan::fuzz::expect_clear_error(p.status(), "parse_exec_trace");
    if (p.status().code() != wan::StatusCode::kDataLoss) wan::fuzz::contract_broken("a rejection that is not DATA_LOSS");
    return 0;
  }
  if (static_cast<int64_t>(kernels.size()) != p->kernels) wan::fuzz::contract_broken("kernel count differs from records");
  for (const auto& k : kernels) {
    if (k.end_ns < k.start_ns) wan::fuzz::contract_broken("a kernel ends before it starts");
    if (k.name.empty()) wan::fuzz::contract_broken("a kernel without a name");
  }
  for (const auto& [lo, hi] : p->capture_windows)
    if (hi < lo) wan::fuzz::contract_broken("a capture window ends before it starts");
  return 0;
}
