#include "engine/core/dtype.h"

#include <string>

namespace wan {

std::string_view dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "f32";
    case DType::kBF16: return "bf16";
    case DType::kF16: return "f16";
    case DType::kI32: return "i32";
    case DType::kI64: return "i64";
    case DType::kU8: return "u8";
  }
  return "?";
}

Result<DType> parse_dtype(std::string_view name) {
  struct Entry { std::string_view ours, safetensors; DType dtype; };
  static constexpr Entry kEntries[] = {
      {"f32", "F32", DType::kF32}, {"bf16", "BF16", DType::kBF16}, {"f16", "F16", DType::kF16},
      {"i32", "I32", DType::kI32}, {"i64", "I64", DType::kI64},    {"u8", "U8", DType::kU8},
  };
  for (const Entry& e : kEntries) {
    if (name == e.ours || name == e.safetensors) return e.dtype;
  }
  return invalid_argument("unknown dtype '" + std::string(name) +
                          "'; supported: f32, bf16, f16, i32, i64, u8 (safetensors: F32, BF16, "
                          "F16, I32, I64, U8)");
}

}  // namespace wan
