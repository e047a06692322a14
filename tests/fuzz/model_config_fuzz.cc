// Fuzz target: a model config JSON file through config_from_json_file. Contract: no crash or
// undefined conversion (UBSan); an accepted config validates, has a latent grid at its
// default size, and writes back as JSON.
#include "engine/model/config.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = wan::fuzz::write_temp("config.json", data, size);
  auto config = wan::config_from_json_file(path);
  if (!config.ok()) {
    wan::fuzz::expect_clear_error(config.status(), "config_from_json_file");
    return 0;
  }
  if (!config->validate().ok()) wan::fuzz::contract_broken("an accepted config does not validate");
  (void)wan::latent_grid(config.value(), config->default_frames, config->default_height, config->default_width);
  (void)config->patch_values();
  (void)wan::config_to_json(config.value());
  return 0;
}
