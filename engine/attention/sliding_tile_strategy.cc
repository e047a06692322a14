#include "engine/attention/sliding_tile_strategy.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include <openssl/evp.h>
#include <nlohmann/json.hpp>

namespace wan {
namespace {

// Strict non-negative decimal integer (no sign, no spaces), below 2^31.
bool parse_index(const std::string& s, int64_t limit, int32_t* out) {
  if (s.empty() || s.size() > 10) return false;
  int64_t x = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    x = x * 10 + (c - '0');
  }
  if (x >= limit) return false;
  *out = static_cast<int32_t>(x);
  return true;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  parts.push_back(cur);
  return parts;
}

std::string sha1_hex(const std::string& bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha1(), nullptr);
  std::string hex;
  char buf[3];
  for (unsigned int i = 0; i < len; ++i) {
    std::snprintf(buf, sizeof(buf), "%02x", md[i]);
    hex += buf;
  }
  return hex;
}

}  // namespace

Result<TileWindow> parse_tile_window(const std::string& text) {
  if (text == "full") return TileWindow{kFullWindowTiles, kFullWindowTiles, kFullWindowTiles};
  const std::vector<std::string> parts = split(text, 'x');
  int32_t v[3];
  if (parts.size() != 3 || !parse_index(parts[0], kFullWindowTiles, &v[0]) ||
      !parse_index(parts[1], kFullWindowTiles, &v[1]) || !parse_index(parts[2], kFullWindowTiles, &v[2]) ||
      v[0] < 1 || v[1] < 1 || v[2] < 1)
    return invalid_argument("'" + text + "' is not a window: give TxHxW in tiles (integers >= 1, e.g. 3x3x5) or full");
  return TileWindow{v[0], v[1], v[2]};
}

std::string tile_window_text(const TileWindow& w) {
  if (w.t >= kFullWindowTiles && w.h >= kFullWindowTiles && w.w >= kFullWindowTiles) return "full";
  return w.text();
}

Result<std::string> canonical_tile_window_option(const std::string& text) {
  WAN_ASSIGN_OR_RETURN(TileWindow w, parse_tile_window(text));
  return tile_window_text(w);
}

Result<std::string> canonical_tile_shape_option(const std::string& text) {
  const Result<TileWindow> w = parse_tile_window(text);
  if (!w.ok() || text == "full" || w.value().t > 64 || w.value().h > 64 || w.value().w > 64)
    return invalid_argument("'" + text + "' is not a tile shape: give TxHxW in tokens, each 1..64 (e.g. 6x8x8)");
  return w.value().text();
}

TileWindow SlidingTileStrategy::window(int32_t step, int32_t layer, int32_t head, const TileWindow& uniform) const {
  auto it = by_key.find({step, layer, head});
  if (it != by_key.end()) return it->second;
  it = by_key.find({-1, layer, head});
  return it != by_key.end() ? it->second : uniform;
}

std::vector<int32_t> SlidingTileStrategy::steps() const {
  std::set<int32_t> s;
  for (const Entry& e : entries)
    if (e.step >= 0) s.insert(e.step);
  return std::vector<int32_t>(s.begin(), s.end());
}

int32_t SlidingTileStrategy::max_layer() const {
  int32_t m = -1;
  for (const Entry& e : entries) m = std::max(m, e.layer);
  return m;
}

Status SlidingTileStrategy::check_model(int64_t layers, int64_t heads) const {
  for (const Entry& e : entries) {
    if (layers > 0 && e.layer >= layers)
      return invalid_argument("sliding_tile strategy " + path + ": entry \"" + e.key + "\" names layer " +
                              std::to_string(e.layer) + " but the model has " + std::to_string(layers) +
                              " layers (0.." + std::to_string(layers - 1) + "); remove the entry or use the strategy "
                              "file made for this model");
    if (e.head >= heads)
      return invalid_argument("sliding_tile strategy " + path + ": entry \"" + e.key + "\" names head " +
                              std::to_string(e.head) + " but the model has " + std::to_string(heads) + " heads (0.." +
                              std::to_string(heads - 1) + ")");
  }
  return Status();
}

Result<SlidingTileStrategy> load_sliding_tile_strategy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found("sliding_tile strategy file " + path + " cannot be read; give an existing JSON file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return not_found("sliding_tile strategy file " + path + " cannot be read");
  const std::string text = buffer.str();
  if (text.size() > (64u << 20)) return data_loss("sliding_tile strategy " + path + " is larger than 64 MiB");
  const std::string form = "; expected a JSON object of \"STEP_LAYER_HEAD\" or \"LAYER_HEAD\": [t, h, w] windows in tiles";
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return data_loss("sliding_tile strategy " + path + " is not valid JSON" + form);
  if (!j.is_object() || j.empty()) return data_loss("sliding_tile strategy " + path + " is not a non-empty JSON object" + form);
  SlidingTileStrategy s;
  s.path = path;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    const std::string where = "sliding_tile strategy " + path + ": entry \"" + key + "\"";
    const std::vector<std::string> parts = split(key, '_');
    SlidingTileStrategy::Entry e;
    e.key = key;
    bool ok = parts.size() == 2 || parts.size() == 3;
    size_t p = 0;
    if (ok && parts.size() == 3) ok = parse_index(parts[p++], 1 << 30, &e.step);
    ok = ok && parse_index(parts[p], 1 << 30, &e.layer) && parse_index(parts[p + 1], 1 << 30, &e.head);
    if (!ok) return data_loss(where + ": the key is not STEP_LAYER_HEAD or LAYER_HEAD (non-negative integers)" + form);
    const nlohmann::json& v = it.value();
    int32_t w[3];
    bool valid = v.is_array() && v.size() == 3;
    for (size_t a = 0; valid && a < 3; ++a) {
      valid = v[a].is_number_integer() && v[a].get<int64_t>() >= 1 && v[a].get<int64_t>() < kFullWindowTiles;
      if (valid) w[a] = static_cast<int32_t>(v[a].get<int64_t>());
    }
    if (!valid)
      return data_loss(where + ": the window " + v.dump() + " is not [t, h, w] with integers >= 1 (tiles per axis)");
    e.window = TileWindow{w[0], w[1], w[2]};
    if (!s.by_key.emplace(std::make_tuple(e.step, e.layer, e.head), e.window).second)
      return data_loss(where + ": the same (step, layer, head) is given twice (keys with leading zeros?)");
    s.entries.push_back(e);
  }
  std::sort(s.entries.begin(), s.entries.end(), [](const auto& a, const auto& b) {
    return std::tie(a.step, a.layer, a.head) < std::tie(b.step, b.layer, b.head);
  });
  std::string canonical;
  for (const auto& e : s.entries)
    canonical += std::to_string(e.step) + "_" + std::to_string(e.layer) + "_" + std::to_string(e.head) + "=" +
                 e.window.text() + ";";
  s.sha1 = sha1_hex(canonical);
  return s;
}

Result<std::string> sliding_tile_strategy_digest(const std::string& path) {
  WAN_ASSIGN_OR_RETURN(SlidingTileStrategy s, load_sliding_tile_strategy(path));
  return s.sha1;
}

}  // namespace wan
