// The one interface every self-attention backend implements (dense, sliding_tile,
// video_sparse, sparse_linear, block_sparse, video_moba, sage). Lifecycle per shape:
// can_implement -> workspace_bytes -> plan (once per shape) -> run (every step, no allocation).
// Cross-attention is always dense (spec: sparse backends apply to self-attention only).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "engine/core/status.h"
#include "engine/core/tensor.h"

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
  std::string describe() const;
};

struct AttentionArgs {
  // q: [batch, q_tokens, heads, head_dim]; k, v: [batch, kv_tokens, heads, head_dim];
  // out: like q. CPU: f32 (bf16-valued in kBf16 precision). CUDA: bf16. Contiguous.
  const Tensor* q = nullptr;
  const Tensor* k = nullptr;
  const Tensor* v = nullptr;
  Tensor* out = nullptr;
  float scale = 0.0f;  // head_dim^-0.5
};

using Stream = void*;  // cudaStream_t on CUDA devices; ignored on the CPU

class AttentionBackend {
 public:
  virtual ~AttentionBackend() = default;
  virtual std::string_view name() const = 0;
  // OK, or the reason this backend cannot serve the shape (and what would).
  virtual Status can_implement(const AttentionShape& shape) const = 0;
  virtual size_t workspace_bytes(const AttentionShape& shape) const = 0;
  // Builds per-shape metadata (tile maps, masks); called once per shape before run.
  virtual Status plan(const AttentionShape& shape, Stream stream) = 0;
  // Computes out; no allocation, no synchronisation on CUDA.
  virtual Status run(const AttentionArgs& args, Stream stream) = 0;
  // The kernel plan() chose, for reports ("flash_attention_fwd_sm90 (wgmma)").
  virtual std::string implementation() const { return std::string(name()); }
};

enum class AttentionBackendKind {
  kDense,
};

// "dense" -> kDense; unknown names list the valid ones.
Result<AttentionBackendKind> parse_attention_backend(std::string_view name);
std::string_view attention_backend_name(AttentionBackendKind kind);
// The explicit registry: a switch over the kind, per device.
Result<std::unique_ptr<AttentionBackend>> make_attention_backend(AttentionBackendKind kind,
                                                                 Device device);

}  // namespace wan
