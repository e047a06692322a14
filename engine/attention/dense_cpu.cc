#include "engine/attention/dense_cpu.h"

#include "kernels/cpu/attention_dense.h"

namespace wan {

Status check_cpu_attention_tensor(const Tensor* t, const Shape& want, const char* backend, const char* what) {
  if (!t || t->shape() != want || t->dtype() != DType::kF32 || !t->is_contiguous() || !t->device().is_cpu()) {
    return invalid_argument(std::string(backend) + " attention: " + what + " must be f32 " + shape_to_string(want) +
                            " contiguous on the CPU, got " + (t ? t->describe() : "null"));
  }
  return Status();
}

Status check_cpu_self_attention_shape(const AttentionShape& shape, const char* backend) {
  if (!shape.device.is_cpu())
    return unimplemented(std::string(backend) + " CPU attention cannot run on " + shape.device.to_string());
  return check_self_attention_sizes(shape, backend);
}

Status check_cpu_self_attention_args(const AttentionArgs& args, const AttentionShape& shape, const char* backend) {
  const Shape want = {shape.batch, shape.q_tokens, shape.heads, shape.head_dim};
  for (const auto& [t, what] : {std::pair<const Tensor*, const char*>{args.q, "q"}, {args.k, "k"}, {args.v, "v"}, {args.out, "out"}})
    WAN_RETURN_IF_ERROR(check_cpu_attention_tensor(t, want, backend, what));
  return Status();
}

Status DenseCpuAttention::can_implement(const AttentionShape& shape) const {
  if (!shape.device.is_cpu())
    return unimplemented("dense CPU attention cannot run on " + shape.device.to_string());
  if (shape.head_dim <= 0 || shape.heads <= 0 || shape.q_tokens <= 0 || shape.kv_tokens <= 0)
    return invalid_argument("attention shape must be positive: " + shape.describe());
  return Status();
}

Status DenseCpuAttention::plan(const AttentionShape& shape, AttentionWorkspace, Stream) {
  WAN_RETURN_IF_ERROR(can_implement(shape));
  shape_ = shape;
  planned_ = true;
  return Status();
}

Status DenseCpuAttention::run(const AttentionArgs& args, Stream) {
  if (!planned_) return failed_precondition("dense attention: run() before plan()");
  const Shape q_shape = {shape_.batch, shape_.q_tokens, shape_.heads, shape_.head_dim};
  const Shape kv_shape = {shape_.batch, shape_.kv_tokens, shape_.heads, shape_.head_dim};
  WAN_RETURN_IF_ERROR(check_cpu_attention_tensor(args.q, q_shape, "dense", "q"));
  WAN_RETURN_IF_ERROR(check_cpu_attention_tensor(args.k, kv_shape, "dense", "k"));
  WAN_RETURN_IF_ERROR(check_cpu_attention_tensor(args.v, kv_shape, "dense", "v"));
  WAN_RETURN_IF_ERROR(check_cpu_attention_tensor(args.out, q_shape, "dense", "out"));
  cpu::DenseAttentionParams p;
  bind_cpu_attention_args(args, shape_, &p);
  p.q_tokens = shape_.q_tokens;
  p.kv_tokens = shape_.kv_tokens;
  p.round_p_to_bf16 = shape_.precision == AttentionPrecision::kBf16;
  cpu::attention_dense_f32(p);
  return Status();
}

}  // namespace wan
