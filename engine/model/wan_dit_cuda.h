// The Wan2.1 DiT forward on CUDA (batch 1, bf16 with fp32 accumulation), with the CPU
// reference's rounding points: cuBLASLt GEMMs (fused QKV, bias and GELU epilogues), fused
// norm kernels (LayerNorm + modulate, gated residual + LayerNorm, qk RMSNorm + RoPE), the
// selected attention backend, and an activation arena planned once per token count, so a
// forward allocates nothing after the first at a given size. Deterministic run to run.
#pragma once

#include <map>
#include <set>
#include <tuple>
#include <memory>
#include <string>
#include <vector>

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include "engine/attention/attention_backend.h"
#include "engine/core/device_arena.h"
#include "engine/core/status.h"
#include "engine/model/dit_model.h"
#include "engine/model/weights.h"
#include "kernels/gemm/cublaslt_gemm.h"

namespace wan {

class WanDitCuda final : public DitModel {
 public:
  // Uploads the weights as bf16 (f32/f16 checkpoints are rounded, as the CPU bf16 path does).
  static Result<std::unique_ptr<WanDitCuda>> create(const WanWeights& weights, Device device,
                                                    const AttentionConfig& self_attention);
  ~WanDitCuda() override;

  // latents: f32 [16, T', H/8, W/8], context: f32 [text_len, text_dim], on the host or this
  // device. Returns f32 [16, T', H/8, W/8] on this device (valid until the next forward).
  // Synchronises the stream before returning.
  Result<Tensor> forward(const Tensor& latents, int64_t timestep, const Tensor& context,
                         ForwardObserver* observer, const ForwardCall& call = ForwardCall()) override;
  const WanConfig& config() const override { return config_; }
  Device device() const override { return device_; }
  std::string describe() const override;
  std::vector<std::string> kernel_choices() const override;
  cudaStream_t stream() const { return stream_; }
  void* cuda_stream() const override { return stream_; }
  // "qkv: algo 66 tile ..." per GEMM shape, for reports.
  std::vector<std::string> gemm_algorithms() const;

  // Time split of forwards by kernel family, from CUDA events around each GEMM and attention
  // launch (the rest: everything else in the forward). Enabling adds event records only.
  struct FamilyTimes {
    double gemm_ms = 0, attention_ms = 0, total_ms = 0;
    int forwards = 0;
    double rest_ms() const { return total_ms - gemm_ms - attention_ms; }
  };
  void enable_family_timing(bool on) { family_timing_ = on; }
  // CUDA graphs: the forward is captured once per shape (inputs are first copied into the
  // arena) and replayed (on by default).
  void enable_graphs(bool on) { use_graphs_ = on; }
  FamilyTimes family_times() const { return family_times_; }

 private:
  struct BlockWeights {
    Tensor w_qkv, b_qkv, w_o, b_o, norm_q, norm_k;           // self-attention (fused QKV)
    Tensor w_cq, b_cq, w_ckv, b_ckv, w_co, b_co, norm_cq, norm_ck;  // cross (fused KV)
    Tensor norm2_w, norm2_b, w_up, b_up, w_down, b_down, scale_shift;
    Tensor w_gate, b_gate;  // the self-attention backend's per-layer gate (undefined: absent)
    // The backend's per-layer Linear(head_dim, head_dim) it applies itself (sparse_linear's
    // proj_l), bf16 on the device (undefined: absent, the term is zero).
    Tensor w_head_linear, b_head_linear;
  };
  struct Buffers;  // activation pointers into the arena

  WanDitCuda() = default;
  Status upload(const WanWeights& w);
  Status plan_shape(int64_t frames, int64_t height, int64_t width);
  // Enqueues the whole forward on stream_ (no host synchronisation unless an observer is set).
  Status enqueue_forward(const float* lat, const float* ctx, int64_t lt, int64_t lh, int64_t lw,
                         ForwardObserver* observer);
  Status run_graphed(const float* lat, const float* ctx, int64_t lt, int64_t lh, int64_t lw);
  // The attention call of block `layer` in the current forward.
  AttentionCall attention_call(int layer) const { return {layer, call_.step, call_.branch, timestep_}; }
  Status plan_gemm(int64_t m, int64_t n, int64_t k, GemmEpilogue epilogue);
  CublasLtGemm& gemm(int64_t m, int64_t n, int64_t k, GemmEpilogue epilogue);  // planned ones only
  // y[m, n] (ld_y) = x[m, k] (ld_x) W^T + b
  void linear(const void* x, int64_t ld_x, const Tensor& w, const Tensor& b, void* y, int64_t ld_y,
              int64_t m, GemmEpilogue epilogue = GemmEpilogue::kBias);
  void notify(ForwardObserver* observer, int block, const char* op, void* data, const Shape& shape, DType dtype);

  WanConfig config_;
  Device device_ = Device::cuda(0);
  cudaStream_t stream_ = nullptr;
  cublasLtHandle_t cublas_ = nullptr;
  std::unique_ptr<AttentionBackend> self_attention_, cross_attention_;
  std::string self_attn_range_, cross_attn_range_;  // NVTX names: "self_attn/dense"
  Tensor patch_w_, patch_b_, time1_w_, time1_b_, time2_w_, time2_b_, tproj_w_, tproj_b_;
  Tensor text1_w_, text1_b_, text2_w_, text2_b_, head_w_, head_b_, head_table_;
  std::vector<BlockWeights> blocks_;
  std::map<std::tuple<int64_t, int64_t, int64_t, int>, std::unique_ptr<CublasLtGemm>> gemms_;
  DeviceArena arena_;
  std::unique_ptr<Buffers> buffers_;
  int64_t planned_tokens_ = -1;
  int64_t planned_grid_[3] = {0, 0, 0};
  Tensor rope_cos_, rope_sin_;  // rows in the self-attention backend's token order
  TokenOrder token_order_;
  Tensor raster_of_tiled_, tiled_of_raster_;  // int32 on the device (tiled orders only)
  std::vector<std::string> layer_weight_notes_;
  ForwardCall call_;
  int64_t timestep_ = 0;
  Tensor output_;
  // Family timing: event pairs recorded during one forward, folded into family_times_.
  enum Family { kGemm = 0, kAttention = 1 };
  cudaEvent_t timing_event(size_t i);
  void begin_family(Family f);
  void end_family();
  bool family_timing_ = false;
  std::vector<cudaEvent_t> event_pool_;
  std::vector<std::pair<Family, size_t>> open_intervals_;  // (family, start event index)
  size_t events_used_ = 0;
  FamilyTimes family_times_;
  // Inputs, grid and the attention backends' graph variant of this call (step/branch).
  using GraphKey = std::tuple<const float*, const float*, int64_t, int64_t, int64_t, uint64_t>;
  uint64_t graph_variant() const;
  bool use_graphs_ = true;
  std::map<GraphKey, cudaGraphExec_t> graphs_;
  std::set<GraphKey> seen_graph_keys_;
  uint16_t* pinned_emb_ = nullptr;  // [freq_dim] page-locked host staging
};

}  // namespace wan
