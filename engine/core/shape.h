// Shapes: the dimension list every tensor, file header and trace record uses, and its
// arithmetic. checked_shape_numel is for untrusted shapes (file headers, configs, traces):
// negative dimensions and counts that overflow int64 are errors, never wrapped values.
// Host only, no CUDA: parsers and their fuzz targets link it without the engine.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/core/status.h"

namespace wan {

using Shape = std::vector<int64_t>;

std::string shape_to_string(const Shape& shape);  // "[1, 16, 21, 60, 104]"

// The element count of a shape every Tensor holds (Tensor::empty checks it).
int64_t shape_numel(const Shape& shape);

// The element count of an untrusted shape: INVALID_ARGUMENT for a negative dimension, or when
// the product of the dimensions, or of the non-zero ones (which the strides of a zero-element
// tensor multiply out), exceeds int64.
Result<int64_t> checked_shape_numel(const Shape& shape);

// Row-major strides in elements (exact for shapes checked_shape_numel accepts).
Shape contiguous_strides(const Shape& shape);

}  // namespace wan
