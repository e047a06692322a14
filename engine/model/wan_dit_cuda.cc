#include "engine/model/wan_dit_cuda.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/core/nvtx.h"
#include "kernels/common/cuda_check.h"
#include "kernels/common/float16.h"
#include "kernels/common/portable_math.h"
#include "kernels/cpu/rope.h"
#include "kernels/dit/dit_elementwise.h"
#include "kernels/norm/dit_norms.h"

namespace wan {

namespace {
constexpr size_t kGemmWorkspaceBytes = 32u << 20;

// A tensor as bf16 values (bf16 kept as is, wherever it lives; f32/f16 rounded on the host).
Result<Tensor> to_bf16(const Tensor& t) {
  if (t.dtype() == DType::kBF16) return t;
  WAN_ASSIGN_OR_RETURN(Tensor c, t.to(Device::cpu()));
  WAN_ASSIGN_OR_RETURN(Tensor out, Tensor::empty(c.shape(), DType::kBF16));
  for (int64_t i = 0; i < c.numel(); ++i) {
    const float v = c.dtype() == DType::kF32 ? c.data<float>()[i] : c.data<Float16>()[i].to_float();
    out.data<BFloat16>()[i] = BFloat16(v);
  }
  return out;
}

// Concatenates bf16 tensors (host or device) along dim 0 into a new tensor on `device`.
Result<Tensor> concat0(const std::vector<Tensor>& parts, Device device) {
  Shape shape = parts[0].shape();
  int64_t rows = 0;
  for (const Tensor& p : parts) rows += p.size(0);
  shape[0] = rows;
  WAN_ASSIGN_OR_RETURN(Tensor out, Tensor::empty(shape, DType::kBF16, device));
  int64_t row = 0;
  for (const Tensor& p : parts) {
    WAN_ASSIGN_OR_RETURN(Tensor dst, out.slice(0, row, row + p.size(0)));
    WAN_RETURN_IF_ERROR(dst.copy_from(p));
    row += p.size(0);
  }
  return out;
}

uint16_t* u16(const Tensor& t) { return static_cast<uint16_t*>(t.raw_data()); }
}  // namespace

// Activation buffers, in the arena (bf16 unless noted).
struct WanDitCuda::Buffers {
  float* latents_in = nullptr;  // f32 [16, T, H, W] when the caller passes host latents
  float* context_in = nullptr;  // f32 [text_len, text_dim] staging
  uint16_t* context_bf16 = nullptr;  // [text_len, text_dim]
  uint16_t* patches = nullptr;  // [L, 64]
  uint16_t* x = nullptr;        // [L, dim] residual stream
  uint16_t* h = nullptr;        // [L, dim]
  uint16_t* n = nullptr;        // [L, dim] normalised input of the next linear
  uint16_t* qkv = nullptr;      // [L, 3 dim]
  uint16_t* attn = nullptr;     // [L, dim]
  uint16_t* proj = nullptr;     // [L, dim] attention or FFN output projection
  uint16_t* cq = nullptr;       // [L, dim] cross-attention queries
  uint16_t* ffn = nullptr;      // [L, ffn_dim]
  uint16_t* head = nullptr;     // [L, 64]
  uint16_t* ckv = nullptr;      // [text_len, 2 dim]
  uint16_t* gate = nullptr;     // [L, dim] self-attention gate (backends with a gate weight)
  uint16_t* ctx_hidden = nullptr;  // [text_len, dim]
  uint16_t* ctx = nullptr;      // [text_len, dim]
  uint16_t* emb = nullptr;      // [freq_dim]
  uint16_t* t_hidden = nullptr;  // [dim]
  uint16_t* temb = nullptr;     // [dim]
  uint16_t* temb_act = nullptr;  // [dim]
  uint16_t* tproj = nullptr;    // [6 dim]
  float* e = nullptr;           // f32 [6 dim]
  float* head_mod = nullptr;    // f32 [2 dim]
  float* out = nullptr;         // f32 [16, T, H, W]
  void* workspace = nullptr;    // cuBLASLt
  void* self_attn_ws = nullptr;   // the self-attention backend's workspace
  void* cross_attn_ws = nullptr;  // the cross-attention backend's workspace
};

WanDitCuda::~WanDitCuda() {
  for (auto& [key, exec] : graphs_) cudaGraphExecDestroy(exec);
  if (pinned_emb_) cudaFreeHost(pinned_emb_);
  for (cudaEvent_t e : event_pool_) cudaEventDestroy(e);
  if (cublas_) cublasLtDestroy(cublas_);
  if (stream_) cudaStreamDestroy(stream_);
}

Result<std::unique_ptr<WanDitCuda>> WanDitCuda::create(const WanWeights& weights, Device device,
                                                       const AttentionConfig& self_attention) {
  WAN_RETURN_IF_ERROR(weights.config().validate());
  std::unique_ptr<WanDitCuda> m(new WanDitCuda());
  m->config_ = weights.config();
  m->device_ = device;
  WAN_ASSIGN_OR_RETURN(Tensor probe, Tensor::empty({1}, DType::kU8, device));  // clear no-GPU error
  (void)probe;
  WAN_CUDA_CHECK(cudaSetDevice(device.index));
  WAN_CUDA_CHECK(cudaStreamCreateWithFlags(&m->stream_, cudaStreamNonBlocking));
  WAN_CUBLAS_CHECK(cublasLtCreate(&m->cublas_));
  WAN_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&m->pinned_emb_), m->config_.freq_dim * sizeof(uint16_t)));
  WAN_ASSIGN_OR_RETURN(m->self_attention_, make_attention_backend(self_attention, device));
  WAN_ASSIGN_OR_RETURN(AttentionConfig dense, parse_attention_config("dense"));
  WAN_ASSIGN_OR_RETURN(m->cross_attention_, make_attention_backend(dense, device));
  m->self_attn_range_ = "self_attn/" + std::string(m->self_attention_->name());
  m->cross_attn_range_ = "cross_attn/" + std::string(m->cross_attention_->name());
  WAN_RETURN_IF_ERROR(m->upload(weights));
  return m;
}

