#include "engine/attention/block_sparse_cpu.h"

#include <cstdio>

#include "engine/attention/dense_cpu.h"
#include "engine/attention/tiled_backend.h"

namespace wan {

namespace {
constexpr int64_t kTile[3] = {4, 4, 4};
}  // namespace

Result<std::string> canonical_min_tiles_option(const std::string& text) {
  if (text.empty() || text.size() > 5 || text.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(text) < 1 || std::stoi(text) > 65536)
    return invalid_argument("'" + text + "' is not an integer in [1, 65536]");
  return std::to_string(std::stoi(text));
}

BlockSparseBase::BlockSparseBase(const AttentionConfig& config) {
  select_.keep_ratio = config.number("keep");
  select_.threshold = config.number("threshold");
  select_.min_tiles = static_cast<int64_t>(config.number("min_tiles"));
}

TokenOrder BlockSparseBase::token_order(const AttentionShape& shape) const { return tiled_token_order(shape, kTile); }

Status BlockSparseBase::check_shape(const AttentionShape& shape) const {
  return check_tiled_self_attention(shape, "block_sparse", kTile);
}

Status BlockSparseBase::plan_layout(const AttentionShape& shape) {
  WAN_RETURN_IF_ERROR(check_shape(shape));
  (void)make_tile_layout(shape.frames, shape.height, shape.width, kTile, &layout_);
  shape_ = shape;
  return Status();
}

std::string BlockSparseBase::describe_options() const {
  char buf[160];
  std::snprintf(buf, sizeof(buf), "keep %g of each tile's queries, kv tiles to cumulative mass %g, at least %lld",
                select_.keep_ratio, select_.threshold, static_cast<long long>(select_.min_tiles));
  return std::string(buf) + (planned_ ? "; " + layout_.describe() : "");
}

Status BlockSparseCpuAttention::can_implement(const AttentionShape& shape) const {
  if (!shape.device.is_cpu())
    return unimplemented("block_sparse CPU attention cannot run on " + shape.device.to_string());
  return check_shape(shape);
}

Status BlockSparseCpuAttention::plan(const AttentionShape& shape, AttentionWorkspace, Stream) {
  WAN_RETURN_IF_ERROR(can_implement(shape));
  WAN_RETURN_IF_ERROR(plan_layout(shape));
  planned_ = true;
  return Status();
}

std::string BlockSparseCpuAttention::implementation() const {
  return "attention_bsa_f32 (CPU reference; " + describe_options() + ")";
}

Status BlockSparseCpuAttention::run(const AttentionArgs& args, Stream) {
  if (!planned_) return failed_precondition("block_sparse attention: run() before plan()");
  WAN_RETURN_IF_ERROR(check_cpu_self_attention_args(args, shape_, "block_sparse"));
  cpu::BsaAttentionParams p;
  bind_cpu_attention_args(args, shape_, &p);
  p.tile_start = layout_.tile_start.data();
  p.tile_tokens = layout_.tile_tokens.data();
  p.tiles = layout_.tile_count;
  p.select = select_;
  p.round_to_bf16 = shape_.precision == AttentionPrecision::kBf16;
  cpu::attention_bsa_f32(p);
  return Status();
}

}  // namespace wan
