// The Wan2.1 DiT forward on the CPU (batch 1), following ENGINE.md step by step. Two numeric
// modes: kBf16 rounds to bf16 exactly where the GPU path stores bf16 (so CPU and GPU results
// are comparable), kFp32 keeps everything f32 (cross-checks with diffusers). Deterministic:
// fixed summation orders, portable math, results independent of the thread count.
#pragma once

#include <memory>
#include <vector>

#include "engine/attention/attention_backend.h"
#include "engine/core/status.h"
#include "engine/model/config.h"
#include "engine/model/dit_model.h"
#include "engine/model/forward_observer.h"
#include "engine/model/weights.h"
#include "kernels/cpu/rope.h"

namespace wan {

enum class Precision { kBf16, kFp32 };
std::string_view precision_name(Precision p);
Result<Precision> parse_precision(std::string_view name);  // "bf16" | "fp32"

class WanDitCpu final : public DitModel {
 public:
  // Packs the weights for the CPU kernels (f32 values; bf16-rounded in kBf16 mode).
  // self_attention: the backend for self-attention (dense if null); cross-attention is dense.
  static Result<std::unique_ptr<WanDitCpu>> create(const WanWeights& weights, Precision precision,
                                                   std::unique_ptr<AttentionBackend> self_attention = nullptr);

  // latents: f32 [16, T', H/8, W/8]; context: f32 [text_len, text_dim]; timestep: integer
  // t in [0, 1000]. Returns the velocity prediction f32 [16, T', H/8, W/8] (bf16-valued in
  // kBf16 mode). Allocates its activations per call.
  Result<Tensor> forward(const Tensor& latents, int64_t timestep, const Tensor& context,
                         ForwardObserver* observer = nullptr, const ForwardCall& call = ForwardCall()) override;

  // Ulysses sequence parallelism over `world` ranks simulated in this process (engine/parallel/
  // ulysses.h): every token-local op of self-attention's path runs per rank on its token shard
  // (projections, q/k RMSNorm over the full dim, RoPE at the shard's global positions, the output
  // projection), the shards are exchanged for head shards (all-to-all), each rank's attention
  // runs its heads over the whole sequence (the backend planned for a head shard), and back. The
  // other token-local ops (norms, modulation, cross-attention, FFN, head) run on the shards'
  // concatenation, which is the same arithmetic row by row. world 1: the plain forward. The heads
  // must divide by world (checked here), the tokens at forward().
  Status set_sequence_parallel(int world);
  int sequence_parallel() const { return sp_world_; }

  const WanConfig& config() const override { return config_; }
  Device device() const override { return Device::cpu(); }
  std::string describe() const override;
  std::vector<std::string> kernel_choices() const override;
  Precision precision() const { return precision_; }

 private:
  struct Linear {
    std::vector<float> w_t;  // [in, out]
    std::vector<float> bias;  // [out]
    int64_t in = 0, out = 0;
  };
  struct Attention {
    Linear q, k, v, o;
    std::vector<float> norm_q, norm_k;
    bool has_gate = false;  // the backend's per-layer gate projection (video_sparse)
    Linear gate;
    // The backend's own per-layer Linear(head_dim, head_dim) (sparse_linear: proj_l), f32;
    // undefined when the checkpoint lacks it.
    Tensor param, param_bias;
  };
  struct Block {
    Attention self_attn, cross_attn;
    std::vector<float> norm2_weight, norm2_bias;
    Linear ffn_up, ffn_down;
    std::vector<float> scale_shift;  // [6, dim]
  };

  WanDitCpu() = default;
  Result<Linear> pack(const WanWeights& w, const std::string& prefix);
  Result<std::vector<float>> vec(const WanWeights& w, const std::string& name);
  // y[rows, out] = x[rows, in] W^T + b, rounded in kBf16 mode.
  void linear(const Linear& l, const float* x, int64_t rows, float* y) const;
  // y = GELU_tanh(x W^T + b) in f32, rounded once (the GPU's fused GELU epilogue).
  void linear_gelu(const Linear& l, const float* x, int64_t rows, float* y) const;
  void round(float* x, int64_t n) const;
  Status attention_block(const Attention& a, int block, bool is_self, const float* x, int64_t tokens,
                         const float* ctx_rows, int64_t ctx_tokens, const cpu::RopeTable* rope,
                         AttentionBackend& backend, const AttentionCall& call, float* out,
                         ForwardObserver* observer);

  // Self-attention of the sharded path (sp_world_ > 1): exchange, per-rank attention, exchange.
  Status sharded_self_attention(const AttentionArgs& args, float* o);

  WanConfig config_;
  Precision precision_ = Precision::kBf16;
  int sp_world_ = 1;
  AttentionShape self_shape_;  // of the current forward (the sharded path plans head shards of it)
  Linear patch_embed_, time_1_, time_2_, time_proj_, text_1_, text_2_, proj_out_;
  std::vector<Block> blocks_;
  std::vector<float> head_scale_shift_;  // [2, dim]
  std::unique_ptr<AttentionBackend> self_attention_;
  std::unique_ptr<AttentionBackend> cross_attention_;
  std::vector<std::string> layer_weight_notes_;  // which per-layer backend weights were found
};

}  // namespace wan