Status WanDitCuda::upload(const WanWeights& w) {
  auto dev = [&](const std::string& name) -> Result<Tensor> {
    WAN_ASSIGN_OR_RETURN(Tensor t, w.get(name));
    WAN_ASSIGN_OR_RETURN(Tensor b, to_bf16(t));
    if (b.device() == device_ && b.is_contiguous()) return b;  // shares the storage
    return b.to(device_);
  };
  auto dev_cat = [&](const std::vector<std::string>& names) -> Result<Tensor> {
    std::vector<Tensor> parts;
    for (const auto& n : names) {
      WAN_ASSIGN_OR_RETURN(Tensor t, w.get(n));
      WAN_ASSIGN_OR_RETURN(Tensor b, to_bf16(t));
      parts.push_back(b);
    }
    return concat0(parts, device_);
  };
  WAN_ASSIGN_OR_RETURN(patch_w_, dev("patch_embedding.weight"));
  WAN_ASSIGN_OR_RETURN(patch_b_, dev("patch_embedding.bias"));
  WAN_ASSIGN_OR_RETURN(time1_w_, dev("condition_embedder.time_embedder.linear_1.weight"));
  WAN_ASSIGN_OR_RETURN(time1_b_, dev("condition_embedder.time_embedder.linear_1.bias"));
  WAN_ASSIGN_OR_RETURN(time2_w_, dev("condition_embedder.time_embedder.linear_2.weight"));
  WAN_ASSIGN_OR_RETURN(time2_b_, dev("condition_embedder.time_embedder.linear_2.bias"));
  WAN_ASSIGN_OR_RETURN(tproj_w_, dev("condition_embedder.time_proj.weight"));
  WAN_ASSIGN_OR_RETURN(tproj_b_, dev("condition_embedder.time_proj.bias"));
  WAN_ASSIGN_OR_RETURN(text1_w_, dev("condition_embedder.text_embedder.linear_1.weight"));
  WAN_ASSIGN_OR_RETURN(text1_b_, dev("condition_embedder.text_embedder.linear_1.bias"));
  WAN_ASSIGN_OR_RETURN(text2_w_, dev("condition_embedder.text_embedder.linear_2.weight"));
  WAN_ASSIGN_OR_RETURN(text2_b_, dev("condition_embedder.text_embedder.linear_2.bias"));
  WAN_ASSIGN_OR_RETURN(head_w_, dev("proj_out.weight"));
  WAN_ASSIGN_OR_RETURN(head_b_, dev("proj_out.bias"));
  WAN_ASSIGN_OR_RETURN(head_table_, dev("scale_shift_table"));
  for (int64_t i = 0; i < config_.layers; ++i) {
    const std::string p = "blocks." + std::to_string(i) + ".";
    BlockWeights b;
    WAN_ASSIGN_OR_RETURN(b.w_qkv, dev_cat({p + "attn1.to_q.weight", p + "attn1.to_k.weight", p + "attn1.to_v.weight"}));
    WAN_ASSIGN_OR_RETURN(b.b_qkv, dev_cat({p + "attn1.to_q.bias", p + "attn1.to_k.bias", p + "attn1.to_v.bias"}));
    WAN_ASSIGN_OR_RETURN(b.w_o, dev(p + "attn1.to_out.0.weight"));
    WAN_ASSIGN_OR_RETURN(b.b_o, dev(p + "attn1.to_out.0.bias"));
    WAN_ASSIGN_OR_RETURN(b.norm_q, dev(p + "attn1.norm_q.weight"));
    WAN_ASSIGN_OR_RETURN(b.norm_k, dev(p + "attn1.norm_k.weight"));
    WAN_ASSIGN_OR_RETURN(b.w_cq, dev(p + "attn2.to_q.weight"));
    WAN_ASSIGN_OR_RETURN(b.b_cq, dev(p + "attn2.to_q.bias"));
    WAN_ASSIGN_OR_RETURN(b.w_ckv, dev_cat({p + "attn2.to_k.weight", p + "attn2.to_v.weight"}));
    WAN_ASSIGN_OR_RETURN(b.b_ckv, dev_cat({p + "attn2.to_k.bias", p + "attn2.to_v.bias"}));
    WAN_ASSIGN_OR_RETURN(b.w_co, dev(p + "attn2.to_out.0.weight"));
    WAN_ASSIGN_OR_RETURN(b.b_co, dev(p + "attn2.to_out.0.bias"));
    WAN_ASSIGN_OR_RETURN(b.norm_cq, dev(p + "attn2.norm_q.weight"));
    WAN_ASSIGN_OR_RETURN(b.norm_ck, dev(p + "attn2.norm_k.weight"));
    WAN_ASSIGN_OR_RETURN(b.norm2_w, dev(p + "norm2.weight"));
    WAN_ASSIGN_OR_RETURN(b.norm2_b, dev(p + "norm2.bias"));
    WAN_ASSIGN_OR_RETURN(b.w_up, dev(p + "ffn.net.0.proj.weight"));
    WAN_ASSIGN_OR_RETURN(b.b_up, dev(p + "ffn.net.0.proj.bias"));
    WAN_ASSIGN_OR_RETURN(b.w_down, dev(p + "ffn.net.2.weight"));
    WAN_ASSIGN_OR_RETURN(b.b_down, dev(p + "ffn.net.2.bias"));
    WAN_ASSIGN_OR_RETURN(b.scale_shift, dev(p + "scale_shift_table"));
    blocks_.push_back(std::move(b));
  }
  // Per-layer weights the self-attention backend reads (absent: zero, i.e. no term).
  for (const LayerWeightSpec& spec : self_attention_->layer_weights()) {
    const std::vector<int64_t> blocks = w.blocks_with(spec.name);
    for (int64_t i : blocks) {
      const std::string name = "blocks." + std::to_string(i) + "." + spec.name;
      // Input projections run as the model's own GEMM (the gate); head_dim linears go to the backend.
      if (spec.kind != LayerWeightKind::kInputProjection && spec.kind != LayerWeightKind::kHeadDimLinear)
        return unimplemented("the CUDA model does not know the kind of layer weight '" + spec.name + "'");
      const bool input_projection = spec.kind == LayerWeightKind::kInputProjection;
      Tensor& weight = input_projection ? blocks_[i].w_gate : blocks_[i].w_head_linear;
      Tensor& bias = input_projection ? blocks_[i].b_gate : blocks_[i].b_head_linear;
      WAN_ASSIGN_OR_RETURN(weight, dev(name + ".weight"));
      WAN_ASSIGN_OR_RETURN(bias, dev(name + ".bias"));
    }
    layer_weight_notes_.push_back(
        layer_weight_note(spec, static_cast<int64_t>(blocks.size()), config_.layers, w.source()));
  }
  return Status();
}

