#include "engine/vae/vae_tiling.h"

namespace wan {

Result<VaeTiling> VaeTiling::parse(const std::string& text) {
  VaeTiling t;
  if (text.empty() || text == "off") return t;
  const size_t comma = text.find(',');
  auto number = [](const std::string& v, int64_t* out) {
    if (v.empty() || v.size() > 6 || v.find_first_not_of("0123456789") != std::string::npos) return false;
    *out = std::stoll(v);
    return true;
  };
  if (comma == std::string::npos || !number(text.substr(0, comma), &t.tile_px) ||
      !number(text.substr(comma + 1), &t.stride_px) || t.stride_px < 8 || t.stride_px >= t.tile_px ||
      t.tile_px % 8 != 0 || t.stride_px % 8 != 0)
    return invalid_argument("--vae-tiling must be TILE,STRIDE in output pixels, multiples of 8 with 8 <= STRIDE < TILE "
                            "(diffusers' default: 256,192), got '" + text + "'");
  return t;
}

std::string VaeTiling::to_string() const {
  return enabled() ? std::to_string(tile_px) + "," + std::to_string(stride_px) : "";
}

}  // namespace wan
