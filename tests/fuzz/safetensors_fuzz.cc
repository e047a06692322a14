// Fuzz target: a .safetensors file through SafetensorsFile::open, then every tensor's info and
// bytes. Contract: no crash or out-of-bounds read (ASan), and a rejection is a Status with a
// message naming the file.
#include "engine/model/safetensors.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = wan::fuzz::write_temp("input.safetensors", data, size);
  auto file = wan::SafetensorsFile::open(path);
  if (!file.ok()) {
    wan::fuzz::expect_clear_error(file.status(), "SafetensorsFile::open");
    if (file.status().message().find(path) == std::string::npos)
      wan::fuzz::contract_broken("the error does not name the file: " + file.status().to_string());
    return 0;
  }
  uint64_t sum = 0;
  for (const std::string& name : file.value()->names()) {
    auto info = file.value()->info(name);
    if (!info.ok()) continue;  // a valid safetensors dtype this engine has no DType for
    auto t = file.value()->tensor(name);
    if (!t.ok()) wan::fuzz::contract_broken("open() accepted '" + name + "' but tensor() failed: " + t.status().to_string());
    if (t->nbytes() != info->nbytes) wan::fuzz::contract_broken("tensor bytes differ from the header's");
    const auto* bytes = static_cast<const uint8_t*>(t->raw_data());
    for (size_t i = 0; i < t->nbytes(); ++i) sum += bytes[i];  // every byte is inside the mapping
  }
  return sum == 1 ? 1 : 0;  // keeps the reads
}