std::string WanDitCuda::describe() const {
  return device_.to_string() + " bf16, self-attention " + std::string(self_attention_->name());
}

std::vector<std::string> WanDitCuda::kernel_choices() const {
  std::vector<std::string> out = {"self-attention: " + self_attention_->implementation(),
                                  "cross-attention: " + cross_attention_->implementation()};
  for (const std::string& n : layer_weight_notes_) out.push_back("self-attention weights: " + n);
  for (const std::string& g : gemm_algorithms()) out.push_back("gemm " + g);
  return out;
}

std::vector<std::string> WanDitCuda::gemm_algorithms() const {
  std::vector<std::string> out;
  for (const auto& [key, g] : gemms_) {
    out.push_back("m=" + std::to_string(std::get<0>(key)) + " n=" + std::to_string(std::get<1>(key)) +
                  " k=" + std::to_string(std::get<2>(key)) + ": " + g->algorithm_description());
  }
  return out;
}

Status WanDitCuda::plan_gemm(int64_t m, int64_t n, int64_t k, GemmEpilogue epilogue) {
  const auto key = std::make_tuple(m, n, k, static_cast<int>(epilogue));
  if (gemms_.count(key)) return Status();
  auto g = std::make_unique<CublasLtGemm>();
  const std::string err = g->plan(cublas_, {m, n, k, epilogue}, kGemmWorkspaceBytes);
  if (!err.empty()) {
    return unimplemented(err + " on " + device_.to_string() + "; this cuBLASLt/GPU combination cannot run model config '" +
                         config_.name + "' at this size");
  }
  gemms_.emplace(key, std::move(g));
  return Status();
}

CublasLtGemm& WanDitCuda::gemm(int64_t m, int64_t n, int64_t k, GemmEpilogue epilogue) {
  const auto it = gemms_.find(std::make_tuple(m, n, k, static_cast<int>(epilogue)));
  if (it == gemms_.end()) {
    std::fprintf(stderr, "WanDitCuda: GEMM m=%lld n=%lld k=%lld was not planned in plan_shape (a bug)\n",
                 static_cast<long long>(m), static_cast<long long>(n), static_cast<long long>(k));
    std::abort();
  }
  return *it->second;
}

void WanDitCuda::linear(const void* x, int64_t ld_x, const Tensor& w, const Tensor& b, void* y, int64_t ld_y,
                        int64_t m, GemmEpilogue epilogue) {
  const int64_t n = w.size(0), k = w.numel() / n;
  CublasLtGemm& g = gemm(m, n, k, epilogue);
  begin_family(kGemm);
  g.run(x, ld_x, w.raw_data(), b.raw_data(), y, ld_y, buffers_->workspace, stream_);
  end_family();
}

cudaEvent_t WanDitCuda::timing_event(size_t i) {
  while (event_pool_.size() <= i) {
    cudaEvent_t e;
    WAN_CUDA_CHECK(cudaEventCreate(&e));
    event_pool_.push_back(e);
  }
  return event_pool_[i];
}

