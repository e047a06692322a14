// Fuzz target: a file a program wrote, hashed by `repro exec --hash` in auto mode (PNG with
// zlib inflate and row filters, Y4M frames, safetensors tensors). Contract: a hash or a clear
// error (DATA_LOSS, UNIMPLEMENTED for uncovered variants); never a crash or an INTERNAL error;
// raw mode always hashes.
#include "harness/exec/output_hashing.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = wan::fuzz::write_temp("output", data, size);
  auto h = wan::hash_output_file(path, "output", wan::HashMode::kAuto);
  if (!h.ok()) {
    wan::fuzz::expect_clear_error(h.status(), "hash_output_file");
  } else if (h->sha1.size() != 40) {
    wan::fuzz::contract_broken("a hash that is not 40 hex digits");
  }
  auto raw = wan::hash_output_file(path, "output", wan::HashMode::kRaw);
  if (!raw.ok() || raw->kind != "raw") wan::fuzz::contract_broken("raw mode did not hash the bytes");
  return 0;
}
