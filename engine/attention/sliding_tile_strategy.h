// The windows of sliding-tile attention: a uniform window (backend option window=TxHxW|full)
// and optionally a mask-strategy file (option strategy=PATH) with windows per layer and head,
// optionally per step. The file is FastVideo's format, a JSON object of
//   "STEP_LAYER_HEAD": [t, h, w]   (FastVideo's keys: one denoising step, layer, head)
//   "LAYER_HEAD": [t, h, w]        (every step)
// with windows in tiles, integers >= 1 (a window as wide as an axis covers all of it). Lookup
// for a (step, layer, head): the STEP_LAYER_HEAD entry, else the LAYER_HEAD entry, else the
// uniform window. Layers and heads the model does not have are refused with the entry named.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "engine/core/status.h"
#include "kernels/attention/sliding_tile/sliding_tile_schedule.h"

namespace wan {

// A window that covers every axis whatever the canvas ("full").
inline constexpr int32_t kFullWindowTiles = 1 << 20;

// "TxHxW" (integers >= 1) or "full".
Result<TileWindow> parse_tile_window(const std::string& text);
std::string tile_window_text(const TileWindow& w);  // "3x3x5" or "full"

struct SlidingTileStrategy {
  struct Entry {
    std::string key;  // as written in the file ("0_12_3")
    int32_t step = -1;  // -1: every step
    int32_t layer = 0, head = 0;
    TileWindow window;
  };
  std::string path;
  std::vector<Entry> entries;  // sorted by (step, layer, head)
  std::string sha1;            // of the canonical entry list (whitespace and order do not matter)

  // The window of (step, layer, head) given the uniform fallback.
  TileWindow window(int32_t step, int32_t layer, int32_t head, const TileWindow& uniform) const;
  // The steps named by STEP_LAYER_HEAD entries, ascending.
  std::vector<int32_t> steps() const;
  // OK, or InvalidArgument naming the first entry whose layer or head the model lacks.
  Status check_model(int64_t layers, int64_t heads) const;
  int32_t max_layer() const;

  std::map<std::tuple<int32_t, int32_t, int32_t>, TileWindow> by_key;  // (step, layer, head)
};

// Reads and validates a strategy file: NotFound when unreadable, DataLoss when it is not such a
// JSON object (the message names the entry and the expected form).
Result<SlidingTileStrategy> load_sliding_tile_strategy(const std::string& path);

// The backend option validators (the backend table's parse_text).
Result<std::string> canonical_tile_window_option(const std::string& text);  // window=
Result<std::string> canonical_tile_shape_option(const std::string& text);   // tile= (extents 1..64)
Result<std::string> sliding_tile_strategy_digest(const std::string& path);  // strategy=

}  // namespace wan
