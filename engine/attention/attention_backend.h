// The one interface every self-attention backend implements (dense, video_sparse, sliding_tile,
// block_sparse, sparse_linear, and later video_moba, sage), and the one backend table.
// Lifecycle per shape: can_implement -> workspace_bytes -> plan (once per shape, into the
// caller's workspace) -> run (every layer/step/branch, no allocation, no synchronisation).
// The model owns the workspace, permutes tokens into the backend's declared token order once
// per forward, and tells each run which layer, step and branch it serves.
// Cross-attention is always dense (spec: sparse backends apply to self-attention only).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/attention/attention_config.h"
#include "engine/core/status.h"
#include "engine/core/tensor.h"
#include "kernels/attention/common/tile_layout.h"

namespace wan {

enum class AttentionPrecision {
  kBf16,  // GPU rounding points: bf16 inputs, P rounded to bf16 before P*V, fp32 accumulation
  kFp32,  // everything fp32 (cross-checks against other implementations)
};

struct AttentionShape {
  int64_t batch = 1, heads = 0, head_dim = 0;
  int64_t q_tokens = 0, kv_tokens = 0;
  // The token grid (raster t -> h -> w) for backends with spatial structure; 0 when the keys
  // are not a video grid (cross-attention over text).
  int64_t frames = 0, height = 0, width = 0;
  Device device = Device::cpu();
  AttentionPrecision precision = AttentionPrecision::kBf16;
  // DiT blocks of the model (per-layer backend options are checked against it); 0 = unknown.
  int64_t layers = 0;
  // A head shard (Ulysses sequence parallelism, engine/parallel/ulysses.h): local head h is the
  // model's head head_offset + h of model_heads (0: not sharded, the shape's heads are the model's).
  // Per-head options (sliding_tile's strategy windows) key on the model's head index.
  int64_t head_offset = 0, model_heads = 0;
  int64_t total_heads() const { return model_heads ? model_heads : heads; }
  std::string describe() const;
};

// Positive sizes and q tokens equal to kv tokens (InvalidArgument naming `backend` and the shape
// otherwise): the size half of every self-attention backend's plan() check, CPU and CUDA.
Status check_self_attention_sizes(const AttentionShape& shape, std::string_view backend);

using Stream = void*;  // cudaStream_t on CUDA devices; ignored on the CPU

enum class CfgBranch { kCond, kUncond };
std::string_view cfg_branch_name(CfgBranch b);  // "cond" | "uncond"

// Which call a run serves: per-layer state and step- or branch-dependent schedules key on it.
struct AttentionCall {
  int layer = 0;
  int step = 0;
  CfgBranch branch = CfgBranch::kCond;
  int64_t timestep = 0;
};

struct AttentionArgs {
  // q: [batch, q_tokens, heads, head_dim]; k, v: [batch, kv_tokens, heads, head_dim];
  // out: like q. CPU: f32 (bf16-valued in kBf16 precision). CUDA: bf16. Heads packed.
  // Tokens in the backend's token_order().
  const Tensor* q = nullptr;
  const Tensor* k = nullptr;
  const Tensor* v = nullptr;
  Tensor* out = nullptr;
  float scale = 0.0f;  // head_dim^-0.5
  // Per-layer projections the backend declared in layer_weights(), computed by the model from
  // the block input (video_sparse: gate_compress, like q). Null when the checkpoint lacks them.
  const Tensor* gate = nullptr;
  // A per-layer Linear(head_dim, head_dim) the backend applies itself (kHeadDimLinear in
  // layer_weights(); sparse_linear: proj_l): weight [head_dim (out), head_dim (in)] and bias
  // [head_dim], f32 on the CPU. Null when the checkpoint lacks it (the term is zero).
  const Tensor* layer_param = nullptr;
  const Tensor* layer_param_bias = nullptr;
  AttentionCall call;
};

// Caller-owned scratch for plan() and run(): device memory on CUDA, host memory on the CPU.
struct AttentionWorkspace {
  void* data = nullptr;
  size_t bytes = 0;
};

// How the model must order the tokens of self-attention.
struct TokenOrder {
  bool tiled = false;  // false: raster (t, h, w)
  TileLayout layout;   // tiled: the permutation (raster_of_tiled) and per-tile extents
};

// A per-layer weight a backend reads from the checkpoint: blocks.{i}.<name>.weight/.bias.
enum class LayerWeightKind {
  kInputProjection,  // Linear(dim, dim) of the self-attention input (after norm1, like to_q),
                     // computed by the model: AttentionArgs::gate
  kHeadDimLinear,    // Linear(head_dim, head_dim) the backend applies itself:
                     // AttentionArgs::layer_param / layer_param_bias
};
struct LayerWeightSpec {
  std::string name;  // "attn1.to_gate_compress"
  std::string purpose;
  LayerWeightKind kind = LayerWeightKind::kInputProjection;
};

class AttentionBackend {
 public:
  virtual ~AttentionBackend() = default;
  virtual std::string_view name() const = 0;
  // OK, or the reason this backend cannot serve the shape (and what would).
  virtual Status can_implement(const AttentionShape& shape) const = 0;
  // The token order run() expects for this shape (called after can_implement succeeded).
  virtual TokenOrder token_order(const AttentionShape& shape) const { return {}; }
  virtual size_t workspace_bytes(const AttentionShape& shape) const = 0;
  // Builds per-shape metadata (tile maps, schedules) in `workspace`; once per shape.
  virtual Status plan(const AttentionShape& shape, AttentionWorkspace workspace, Stream stream) = 0;
  // Computes out; no allocation, no synchronisation on CUDA.
  virtual Status run(const AttentionArgs& args, Stream stream) = 0;
  // Optional per-layer weights (loaded with the checkpoint; absent = null gate in run()):
  // the backend table's row for this backend.
  virtual std::vector<LayerWeightSpec> layer_weights() const { return {}; }
  // Launches of run() that depend on the call (step, branch) get different keys: a CUDA graph
  // captured for one key is never replayed for another. 0: the launch never depends on it.
  virtual uint64_t graph_variant(const AttentionCall&) const { return 0; }
  // The kernel(s) that actually ran for the planned shape, for reports.
  virtual std::string implementation() const { return std::string(name()); }
};

// The run-summary line for a per-layer weight: loaded for N of L blocks, or absent (zero).
std::string layer_weight_note(const LayerWeightSpec& spec, int64_t found, int64_t layers, const std::string& source);

// Bit-exactness class of a backend, for the consistency test and reports.
enum class AttentionExactness {
  kExact,         // equals masked dense attention to bf16 rounding (a full mask = dense)
  kErrorBounded,  // approximates dense by design (quantisation); judged by its error
};

// The backend table: one row per backend, used by the parser, the CLI help and the makers.
struct AttentionBackendInfo {
  AttentionBackendKind kind;
  std::string_view name;
  std::string_view summary;
  AttentionExactness exactness;
  std::vector<AttentionOptionSpec> options;
  bool has_cpu = false, has_cuda = false;
  // Per-layer weights the backend reads from a checkpoint (WanWeights::load keeps them).
  std::vector<LayerWeightSpec> layer_weights = {};
};
const std::vector<AttentionBackendInfo>& attention_backend_table();
const AttentionBackendInfo& attention_backend_info(AttentionBackendKind kind);

// The explicit registry: a switch over the kind, per device.
Result<std::unique_ptr<AttentionBackend>> make_attention_backend(const AttentionConfig& config, Device device);

}  // namespace wan
