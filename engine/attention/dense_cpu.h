// Dense attention on the CPU: a thin adapter from AttentionArgs to
// kernels/cpu/attention_dense.h (the reference all other backends are judged against).
#pragma once

#include "engine/attention/attention_backend.h"

namespace wan {

class DenseCpuAttention final : public AttentionBackend {
 public:
  std::string_view name() const override { return "dense"; }
  Status can_implement(const AttentionShape& shape) const override;
  size_t workspace_bytes(const AttentionShape&) const override { return 0; }
  Status plan(const AttentionShape& shape, AttentionWorkspace workspace, Stream stream) override;
  Status run(const AttentionArgs& args, Stream stream) override;
  std::string implementation() const override { return "attention_dense_f32 (CPU reference)"; }

 private:
  AttentionShape shape_;
  bool planned_ = false;
};

// Checks a CPU attention tensor: f32, the given shape, contiguous, on the CPU.
Status check_cpu_attention_tensor(const Tensor* t, const Shape& want, const char* backend, const char* what);
// A self-attention shape a CPU backend can plan: on the CPU, then check_self_attention_sizes.
Status check_cpu_self_attention_shape(const AttentionShape& shape, const char* backend);
// q, k, v and out of a CPU self-attention call: each f32 [batch, q_tokens, heads, head_dim].
Status check_cpu_self_attention_args(const AttentionArgs& args, const AttentionShape& shape, const char* backend);

// Binds a checked CPU call to a reference kernel's params (any struct with q, k, v, out, batch,
// heads, head_dim and scale): the tensors' f32 data, the shape's head layout, the call's scale.
template <typename Params>
void bind_cpu_attention_args(const AttentionArgs& args, const AttentionShape& shape, Params* p) {
  p->q = args.q->data<float>();
  p->k = args.k->data<float>();
  p->v = args.v->data<float>();
  p->out = args.out->data<float>();
  p->batch = shape.batch;
  p->heads = shape.heads;
  p->head_dim = shape.head_dim;
  p->scale = args.scale;
}

}  // namespace wan
