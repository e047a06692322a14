// Hook called after every op of a DiT forward with the op's output, for `repro trace`
// (a SHA-1 chain over intermediates) and for tests that perturb one op. Absent = zero cost.
#pragma once

#include <cstdint>
#include <string_view>

#include "engine/core/tensor.h"

namespace wan {

class ForwardObserver {
 public:
  virtual ~ForwardObserver() = default;
  // block: -1 for ops outside the blocks (embeddings, head). `output` is the op's result as
  // stored (CPU f32 bf16-valued in bf16 precision); the observer may modify it (debug
  // perturbation), which then flows into the rest of the forward.
  virtual void on_op(int block, std::string_view op, Tensor& output) = 0;
};

}  // namespace wan
