// Sage (SageAttention2-style quantised attention) on the CPU: the emulation of the Hopper
// kernel's INT8 q k^T and FP8 P V (kernels/cpu/attention_sage.h), raster token order, no options
// (SageAttention2's sm90 defaults). Error-bounded against dense by design (the backend table's
// kErrorBounded class). The kernel it emulates: engine/attention/sage_cuda.h.
#pragma once

#include "engine/attention/attention_backend.h"

namespace wan {

// OK, or UNIMPLEMENTED for a head_dim other than 64 or 128 (the kernel's), on either device.
Status check_sage_head_dim(const AttentionShape& shape);

class SageCpuAttention final : public AttentionBackend {
 public:
  std::string_view name() const override { return "sage"; }
  Status can_implement(const AttentionShape& shape) const override;
  size_t workspace_bytes(const AttentionShape&) const override { return 0; }
  Status plan(const AttentionShape& shape, AttentionWorkspace workspace, Stream stream) override;
  Status run(const AttentionArgs& args, Stream stream) override;
  std::string implementation() const override;

 private:
  AttentionShape shape_;
  bool planned_ = false;
};

}  // namespace wan
