// Fuzz target: a sharded checkpoint's index json through Checkpoint::open, beside one valid
// shard ("a.safetensors", tensors "w" and "v"). Contract: no crash, every rejection a Status
// with a message, every tensor of an accepted index readable.
#include <filesystem>

#include "engine/model/safetensors.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = [] {
    const std::string d = wan::fuzz::temp_path("index");
    std::filesystem::create_directories(d);
    const wan::Tensor w = wan::Tensor::zeros({2, 2}, wan::DType::kF32).value();
    const wan::Tensor v = wan::Tensor::zeros({3}, wan::DType::kBF16).value();
    if (!wan::write_safetensors(d + "/a.safetensors", {{"v", v}, {"w", w}}).ok()) wan::fuzz::contract_broken("shard");
    return d;
  }();
  const std::string index = dir + "/model.safetensors.index.json";
  std::ofstream(index, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data),
                                                                 static_cast<std::streamsize>(size));
  auto checkpoint = wan::Checkpoint::open(index);
  if (!checkpoint.ok()) {
    wan::fuzz::expect_clear_error(checkpoint.status(), "Checkpoint::open");
    return 0;
  }
  for (const std::string& name : checkpoint->names()) {
    auto t = checkpoint->tensor(name);
    if (!t.ok()) wan::fuzz::contract_broken("open() accepted '" + name + "' but tensor() failed");
  }
  return 0;
}
