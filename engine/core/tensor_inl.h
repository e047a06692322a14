// Template definitions for tensor.h. Include tensor.h, not this file.
#pragma once

#include <cassert>

namespace wan {

template <typename T>
T* Tensor::data() const {
  assert(DTypeOf<T>::value == dtype_ && "Tensor::data<T>() with the wrong T");
  return static_cast<T*>(raw_data());
}

}  // namespace wan