// Intervals are recorded as (start, end) event pairs; pairs never nest.
void WanDitCuda::begin_family(Family f) {
  if (!family_timing_) return;
  const size_t start = events_used_++;
  WAN_CUDA_CHECK(cudaEventRecord(timing_event(start), stream_));
  open_intervals_.emplace_back(f, start);
}

void WanDitCuda::end_family() {
  if (!family_timing_) return;
  WAN_CUDA_CHECK(cudaEventRecord(timing_event(events_used_++), stream_));
}

void WanDitCuda::notify(ForwardObserver* observer, int block, const char* op, void* data, const Shape& shape,
                        DType dtype) {
  if (!observer) return;
  WAN_CUDA_CHECK(cudaStreamSynchronize(stream_));
  Tensor view = Tensor::wrap(data, shape, dtype, device_);
  observer->on_op(block, op, view);
}

Status WanDitCuda::plan_shape(int64_t frames, int64_t height, int64_t width) {
  const WanConfig& c = config_;
  const int64_t L = frames * (height / 2) * (width / 2);
  if (L == planned_tokens_ && planned_grid_[0] == frames && planned_grid_[1] == height && planned_grid_[2] == width)
    return Status();
  const int64_t dim = c.dim, latents = c.in_channels * frames * height * width;
  const AttentionShape self_shape{1, c.heads, c.head_dim, L, L, frames, height / 2, width / 2, device_,
                                  AttentionPrecision::kBf16, c.layers};
  AttentionShape cross_shape = self_shape;
  cross_shape.kv_tokens = c.text_len;
  cross_shape.frames = cross_shape.height = cross_shape.width = 0;
  WAN_RETURN_IF_ERROR(self_attention_->can_implement(self_shape));
  WAN_RETURN_IF_ERROR(cross_attention_->can_implement(cross_shape));
  const std::vector<size_t> sizes = {
      static_cast<size_t>(latents) * 4,                   // latents_in
      static_cast<size_t>(c.text_len * c.text_dim) * 4,   // context_in
      static_cast<size_t>(c.text_len * c.text_dim) * 2,   // context_bf16
      static_cast<size_t>(L * c.patch_values()) * 2,      // patches
      static_cast<size_t>(L * dim) * 2,                   // x
      static_cast<size_t>(L * dim) * 2,                   // h
      static_cast<size_t>(L * dim) * 2,                   // n
      static_cast<size_t>(L * 3 * dim) * 2,               // qkv
      static_cast<size_t>(L * dim) * 2,                   // attn
      static_cast<size_t>(L * dim) * 2,                   // proj
      static_cast<size_t>(L * dim) * 2,                   // cq
      static_cast<size_t>(L * c.ffn_dim) * 2,             // ffn
      static_cast<size_t>(L * c.out_patch_values()) * 2,  // head
      static_cast<size_t>(c.text_len * 2 * dim) * 2,      // ckv
      static_cast<size_t>(L * dim) * 2,                   // gate
      static_cast<size_t>(c.text_len * dim) * 2,          // ctx_hidden
      static_cast<size_t>(c.text_len * dim) * 2,          // ctx
      static_cast<size_t>(c.freq_dim) * 2,                // emb
      static_cast<size_t>(dim) * 2,                       // t_hidden
      static_cast<size_t>(dim) * 2,                       // temb
      static_cast<size_t>(dim) * 2,                       // temb_act
      static_cast<size_t>(6 * dim) * 2,                   // tproj
      static_cast<size_t>(6 * dim) * 4,                   // e
      static_cast<size_t>(2 * dim) * 4,                   // head_mod
      static_cast<size_t>(c.out_channels * frames * height * width) * 4,  // out
      kGemmWorkspaceBytes,
      std::max<size_t>(self_attention_->workspace_bytes(self_shape), 256),
      std::max<size_t>(cross_attention_->workspace_bytes(cross_shape), 256),
  };
  for (auto& [key, exec] : graphs_) cudaGraphExecDestroy(exec);  // they point at old buffers
  graphs_.clear();
  seen_graph_keys_.clear();
  WAN_RETURN_IF_ERROR(arena_.plan(sizes, device_));
  buffers_ = std::make_unique<Buffers>();
  Buffers& b = *buffers_;
  size_t i = 0;
  b.latents_in = static_cast<float*>(arena_.buffer(i++));
  b.context_in = static_cast<float*>(arena_.buffer(i++));
  b.context_bf16 = static_cast<uint16_t*>(arena_.buffer(i++));
  for (uint16_t** p : {&b.patches, &b.x, &b.h, &b.n, &b.qkv, &b.attn, &b.proj, &b.cq, &b.ffn, &b.head, &b.ckv,
                       &b.gate, &b.ctx_hidden, &b.ctx, &b.emb, &b.t_hidden, &b.temb, &b.temb_act, &b.tproj})
    *p = static_cast<uint16_t*>(arena_.buffer(i++));
  b.e = static_cast<float*>(arena_.buffer(i++));
  b.head_mod = static_cast<float*>(arena_.buffer(i++));
  b.out = static_cast<float*>(arena_.buffer(i++));
  b.workspace = arena_.buffer(i++);
  b.self_attn_ws = arena_.buffer(i++);
  b.cross_attn_ws = arena_.buffer(i++);

  // RoPE tables: computed on the host exactly as the CPU path does, rows in the backend's token
  // order, uploaded once per shape (with the permutation for tile-ordered backends).
  token_order_ = self_attention_->token_order(self_shape);
  cpu::RopeTable rope = cpu::make_rope_table(frames, height / 2, width / 2, c.head_dim);
  if (token_order_.tiled) {
    const TileLayout& l = token_order_.layout;
    rope = cpu::reorder_rope_rows(rope, l.raster_of_tiled);
    Tensor r = Tensor::wrap(const_cast<int32_t*>(l.raster_of_tiled.data()), {L}, DType::kI32, Device::cpu());
    Tensor t = Tensor::wrap(const_cast<int32_t*>(l.tiled_of_raster.data()), {L}, DType::kI32, Device::cpu());
    WAN_ASSIGN_OR_RETURN(raster_of_tiled_, r.to(device_));
    WAN_ASSIGN_OR_RETURN(tiled_of_raster_, t.to(device_));
  }
  Tensor cos_host = Tensor::wrap(const_cast<float*>(rope.cos.data()), {L, c.head_dim / 2}, DType::kF32, Device::cpu());
  Tensor sin_host = Tensor::wrap(const_cast<float*>(rope.sin.data()), {L, c.head_dim / 2}, DType::kF32, Device::cpu());
  WAN_ASSIGN_OR_RETURN(rope_cos_, cos_host.to(device_));
  WAN_ASSIGN_OR_RETURN(rope_sin_, sin_host.to(device_));

  WAN_RETURN_IF_ERROR(self_attention_->plan(
      self_shape, {b.self_attn_ws, self_attention_->workspace_bytes(self_shape)}, stream_));
  WAN_RETURN_IF_ERROR(cross_attention_->plan(
      cross_shape, {b.cross_attn_ws, cross_attention_->workspace_bytes(cross_shape)}, stream_));
  // Every GEMM of the forward, planned now so an unsupported shape is a Status, not a crash.
  const int64_t d = c.dim, tl = c.text_len;
  const struct { int64_t m, n, k; GemmEpilogue e; } gemm_shapes[] = {
      {L, d, c.patch_values(), GemmEpilogue::kBias},   {1, d, c.freq_dim, GemmEpilogue::kBias},
      {1, d, d, GemmEpilogue::kBias},                  {1, 6 * d, d, GemmEpilogue::kBias},
      {tl, d, c.text_dim, GemmEpilogue::kBiasGeluTanh}, {tl, d, d, GemmEpilogue::kBias},
      {L, 3 * d, d, GemmEpilogue::kBias},              {L, d, d, GemmEpilogue::kBias},
      {tl, 2 * d, d, GemmEpilogue::kBias},             {L, c.ffn_dim, d, GemmEpilogue::kBiasGeluTanh},
      {L, d, c.ffn_dim, GemmEpilogue::kBias},          {L, c.out_patch_values(), d, GemmEpilogue::kBias},
  };
  for (const auto& g : gemm_shapes) WAN_RETURN_IF_ERROR(plan_gemm(g.m, g.n, g.k, g.e));
  planned_tokens_ = L;
  planned_grid_[0] = frames;
  planned_grid_[1] = height;
  planned_grid_[2] = width;
  return Status();
}

