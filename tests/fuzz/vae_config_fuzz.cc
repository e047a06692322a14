// Fuzz target: a VAE config JSON file (diffusers' AutoencoderKLWan config.json) through
// vae_config_from_json_file, and the --vae-tiling text through VaeTiling::parse. Contract: no
// crash or undefined behaviour; an accepted config validates and its derived sizes are sane.
#include "engine/vae/vae_config.h"
#include "engine/vae/vae_tiling.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text = wan::fuzz::text_of(data, size);
  auto tiling = wan::VaeTiling::parse(text.substr(0, text.find('\n')));
  if (tiling.ok() && tiling->enabled() &&
      (tiling->stride_px < 8 || tiling->stride_px >= tiling->tile_px || tiling->tile_px % 8 != 0))
    wan::fuzz::contract_broken("an accepted tiling is out of range");
  const std::string path = wan::fuzz::write_temp("vae_config.json", data, size);
  auto config = wan::vae_config_from_json_file(path);
  if (!config.ok()) {
    wan::fuzz::expect_clear_error(config.status(), "vae_config_from_json_file");
    return 0;
  }
  if (!config->validate().ok()) wan::fuzz::contract_broken("an accepted VAE config does not validate");
  for (int64_t d : config->decoder_dims())
    if (d < 1 || d > 4096) wan::fuzz::contract_broken("a decoder width out of range");
  if (config->spatial_scale() < 2 || config->video_frames(21) < 21) wan::fuzz::contract_broken("bad derived sizes");
  for (int64_t b = 0; b < config->up_blocks(); ++b) (void)config->upsample_mode(b);
  (void)wan::vae_config_to_json(config.value());
  return 0;
}
