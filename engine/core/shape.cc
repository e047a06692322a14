#include "engine/core/shape.h"

#include <sstream>

namespace wan {

std::string shape_to_string(const Shape& shape) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << "]";
  return out.str();
}

int64_t shape_numel(const Shape& shape) {
  // Unsigned: never undefined, and exact for every shape checked_shape_numel accepts.
  uint64_t n = 1;
  for (int64_t s : shape) n *= static_cast<uint64_t>(s);
  return static_cast<int64_t>(n);
}

Result<int64_t> checked_shape_numel(const Shape& shape) {
  int64_t nonzero = 1;
  bool empty = false;
  for (int64_t s : shape) {
    if (s < 0) return invalid_argument("negative dimension in shape " + shape_to_string(shape));
    if (s == 0) {
      empty = true;
      continue;
    }
    if (__builtin_mul_overflow(nonzero, s, &nonzero))
      return invalid_argument("shape " + shape_to_string(shape) + " has more elements than an int64 counts");
  }
  return empty ? int64_t{0} : nonzero;
}

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  uint64_t s = 1;  // unsigned: defined for any shape, exact for checked ones
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = static_cast<int64_t>(s);
    s *= static_cast<uint64_t>(shape[i]);
  }
  return strides;
}

}  // namespace wan