Status WanDitCuda::enqueue_forward(const float* lat, const float* ctx_f32, int64_t lt, int64_t lh, int64_t lw,
                                   ForwardObserver* observer) {
  const WanConfig& c = config_;
  Buffers& b = *buffers_;
  const int64_t L = lt * (lh / 2) * (lw / 2), dim = c.dim, ffn = c.ffn_dim, tl = c.text_len;
  const float eps = c.eps;
  // 2. Patch embedding.
  {  // NVTX range for per-op kernel attribution
    ScopedRange op_range("patch_embed");
    launch_patchify(lat, b.patches, c.in_channels, lt, lh, lw, stream_);
    linear(b.patches, c.patch_values(), patch_w_, patch_b_, token_order_.tiled ? b.h : b.x, dim, L);
  }
  notify(observer, -1, "patch_embed", token_order_.tiled ? b.h : b.x, {L, dim}, DType::kBF16);
  if (token_order_.tiled) {  // tokens into the self-attention backend's tile order, once
    ScopedRange op_range("tile_tokens");
    launch_gather_rows_bf16(b.h, b.x, raster_of_tiled_.data<int32_t>(), L, dim, stream_);
  }

  // 3. Condition embedder (the sinusoid was uploaded with the inputs).
  {  // NVTX range for per-op kernel attribution
    ScopedRange op_range("time_embed");
    linear(b.emb, c.freq_dim, time1_w_, time1_b_, b.t_hidden, dim, 1);
    launch_silu_bf16(b.t_hidden, b.t_hidden, dim, stream_);
    linear(b.t_hidden, dim, time2_w_, time2_b_, b.temb, dim, 1);
    notify(observer, -1, "time_embed", b.temb, {1, dim}, DType::kBF16);
    launch_silu_bf16(b.temb, b.temb_act, dim, stream_);
    linear(b.temb_act, dim, tproj_w_, tproj_b_, b.tproj, 6 * dim, 1);
  }
  notify(observer, -1, "time_proj", b.tproj, {6, dim}, DType::kBF16);
  {  // NVTX range for per-op kernel attribution
    ScopedRange op_range("text_embed");
    launch_f32_to_bf16(ctx_f32, b.context_bf16, tl * c.text_dim, stream_);
    linear(b.context_bf16, c.text_dim, text1_w_, text1_b_, b.ctx_hidden, dim, tl, GemmEpilogue::kBiasGeluTanh);
    linear(b.ctx_hidden, dim, text2_w_, text2_b_, b.ctx, dim, tl);
  }
  notify(observer, -1, "text_embed", b.ctx, {tl, dim}, DType::kBF16);

  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(c.head_dim)));
  const Shape qkv_strides = {L * 3 * dim, 3 * dim, c.head_dim, 1};
  const Shape q_shape = {1, L, c.heads, c.head_dim};
  Tensor q_view = Tensor::wrap(b.qkv, q_shape, DType::kBF16, device_, qkv_strides);
  Tensor k_view = Tensor::wrap(b.qkv + dim, q_shape, DType::kBF16, device_, qkv_strides);
  Tensor v_view = Tensor::wrap(b.qkv + 2 * dim, q_shape, DType::kBF16, device_, qkv_strides);
  Tensor attn_view = Tensor::wrap(b.attn, q_shape, DType::kBF16, device_);
  Tensor cq_view = Tensor::wrap(b.cq, q_shape, DType::kBF16, device_);
  const Shape kv_shape = {1, tl, c.heads, c.head_dim}, kv_strides = {tl * 2 * dim, 2 * dim, c.head_dim, 1};
  Tensor ck_view = Tensor::wrap(b.ckv, kv_shape, DType::kBF16, device_, kv_strides);
  Tensor cv_view = Tensor::wrap(b.ckv + dim, kv_shape, DType::kBF16, device_, kv_strides);
  Tensor gate_view = Tensor::wrap(b.gate, q_shape, DType::kBF16, device_);
  AttentionArgs self_args{&q_view, &k_view, &v_view, &attn_view, scale};
  AttentionArgs cross_args{&cq_view, &ck_view, &cv_view, &attn_view, scale};

  for (int64_t bi = 0; bi < c.layers; ++bi) {
    const BlockWeights& w = blocks_[bi];
    const int blk = static_cast<int>(bi);
    const std::string block_name = "block/" + std::to_string(bi);
    ScopedRange block_range(block_name.c_str());
    {  // NVTX range for per-op kernel attribution
      ScopedRange op_range("modulation");
      launch_add_bf16_to_f32(u16(w.scale_shift), b.tproj, b.e, 6 * dim, stream_);
    }
    const float *shift = b.e, *scl = b.e + dim, *gate = b.e + 2 * dim, *c_shift = b.e + 3 * dim,
                *c_scale = b.e + 4 * dim, *c_gate = b.e + 5 * dim;
    // a. n1 = LN(x) * (1 + scale) + shift
    {  // NVTX range for per-op kernel attribution
      ScopedRange op_range("norm1");
      launch_layer_norm_modulate(b.x, shift, scl, b.n, L, dim, eps, stream_);
    }
    notify(observer, blk, "norm1", b.n, {L, dim}, DType::kBF16);
    // b, c. fused QKV projection, qk RMSNorm + RoPE in place, attention, output projection
    {  // NVTX range for per-op kernel attribution
      ScopedRange op_range("qkv_norm_rope");
      linear(b.n, dim, w.w_qkv, w.b_qkv, b.qkv, 3 * dim, L);
      launch_qk_norm_rope_pair(b.qkv, b.qkv + dim, 3 * dim, u16(w.norm_q), u16(w.norm_k), rope_cos_.data<float>(),
                               rope_sin_.data<float>(), L, dim, c.head_dim, eps, stream_);
    }
    notify(observer, blk, "self_qkv_norm_rope", b.qkv, {L, 3 * dim}, DType::kBF16);
    self_args.gate = nullptr;
    if (w.w_gate.defined()) {
      ScopedRange op_range("self_gate");
      linear(b.n, dim, w.w_gate, w.b_gate, b.gate, dim, L);
      notify(observer, blk, "self_gate", b.gate, {L, dim}, DType::kBF16);
      self_args.gate = &gate_view;
    }
    self_args.layer_param = w.w_head_linear.defined() ? &w.w_head_linear : nullptr;
    self_args.layer_param_bias = w.b_head_linear.defined() ? &w.b_head_linear : nullptr;
    self_args.call = cross_args.call = attention_call(blk);
    {
      ScopedRange range(self_attn_range_.c_str());
      begin_family(kAttention);
      WAN_RETURN_IF_ERROR(self_attention_->run(self_args, stream_));
      end_family();
    }
    notify(observer, blk, "self_attn", b.attn, {L, dim}, DType::kBF16);
    {  // NVTX range for per-op kernel attribution
      ScopedRange op_range("self_out");
      linear(b.attn, dim, w.w_o, w.b_o, b.proj, dim, L);
    }
    notify(observer, blk, "self_out", b.proj, {L, dim}, DType::kBF16);
    // d. h = x + attn * gate; n2 = LN_affine(h)
    {  // NVTX range for per-op kernel attribution
      ScopedRange op_range("residual_norm2");
      launch_gated_residual_layer_norm(b.x, b.proj, gate, u16(w.norm2_w), u16(w.norm2_b), b.h, b.n, L, dim, eps,
                                       stream_);
    }
    notify(observer, blk, "residual_self", b.h, {L, dim}, DType::kBF16);
    notify(observer, blk, "norm2", b.n, {L, dim}, DType::kBF16);
    // e. cross-attention
    {  // NVTX range for per-op kernel attribution
      ScopedRange op_range("cross_q_kv");
      linear(b.n, dim, w.w_cq, w.b_cq, b.cq, dim, L);
      launch_qk_norm_rope(b.cq, dim, u16(w.norm_cq), nullptr, nullptr, L, dim, c.head_dim, eps, stream_);
      linear(b.ctx, dim, w.w_ckv, w.b_ckv, b.ckv, 2 * dim, tl);
      launch_qk_norm_rope(b.ckv, 2 * dim, u16(w.norm_ck), nullptr, nullptr, tl, dim, c.head_dim, eps, stream_);
    }
    notify(observer, blk, "cross_q", b.cq, {L, dim}, DType::kBF16);
    notify(observer, blk, "cross_kv", b.ckv, {tl, 2 * dim}, DType::kBF16);
    {
      ScopedRange range(cross_attn_range_.c_str());
      begin_family(kAttention);
      WAN_RETURN_IF_ERROR(cross_attention_->run(cross_args, stream_));
      end_family();
    }
    notify(observer, blk, "cross_attn", b.attn, {L, dim}, DType::kBF16);
    {  // NVTX range for per-op kernel attribution
      ScopedRange op_range("cross_out");
      linear(b.attn, dim, w.w_co, w.b_co, b.proj, dim, L);
    }
    notify(observer, blk, "cross_out", b.proj, {L, dim}, DType::kBF16);
    // f. h = bf16(h + cross); n3 = bf16(LN(h)); modulate
    {  // NVTX range for per-op kernel attribution
      ScopedRange op_range("residual_norm3");
      launch_residual_add_layer_norm_modulate(b.h, b.proj, c_shift, c_scale, b.n, L, dim, eps, stream_);
    }
    notify(observer, blk, "residual_cross", b.h, {L, dim}, DType::kBF16);
    notify(observer, blk, "norm3", b.n, {L, dim}, DType::kBF16);
    // g. FFN with the GELU epilogue; x = h + ffn * c_gate
    {  // NVTX range for per-op kernel attribution
      ScopedRange op_range("ffn_up_gelu");
      linear(b.n, dim, w.w_up, w.b_up, b.ffn, ffn, L, GemmEpilogue::kBiasGeluTanh);
    }
    notify(observer, blk, "ffn_up_gelu", b.ffn, {L, ffn}, DType::kBF16);
    {  // NVTX range for per-op kernel attribution
      ScopedRange op_range("ffn_down");
      linear(b.ffn, ffn, w.w_down, w.b_down, b.proj, dim, L);
    }
    notify(observer, blk, "ffn_down", b.proj, {L, dim}, DType::kBF16);
    {  // NVTX range for per-op kernel attribution
      ScopedRange op_range("residual_ffn");
      launch_gated_residual(b.h, b.proj, c_gate, b.x, L, dim, stream_);
    }
    notify(observer, blk, "residual_ffn", b.x, {L, dim}, DType::kBF16);
  }

  // 5. Head.
  {  // NVTX range for per-op kernel attribution
    ScopedRange op_range("head");
    launch_head_modulation(u16(head_table_), b.temb, b.head_mod, dim, stream_);
    const uint16_t* x_raster = b.x;
    if (token_order_.tiled) {  // back to raster order before the head
      launch_gather_rows_bf16(b.x, b.h, tiled_of_raster_.data<int32_t>(), L, dim, stream_);
      x_raster = b.h;
    }
    launch_layer_norm_modulate(x_raster, b.head_mod, b.head_mod + dim, b.n, L, dim, eps, stream_);
    notify(observer, -1, "head_norm", b.n, {L, dim}, DType::kBF16);
    linear(b.n, dim, head_w_, head_b_, b.head, c.out_patch_values(), L);
  }
  notify(observer, -1, "head_out", b.head, {L, c.out_patch_values()}, DType::kBF16);
  {  // NVTX range for per-op kernel attribution
    ScopedRange op_range("unpatchify");
    launch_unpatchify(b.head, b.out, c.out_channels, lt, lh, lw, stream_);
  }
  return Status();
}

