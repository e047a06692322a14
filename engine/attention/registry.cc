#include <string>

#include "engine/attention/attention_backend.h"
#include "engine/attention/block_sparse_cpu.h"
#include "engine/attention/block_sparse_cuda.h"
#include "engine/attention/dense_cpu.h"
#include "engine/attention/dense_cuda.h"
#include "engine/attention/sliding_tile_cpu.h"
#include "engine/attention/sliding_tile_cuda.h"
#include "engine/attention/sliding_tile_strategy.h"
#include "engine/attention/sage_cpu.h"
#include "engine/attention/sage_cuda.h"
#include "engine/attention/sparse_linear_cpu.h"
#include "engine/attention/sparse_linear_cuda.h"
#include "engine/attention/video_moba_cpu.h"
#include "engine/attention/video_moba_cuda.h"
#include "engine/attention/video_sparse_cpu.h"
#include "engine/attention/video_sparse_cuda.h"

namespace wan {

std::string AttentionShape::describe() const {
  std::string s = "batch " + std::to_string(batch) + ", heads " + std::to_string(heads) +
                  ", head_dim " + std::to_string(head_dim) + ", q_tokens " +
                  std::to_string(q_tokens) + ", kv_tokens " + std::to_string(kv_tokens);
  if (frames) {
    s += ", grid " + std::to_string(frames) + "x" + std::to_string(height) + "x" +
         std::to_string(width);
  }
  if (model_heads)
    s += " (heads " + std::to_string(head_offset) + ".." + std::to_string(head_offset + heads - 1) + " of " +
         std::to_string(model_heads) + ")";
  return s + " on " + device.to_string();
}

Status check_self_attention_sizes(const AttentionShape& shape, std::string_view backend) {
  if (shape.head_dim <= 0 || shape.heads <= 0 || shape.q_tokens <= 0 || shape.batch <= 0)
    return invalid_argument("attention shape must be positive: " + shape.describe());
  if (shape.q_tokens != shape.kv_tokens)
    return invalid_argument(std::string(backend) + " serves self-attention only (q and kv tokens equal), got " +
                            shape.describe());
  return Status();
}

std::string_view cfg_branch_name(CfgBranch b) { return b == CfgBranch::kCond ? "cond" : "uncond"; }

std::string layer_weight_note(const LayerWeightSpec& spec, int64_t found, int64_t layers, const std::string& source) {
  if (found == 0)
    return spec.name + " absent from " + source + " in all " + std::to_string(layers) +
           " blocks: zero, as FastVideo's loader does (" + spec.purpose + ": the term vanishes)";
  return spec.name + " loaded for " + std::to_string(found) + " of " + std::to_string(layers) + " blocks" +
         (found < layers ? " (zero in the others)" : "");
}

const std::vector<AttentionBackendInfo>& attention_backend_table() {
  static const std::vector<AttentionBackendInfo> kTable = {
      {AttentionBackendKind::kDense,
       "dense",
       "exact softmax attention (flash)",
       AttentionExactness::kExact,
       {{"kernel", "auto", {"auto", "sm90_ws", "sm90_plain", "mma_sync"}, 0, 0, false,
         "CUDA kernel: auto = sm90_ws on Hopper at head_dim 128, else mma_sync"}},
       true,
       true},
      {AttentionBackendKind::kVideoSparse,
       "video_sparse",
       "VSA: coarse tile attention + top-k block-sparse fine attention over (4,4,4) tiles",
       AttentionExactness::kExact,
       {{"sparsity", "0.9", {}, 0.0, 1.0, false, "fraction of kv tiles skipped; 0 = dense"}},
       true,
       true,
       {{"to_gate_compress", "VSA gate on the coarse branch (out = out_c * gate + out_fine)"}}},
      {AttentionBackendKind::kSlidingTile,
       "sliding_tile",
       "STA: each query tile attends to a window of kv tiles clamped inside the canvas (any canvas and tile)",
       AttentionExactness::kExact,
       {{"tile", "6x8x8", {}, 0, 0, false, "tile extents TxHxW in tokens, 1..64 each; edge tiles may be partial",
         canonical_tile_shape_option},
        {"window", "3x3x5", {}, 0, 0, false,
         "uniform window TxHxW in tiles (>= 1), or full (= dense); clamped inside the canvas", canonical_tile_window_option},
        {"strategy", "", {}, 0, 0, false,
         "mask-strategy JSON: {\"STEP_LAYER_HEAD\" or \"LAYER_HEAD\": [t, h, w]}; unnamed heads use window",
         sliding_tile_strategy_digest, true}},
       true,
       true},
      {AttentionBackendKind::kBlockSparse,
       "block_sparse",
       "BSA: per (4,4,4) tile, queries pruned by cosine similarity to the centre, kv tiles kept to a cumulative "
       "block-softmax mass, pruned rows copy the nearest kept row",
       AttentionExactness::kExact,
       {{"keep", "0.5", {}, 0.0, 1.0, true, "fraction of each tile's queries attended (the rest copy); 1 = all"},
        {"threshold", "0.9", {}, 0.0, 1.0, true, "cumulative block-softmax mass of the kv tiles kept; 1 = all"},
        {"min_tiles", "4", {}, 0, 0, false, "kv tiles kept at least (integer >= 1)", canonical_min_tiles_option}},
       true,
       true},
      {AttentionBackendKind::kSparseLinear,
       "sparse_linear",
       "SLA: top-k block-sparse softmax attention (128-token query, 64-token key blocks, raster order) plus a "
       "linear-attention branch over all keys through the per-layer proj_l",
       AttentionExactness::kExact,
       {{"ratio", "0.1", {}, 0, 0, false, "fraction of key blocks each query block attends, in (0, 1]; 1 = all",
         canonical_sla_ratio_option},
        {"feature_map", "softmax", {"softmax", "elu", "relu"}, 0, 0, false,
         "linear-branch feature map: softmax over head_dim, elu + 1, or relu"}},
       true,
       true,
       {{"attn1.attn_impl.proj_l", "SLA linear-branch projection (out = o_sparse + proj_l(o_linear))",
         LayerWeightKind::kHeadDimLinear}}},
      {AttentionBackendKind::kVideoMoba,
       "video_moba",
       "VMoBA: layer-cyclic temporal / spatial / spatio-temporal chunks; each query attends its own chunk and the "
       "chunks its gate selects up to a threshold share",
       AttentionExactness::kExact,
       {{"temporal_chunk", "2", {}, 0, 0, false, "frames per chunk in layers 0, 3, 6, ... (the last may be partial)",
         canonical_temporal_chunk_option},
        {"spatial_chunk", "3x4", {}, 0, 0, false, "HxW tokens per chunk, across all frames, in layers 1, 4, ...; must divide the grid",
         canonical_spatial_chunk_option},
        {"st_chunk", "4x6x4", {}, 0, 0, false, "TxHxW tokens per chunk in layers 2, 5, ...; must divide the grid",
         canonical_tile_shape_option},
        {"threshold", "0.25", {}, 0.0, 1.0, true, "gate share (with the own chunk's) a query's chunks reach; 1 = dense"}},
       true,
       true},
      {AttentionBackendKind::kSage,
       "sage",
       "SageAttention2-style quantised attention: smooth-k, INT8 q k^T with per-thread scales, FP8 (e4m3) P and "
       "per-channel V, fp32 accumulation; head_dim 64 or 128",
       AttentionExactness::kErrorBounded,
       {},
       true,
       true},
  };
  return kTable;
}

const AttentionBackendInfo& attention_backend_info(AttentionBackendKind kind) {
  for (const AttentionBackendInfo& b : attention_backend_table())
    if (b.kind == kind) return b;
  return attention_backend_table().front();
}

Result<std::unique_ptr<AttentionBackend>> make_attention_backend(const AttentionConfig& config, Device device) {
  switch (config.kind) {
    case AttentionBackendKind::kDense:
      if (device.is_cpu()) return std::unique_ptr<AttentionBackend>(new DenseCpuAttention());
      return std::unique_ptr<AttentionBackend>(new DenseCudaAttention(config));
    case AttentionBackendKind::kVideoSparse:
      if (device.is_cpu()) return std::unique_ptr<AttentionBackend>(new VideoSparseCpuAttention(config));
      return std::unique_ptr<AttentionBackend>(new VideoSparseCudaAttention(config));
    case AttentionBackendKind::kBlockSparse:
      if (device.is_cpu()) return std::unique_ptr<AttentionBackend>(new BlockSparseCpuAttention(config));
      return std::unique_ptr<AttentionBackend>(new BlockSparseCudaAttention(config));
    case AttentionBackendKind::kSparseLinear:
      if (device.is_cpu()) return std::unique_ptr<AttentionBackend>(new SparseLinearCpuAttention(config));
      return std::unique_ptr<AttentionBackend>(new SparseLinearCudaAttention(config));
    case AttentionBackendKind::kVideoMoba:
      if (device.is_cpu()) return std::unique_ptr<AttentionBackend>(new VideoMobaCpuAttention(config));
      return std::unique_ptr<AttentionBackend>(new VideoMobaCudaAttention(config));
    case AttentionBackendKind::kSage:
      if (device.is_cpu()) return std::unique_ptr<AttentionBackend>(new SageCpuAttention());
      return std::unique_ptr<AttentionBackend>(new SageCudaAttention());
    case AttentionBackendKind::kSlidingTile:
      if (device.is_cpu()) return SlidingTileCpuAttention::create(config);
      return SlidingTileCudaAttention::create(config);
  }
  return internal_error("unhandled attention backend kind");
}

}  // namespace wan
