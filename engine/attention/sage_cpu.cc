#include "engine/attention/sage_cpu.h"

#include "engine/attention/dense_cpu.h"
#include "kernels/cpu/attention_sage.h"

namespace wan {

Status check_sage_head_dim(const AttentionShape& shape) {
  if (shape.head_dim != 64 && shape.head_dim != 128)
    return unimplemented("sage attention serves head_dim 64 or 128 (the SageAttention2 kernel's), got " +
                         shape.describe());
  return Status();
}

Status SageCpuAttention::can_implement(const AttentionShape& shape) const {
  WAN_RETURN_IF_ERROR(check_cpu_self_attention_shape(shape, "sage"));
  return check_sage_head_dim(shape);
}

Status SageCpuAttention::plan(const AttentionShape& shape, AttentionWorkspace, Stream) {
  WAN_RETURN_IF_ERROR(can_implement(shape));
  shape_ = shape;
  planned_ = true;
  return Status();
}

std::string SageCpuAttention::implementation() const {
  return "attention_sage_f32 (CPU emulation of SageAttention2 sm90: smooth-k, per-thread INT8 q/k, FP8 e4m3 P "
         "and per-channel V, 128-key blocks)";
}

Status SageCpuAttention::run(const AttentionArgs& args, Stream) {
  if (!planned_) return failed_precondition("sage attention: run() before plan()");
  WAN_RETURN_IF_ERROR(check_cpu_self_attention_args(args, shape_, "sage"));
  cpu::SageAttentionParams p;
  bind_cpu_attention_args(args, shape_, &p);
  p.tokens = shape_.q_tokens;
  cpu::attention_sage_f32(p);
  return Status();
}

}  // namespace wan
