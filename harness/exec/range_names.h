// NVTX range names as `repro exec` records them: torch.autograd.profiler.emit_nvtx's per-call
// parts removed (", seq = N", ", op_id = N", ", input_op_ids = [...]"; ", sizes = [...]" is
// kept), so the same op in the same place is one range across calls, steps and runs, and a
// long run does not intern a new path per op call. Header-only: the injection library (which
// links nothing of the harness) and the trace reader share it.
//   "aten::linear, seq = 1234, op_id = 99, sizes = [[1, 8]]" -> "aten::linear, sizes = [[1, 8]]"
#pragma once

#include <cctype>
#include <cstring>
#include <string>

namespace wan {

inline std::string normalize_range_name(std::string name) {
  for (const char* key : {", seq = ", ", op_id = "}) {
    for (size_t at = name.find(key); at != std::string::npos; at = name.find(key, at)) {
      size_t end = at + std::strlen(key);
      while (end < name.size() && std::isdigit(static_cast<unsigned char>(name[end]))) ++end;
      name.erase(at, end - at);
    }
  }
  // ", input_op_ids = [...]": up to the end of the name (or of a path component).
  for (size_t at = name.find(", input_op_ids = "); at != std::string::npos; at = name.find(", input_op_ids = ", at)) {
    const size_t end = name.find('/', at);
    name.erase(at, (end == std::string::npos ? name.size() : end) - at);
  }
  return name;
}

}  // namespace wan
