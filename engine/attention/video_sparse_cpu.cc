#include "engine/attention/video_sparse_cpu.h"

#include "engine/attention/dense_cpu.h"
#include "engine/attention/tiled_backend.h"
#include "kernels/attention/video_sparse/video_sparse_numerics.h"
#include "kernels/cpu/attention_video_sparse.h"

namespace wan {

namespace {
constexpr int64_t kTile[3] = {4, 4, 4};
}  // namespace

TokenOrder VideoSparseBase::token_order(const AttentionShape& shape) const { return tiled_token_order(shape, kTile); }

Status VideoSparseBase::check_shape(const AttentionShape& shape) const {
  return check_tiled_self_attention(shape, "video_sparse", kTile);
}

Status VideoSparseBase::plan_layout(const AttentionShape& shape) {
  const std::string reason = make_tile_layout(shape.frames, shape.height, shape.width, kTile, &layout_);
  if (!reason.empty()) return unimplemented("video_sparse attention: " + reason);
  topk_ = vsa::topk_count(layout_.tile_count, sparsity_);
  shape_ = shape;
  return Status();
}

Status VideoSparseCpuAttention::can_implement(const AttentionShape& shape) const {
  if (!shape.device.is_cpu())
    return unimplemented("video_sparse CPU attention cannot run on " + shape.device.to_string());
  return check_shape(shape);
}

Status VideoSparseCpuAttention::plan(const AttentionShape& shape, AttentionWorkspace, Stream) {
  WAN_RETURN_IF_ERROR(can_implement(shape));
  WAN_RETURN_IF_ERROR(plan_layout(shape));
  planned_ = true;
  return Status();
}

std::string VideoSparseCpuAttention::implementation() const {
  return "attention_video_sparse_f32 (CPU reference; sparsity " + sparsity_text_ + ", top-" +
         std::to_string(topk_) + " of " + layout_.describe() + ")";
}

Status VideoSparseCpuAttention::run(const AttentionArgs& args, Stream) {
  if (!planned_) return failed_precondition("video_sparse attention: run() before plan()");
  const Shape shape = {shape_.batch, shape_.q_tokens, shape_.heads, shape_.head_dim};
  WAN_RETURN_IF_ERROR(check_cpu_self_attention_args(args, shape_, "video_sparse"));
  if (args.gate) WAN_RETURN_IF_ERROR(check_cpu_attention_tensor(args.gate, shape, "video_sparse", "gate"));
  cpu::VideoSparseAttentionParams p;
  bind_cpu_attention_args(args, shape_, &p);
  p.gate = args.gate ? args.gate->data<float>() : nullptr;
  p.tile_start = layout_.tile_start.data();
  p.tile_tokens = layout_.tile_tokens.data();
  p.tiles = layout_.tile_count;
  p.topk = topk_;
  p.round_to_bf16 = shape_.precision == AttentionPrecision::kBf16;
  cpu::attention_video_sparse_f32(p);
  return Status();
}

}  // namespace wan
