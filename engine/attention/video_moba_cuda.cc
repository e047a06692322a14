#include "engine/attention/video_moba_cuda.h"

#include <algorithm>

#include "engine/attention/dense_cuda.h"
#include "engine/attention/tiled_backend.h"

namespace wan {
namespace {

size_t align256(size_t x) { return (x + 255) / 256 * 256; }

}  // namespace

VmobaAttentionParams VideoMobaCudaAttention::shape_params(const AttentionShape& s, const VmobaLayout& layout) const {
  VmobaAttentionParams p;
  p.attn = shape_attention_params(s);
  const int32_t* table = reinterpret_cast<const int32_t*>(256);
  p.tables.raster_of_pos = layout.identity ? nullptr : table;
  p.tables.chunk_of_pos = p.tables.chunk_start = p.tables.kv_block_start = p.tables.kv_block_chunk =
      p.tables.chunk_first_block = table;
  p.tables.chunks = static_cast<int>(layout.chunks);
  p.tables.kv_blocks = static_cast<int>(layout.kv_blocks());
  p.threshold = base_.threshold;
  return p;
}

Status VideoMobaCudaAttention::can_implement(const AttentionShape& shape) const {
  WAN_RETURN_IF_ERROR(check_cuda_bf16(shape, "video_moba"));
  WAN_RETURN_IF_ERROR(check_grid(shape));
  if (shape.batch <= 0 || shape.heads <= 0 || shape.q_tokens > INT32_MAX / 2)
    return invalid_argument("video_moba CUDA attention: unsupported sizes " + shape.describe());
  for (int type = 0; type < layer_types(shape); ++type) {
    const VmobaLayout layout = vmoba_layout(layer_params(shape, type));
    const std::string reason = vmoba_attention_unsupported_reason(shape_params(shape, layout));
    if (!reason.empty())
      return unimplemented("video_moba CUDA attention cannot run " + shape.describe() + " (layer chunking " +
                           std::to_string(type) + "): " + reason);
  }
  return Status();
}

size_t VideoMobaCudaAttention::workspace_bytes(const AttentionShape& shape) const {
  size_t tables = 0, kernels = 0;
  for (int type = 0; type < layer_types(shape); ++type) {
    const VmobaLayout layout = vmoba_layout(layer_params(shape, type));
    tables += align256(vmoba_tables_bytes(layout));
    kernels = std::max(kernels, vmoba_attention_workspace_bytes(shape_params(shape, layout)));
  }
  return tables + kernels;
}

Status VideoMobaCudaAttention::plan(const AttentionShape& shape, AttentionWorkspace workspace, Stream) {
  WAN_RETURN_IF_ERROR(can_implement(shape));
  if (workspace.bytes < workspace_bytes(shape)) return internal_error("video_moba CUDA attention: workspace too small");
  char* at = static_cast<char*>(workspace.data);
  for (int type = 0; type < 3; ++type) tables_[type] = VmobaTables();
  for (int type = 0; type < layer_types(shape); ++type) {
    const VmobaLayout layout = vmoba_layout(layer_params(shape, type));
    tables_[type] = upload_vmoba_tables(layout, at);  // synchronous: the layout is temporary
    at += align256(vmoba_tables_bytes(layout));
  }
  kernel_workspace_ = at;
  shape_ = shape;
  planned_ = true;
  return Status();
}

std::string VideoMobaCudaAttention::implementation() const {
  std::string s = "video_moba (" + options_text() + ") ->";
  for (int type = 0; type < layer_types(shape_); ++type) {
    VmobaAttentionParams p = shape_params(shape_, VmobaLayout());
    p.tables = tables_[type];
    s += std::string(type ? ";" : "") + " layers " + std::to_string(type) + ", " + std::to_string(type + 3) +
         ", ...: " + vmoba_attention_kernels(p);
  }
  return s;
}

Status VideoMobaCudaAttention::run(const AttentionArgs& a, Stream stream) {
  if (!planned_) return failed_precondition("video_moba CUDA attention: run() before plan()");
  if (a.call.layer < 0) return invalid_argument("video_moba CUDA attention: negative layer index");
  const int type = a.call.layer % 3;
  if (type >= layer_types(shape_))
    return invalid_argument("video_moba CUDA attention: layer " + std::to_string(a.call.layer) + " beyond the " +
                            std::to_string(shape_.layers) + " planned layers");
  VmobaAttentionParams p = shape_params(shape_, VmobaLayout());
  WAN_ASSIGN_OR_RETURN(p.attn, cuda_attention_params(a, shape_, "video_moba"));
  p.tables = tables_[type];
  const std::string reason = vmoba_attention_unsupported_reason(p);
  if (!reason.empty()) return invalid_argument("video_moba CUDA attention cannot run these tensors: " + reason);
  launch_vmoba_attention(p, kernel_workspace_, static_cast<cudaStream_t>(stream));
  return Status();
}

}  // namespace wan