uint64_t WanDitCuda::graph_variant() const {
  uint64_t h = 1469598103934665603ull;  // FNV-1a over the per-layer variants
  for (int layer = 0; layer < static_cast<int>(config_.layers); ++layer) {
    h = (h ^ self_attention_->graph_variant(attention_call(layer))) * 1099511628211ull;
    h = (h ^ cross_attention_->graph_variant(attention_call(layer))) * 1099511628211ull;
  }
  return h;
}

Status WanDitCuda::run_graphed(const float* lat, const float* ctx_f32, int64_t lt, int64_t lh, int64_t lw) {
  const GraphKey key{lat, ctx_f32, lt, lh, lw, graph_variant()};
  auto it = graphs_.find(key);
  if (it == graphs_.end()) {
    // First forward with these inputs runs eagerly (plans GEMMs, sets kernel attributes);
    // the second one is captured.
    if (!seen_graph_keys_.count(key)) {
      seen_graph_keys_.insert(key);
      return enqueue_forward(lat, ctx_f32, lt, lh, lw, nullptr);
    }
    cudaGraph_t graph;
    WAN_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
    const Status s = enqueue_forward(lat, ctx_f32, lt, lh, lw, nullptr);
    WAN_CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
    if (!s.ok()) {
      cudaGraphDestroy(graph);
      return s;
    }
    cudaGraphExec_t exec;
    WAN_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
    WAN_CUDA_CHECK(cudaGraphDestroy(graph));
    it = graphs_.emplace(key, exec).first;
  }
  WAN_CUDA_CHECK(cudaGraphLaunch(it->second, stream_));
  return Status();
}

