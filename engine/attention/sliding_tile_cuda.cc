#include "engine/attention/sliding_tile_cuda.h"

#include <cuda_runtime_api.h>

#include "engine/attention/dense_cuda.h"
#include "engine/attention/tiled_backend.h"
#include "kernels/common/cuda_check.h"

namespace wan {

namespace {
size_t align256(size_t n) { return (n + 255) / 256 * 256; }
}  // namespace

Result<std::unique_ptr<AttentionBackend>> SlidingTileCudaAttention::create(const AttentionConfig& config) {
  auto b = std::make_unique<SlidingTileCudaAttention>();
  WAN_RETURN_IF_ERROR(b->init(config));
  return std::unique_ptr<AttentionBackend>(std::move(b));
}

BlockSparseTiling SlidingTileCudaAttention::tiling_for(const TileLayout& layout) {
  return layout.max_tile_tokens <= 64 ? BlockSparseTiling::kRows64Keys64 : BlockSparseTiling::kRows128Keys128;
}

Result<SlidingTileCudaAttention::Layout> SlidingTileCudaAttention::layout_for(const AttentionShape& shape,
                                                                              const Plan& plan,
                                                                              const SlidingTileSchedule& s,
                                                                              BlockSparseAttentionParams* params) const {
  const int32_t* index_placeholder = reinterpret_cast<const int32_t*>(256);
  BlockSparseAttentionParams p;
  p.attn = shape_attention_params(shape);
  p.tiling = tiling_for(plan.layout);
  p.schedule.q_blocks = p.schedule.kv_blocks = s.blocks;
  p.schedule.q_block_start = p.schedule.kv_block_start = index_placeholder;
  p.schedule.kv_index = p.schedule.kv_list_start = p.schedule.head_group = index_placeholder;
  Layout l;
  l.block_start = 0;
  l.list_start = l.block_start + align256(s.block_start.size() * 4);
  l.kv_index = l.list_start + align256(s.list_start.size() * 4);
  l.head_group = l.kv_index + align256(s.kv_index.size() * 4);
  l.main_loop = l.head_group + align256(plan.configs.size() * static_cast<size_t>(shape.heads) * 4);
  l.total = l.main_loop + block_sparse_attention_sm90_workspace_bytes(p);
  *params = p;
  return l;
}

Status SlidingTileCudaAttention::can_implement(const AttentionShape& shape) const {
  WAN_RETURN_IF_ERROR(check_cuda_bf16(shape, "sliding_tile"));
  WAN_RETURN_IF_ERROR(check_shape(shape));
  Plan plan;
  WAN_RETURN_IF_ERROR(make_plan(shape, &plan));
  const SlidingTileSchedule s = make_sliding_tile_schedule(plan.layout, {TileWindow{}},
                                                           block_sparse_rows(tiling_for(plan.layout)));
  BlockSparseAttentionParams p;
  WAN_ASSIGN_OR_RETURN(Layout unused, layout_for(shape, plan, s, &p));
  (void)unused;
  const std::string reason = block_sparse_attention_sm90_unsupported_reason(p);
  if (!reason.empty()) return unimplemented("sliding_tile CUDA attention cannot run " + shape.describe() + ": " + reason);
  return Status();
}

size_t SlidingTileCudaAttention::workspace_bytes(const AttentionShape& shape) const {
  Plan plan;
  if (!make_plan(shape, &plan).ok()) return 0;
  const SlidingTileSchedule s =
      make_sliding_tile_schedule(plan.layout, plan.windows, block_sparse_rows(tiling_for(plan.layout)));
  BlockSparseAttentionParams p;
  const Result<Layout> l = layout_for(shape, plan, s, &p);
  return l.ok() ? l.value().total : 0;
}

Status SlidingTileCudaAttention::plan(const AttentionShape& shape, AttentionWorkspace workspace, Stream stream) {
  WAN_RETURN_IF_ERROR(can_implement(shape));
  WAN_RETURN_IF_ERROR(make_plan(shape, &plan_));
  tiling_ = tiling_for(plan_.layout);
  schedule_ = make_sliding_tile_schedule(plan_.layout, plan_.windows, block_sparse_rows(tiling_));
  BlockSparseAttentionParams p;
  WAN_ASSIGN_OR_RETURN(offsets_, layout_for(shape, plan_, schedule_, &p));
  if (workspace.bytes < offsets_.total) return internal_error("sliding_tile CUDA attention: workspace too small");
  workspace_ = static_cast<char*>(workspace.data);
  std::vector<int32_t> head_group;
  for (const std::vector<int32_t>& c : plan_.configs) head_group.insert(head_group.end(), c.begin(), c.end());
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  auto upload = [&](size_t offset, const std::vector<int32_t>& v) {
    WAN_CUDA_CHECK(cudaMemcpyAsync(workspace_ + offset, v.data(), v.size() * 4, cudaMemcpyHostToDevice, s));
  };
  upload(offsets_.block_start, schedule_.block_start);
  upload(offsets_.list_start, schedule_.list_start);
  upload(offsets_.kv_index, schedule_.kv_index);
  upload(offsets_.head_group, head_group);
  WAN_CUDA_CHECK(cudaStreamSynchronize(s));  // the host vectors above are temporaries
  shape_ = shape;
  planned_ = true;
  return Status();
}

std::string SlidingTileCudaAttention::implementation() const {
  BlockSparseAttentionParams p;
  p.attn.head_dim = static_cast<int>(shape_.head_dim);
  p.tiling = tiling_;
  p.schedule.kv_index = reinterpret_cast<const int32_t*>(256);
  return "sliding_tile (" + describe_windows() + ") -> " + block_sparse_attention_sm90_name(p);
}

Status SlidingTileCudaAttention::run(const AttentionArgs& a, Stream stream) {
  if (!planned_) return failed_precondition("sliding_tile CUDA attention: run() before plan()");
  WAN_ASSIGN_OR_RETURN(int32_t config, config_for(a.call));
  BlockSparseAttentionParams p;
  WAN_ASSIGN_OR_RETURN(p.attn, cuda_attention_params(a, shape_, "sliding_tile"));
  p.tiling = tiling_;
  BlockSchedule& s = p.schedule;
  s.q_blocks = s.kv_blocks = schedule_.blocks;
  s.q_block_start = s.kv_block_start = reinterpret_cast<const int32_t*>(workspace_ + offsets_.block_start);
  s.kv_list_start = reinterpret_cast<const int32_t*>(workspace_ + offsets_.list_start);
  s.kv_index = reinterpret_cast<const int32_t*>(workspace_ + offsets_.kv_index);
  s.head_group = reinterpret_cast<const int32_t*>(workspace_ + offsets_.head_group) + config * shape_.heads;
  launch_block_sparse_attention_sm90(p, workspace_ + offsets_.main_loop, static_cast<cudaStream_t>(stream));
  return Status();
}

}  // namespace wan
