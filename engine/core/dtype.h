// Element types of tensors and their names. bf16/f16 storage types and their RNE conversions
// live in kernels/common/float16.h (shared with the GPU kernels); re-exported here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/core/status.h"
#include "kernels/common/float16.h"

namespace wan {

enum class DType : uint8_t { kF32, kBF16, kF16, kI32, kI64, kU8 };

constexpr size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::kF32: return 4;
    case DType::kBF16: return 2;
    case DType::kF16: return 2;
    case DType::kI32: return 4;
    case DType::kI64: return 8;
    case DType::kU8: return 1;
  }
  return 0;
}

// "f32", "bf16", "f16", "i32", "i64", "u8".
std::string_view dtype_name(DType dtype);
// Accepts our names and safetensors' ("F32", "BF16", "F16", "I32", "I64", "U8").
Result<DType> parse_dtype(std::string_view name);

template <typename T> struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::kF32; };
template <> struct DTypeOf<BFloat16> { static constexpr DType value = DType::kBF16; };
template <> struct DTypeOf<Float16> { static constexpr DType value = DType::kF16; };
template <> struct DTypeOf<int32_t> { static constexpr DType value = DType::kI32; };
template <> struct DTypeOf<int64_t> { static constexpr DType value = DType::kI64; };
template <> struct DTypeOf<uint8_t> { static constexpr DType value = DType::kU8; };

}  // namespace wan