Result<Tensor> WanDitCuda::forward(const Tensor& latents, int64_t timestep, const Tensor& context,
                                   ForwardObserver* observer, const ForwardCall& call) {
  call_ = call;
  timestep_ = timestep;
  const WanConfig& c = config_;
  if (latents.dim() != 4 || latents.size(0) != c.in_channels || latents.dtype() != DType::kF32 ||
      !latents.is_contiguous())
    return invalid_argument("DiT forward: latents must be contiguous f32 [" + std::to_string(c.in_channels) +
                            ", T', H/8, W/8], got " + latents.describe());
  if (context.shape() != Shape{c.text_len, c.text_dim} || context.dtype() != DType::kF32 || !context.is_contiguous())
    return invalid_argument("DiT forward: context must be f32 [" + std::to_string(c.text_len) + ", " +
                            std::to_string(c.text_dim) + "] (model config " + c.name + "), got " + context.describe());
  if (timestep < 0 || timestep > 1000)
    return invalid_argument("DiT forward: timestep " + std::to_string(timestep) + " outside [0, 1000]");
  const int64_t lt = latents.size(1), lh = latents.size(2), lw = latents.size(3);
  if (lh % 2 || lw % 2)
    return invalid_argument("DiT forward: latent height and width must be even, got " + std::to_string(lh) + "x" +
                            std::to_string(lw));
  WAN_CUDA_CHECK(cudaSetDevice(device_.index));
  WAN_RETURN_IF_ERROR(plan_shape(lt, lh, lw));
  Buffers& b = *buffers_;
  open_intervals_.clear();
  events_used_ = 0;
  if (family_timing_) {
    WAN_CUDA_CHECK(cudaEventRecord(timing_event(events_used_++), stream_));  // forward start
  }
  ScopedRange forward_range("dit_forward");

  // Inputs into the arena's own buffers (a few MB, microseconds on the device): the forward,
  // and so its CUDA graph, always reads the same addresses, whatever the caller passes.
  WAN_CUDA_CHECK(cudaMemcpyAsync(b.latents_in, latents.data<float>(), latents.nbytes(), cudaMemcpyDefault, stream_));
  WAN_CUDA_CHECK(cudaMemcpyAsync(b.context_in, context.data<float>(), context.nbytes(), cudaMemcpyDefault, stream_));
  if (latents.device().is_cpu() || context.device().is_cpu()) WAN_CUDA_CHECK(cudaStreamSynchronize(stream_));
  const float* lat = b.latents_in;
  const float* ctx_f32 = b.context_in;

  // The timestep sinusoid on the host (same bits as the CPU path), through pinned memory so
  // the copy is an ordinary stream operation ahead of the (possibly graphed) forward.
  {
    const int64_t half = c.freq_dim / 2;
    const double log_10000 = portable::log(10000.0);
    for (int64_t i = 0; i < half; ++i) {
      const float exponent = static_cast<float>(-log_10000) * static_cast<float>(i) / static_cast<float>(half);
      const float freq = static_cast<float>(portable::exp(exponent));
      double s, co;
      portable::sincos(static_cast<float>(timestep) * freq, &s, &co);
      pinned_emb_[i] = f32_to_bf16_bits(static_cast<float>(co));
      pinned_emb_[half + i] = f32_to_bf16_bits(static_cast<float>(s));
    }
    WAN_CUDA_CHECK(cudaMemcpyAsync(b.emb, pinned_emb_, c.freq_dim * 2, cudaMemcpyHostToDevice, stream_));
  }
  // Graphs only for the plain path: no observer (it synchronises per op), no family timing
  // (events). Inputs live in the arena, so one graph per shape serves every call.
  const bool graphable = use_graphs_ && !observer && !family_timing_;
  if (graphable) {
    WAN_RETURN_IF_ERROR(run_graphed(lat, ctx_f32, lt, lh, lw));
  } else {
    WAN_RETURN_IF_ERROR(enqueue_forward(lat, ctx_f32, lt, lh, lw, observer));
  }
  if (family_timing_) {
    const size_t end = events_used_++;
    WAN_CUDA_CHECK(cudaEventRecord(timing_event(end), stream_));
    WAN_CUDA_CHECK(cudaStreamSynchronize(stream_));
    float ms = 0;
    WAN_CUDA_CHECK(cudaEventElapsedTime(&ms, event_pool_[0], event_pool_[end]));
    family_times_.total_ms += ms;
    for (const auto& [family, start] : open_intervals_) {
      WAN_CUDA_CHECK(cudaEventElapsedTime(&ms, event_pool_[start], event_pool_[start + 1]));
      (family == kGemm ? family_times_.gemm_ms : family_times_.attention_ms) += ms;
    }
    ++family_times_.forwards;
  }
  WAN_CUDA_CHECK(cudaStreamSynchronize(stream_));
  return Tensor::wrap(b.out, {c.out_channels, lt, lh, lw}, DType::kF32, device_);
}

}  // namespace wan
