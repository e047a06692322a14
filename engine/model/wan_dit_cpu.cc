#include "engine/model/wan_dit_cpu.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "engine/attention/dense_cpu.h"
#include "engine/core/nvtx.h"
#include "engine/parallel/ulysses.h"
#include "kernels/common/float16.h"
#include "kernels/common/portable_math.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/linear.h"
#include "kernels/cpu/parallel.h"

namespace wan {

std::string_view precision_name(Precision p) { return p == Precision::kBf16 ? "bf16" : "fp32"; }

Result<Precision> parse_precision(std::string_view name) {
  if (name == "bf16") return Precision::kBf16;
  if (name == "fp32") return Precision::kFp32;
  return invalid_argument("unknown precision '" + std::string(name) +
                          "'; use bf16 (GPU rounding points) or fp32 (cross-checks)");
}

std::string WanDitCpu::describe() const {
  return "cpu " + std::string(precision_name(precision_)) + ", self-attention " +
         std::string(self_attention_->name());
}

Result<std::vector<float>> WanDitCpu::vec(const WanWeights& w, const std::string& name) {
  WAN_ASSIGN_OR_RETURN(std::vector<float> v, w.get_f32(name));
  round(v.data(), static_cast<int64_t>(v.size()));
  return v;
}

Result<WanDitCpu::Linear> WanDitCpu::pack(const WanWeights& w, const std::string& prefix) {
  WAN_ASSIGN_OR_RETURN(Tensor weight, w.get(prefix + ".weight"));
  WAN_ASSIGN_OR_RETURN(std::vector<float> wv, vec(w, prefix + ".weight"));
  Linear l;
  l.out = weight.size(0);
  l.in = weight.numel() / l.out;  // conv weights [out, c, kt, kh, kw] flatten to [out, in]
  l.w_t = cpu::pack_linear_weight(wv.data(), l.out, l.in);
  WAN_ASSIGN_OR_RETURN(l.bias, vec(w, prefix + ".bias"));
  return l;
}

Result<std::unique_ptr<WanDitCpu>> WanDitCpu::create(const WanWeights& weights, Precision precision,
                                                     std::unique_ptr<AttentionBackend> self_attention) {
  std::unique_ptr<WanDitCpu> m(new WanDitCpu());
  m->config_ = weights.config();
  m->precision_ = precision;
  const WanConfig& c = m->config_;
  WAN_ASSIGN_OR_RETURN(m->patch_embed_, m->pack(weights, "patch_embedding"));
  WAN_ASSIGN_OR_RETURN(m->time_1_, m->pack(weights, "condition_embedder.time_embedder.linear_1"));
  WAN_ASSIGN_OR_RETURN(m->time_2_, m->pack(weights, "condition_embedder.time_embedder.linear_2"));
  WAN_ASSIGN_OR_RETURN(m->time_proj_, m->pack(weights, "condition_embedder.time_proj"));
  WAN_ASSIGN_OR_RETURN(m->text_1_, m->pack(weights, "condition_embedder.text_embedder.linear_1"));
  WAN_ASSIGN_OR_RETURN(m->text_2_, m->pack(weights, "condition_embedder.text_embedder.linear_2"));
  WAN_ASSIGN_OR_RETURN(m->proj_out_, m->pack(weights, "proj_out"));
  WAN_ASSIGN_OR_RETURN(m->head_scale_shift_, m->vec(weights, "scale_shift_table"));
  for (int64_t i = 0; i < c.layers; ++i) {
    const std::string b = "blocks." + std::to_string(i) + ".";
    Block blk;
    for (auto [attn, name] : {std::pair<Attention*, const char*>{&blk.self_attn, "attn1"},
                              {&blk.cross_attn, "attn2"}}) {
      const std::string a = b + name;
      WAN_ASSIGN_OR_RETURN(attn->q, m->pack(weights, a + ".to_q"));
      WAN_ASSIGN_OR_RETURN(attn->k, m->pack(weights, a + ".to_k"));
      WAN_ASSIGN_OR_RETURN(attn->v, m->pack(weights, a + ".to_v"));
      WAN_ASSIGN_OR_RETURN(attn->o, m->pack(weights, a + ".to_out.0"));
      WAN_ASSIGN_OR_RETURN(attn->norm_q, m->vec(weights, a + ".norm_q.weight"));
      WAN_ASSIGN_OR_RETURN(attn->norm_k, m->vec(weights, a + ".norm_k.weight"));
    }
    WAN_ASSIGN_OR_RETURN(blk.norm2_weight, m->vec(weights, b + "norm2.weight"));
    WAN_ASSIGN_OR_RETURN(blk.norm2_bias, m->vec(weights, b + "norm2.bias"));
    WAN_ASSIGN_OR_RETURN(blk.ffn_up, m->pack(weights, b + "ffn.net.0.proj"));
    WAN_ASSIGN_OR_RETURN(blk.ffn_down, m->pack(weights, b + "ffn.net.2"));
    WAN_ASSIGN_OR_RETURN(blk.scale_shift, m->vec(weights, b + "scale_shift_table"));
    m->blocks_.push_back(std::move(blk));
  }
  m->self_attention_ = self_attention ? std::move(self_attention)
                                      : std::unique_ptr<AttentionBackend>(new DenseCpuAttention());
  m->cross_attention_.reset(new DenseCpuAttention());
  // Per-layer weights the backend reads (absent from a checkpoint: zero, i.e. no term).
  for (const LayerWeightSpec& spec : m->self_attention_->layer_weights()) {
    const std::vector<int64_t> blocks = weights.blocks_with(spec.name);
    for (int64_t i : blocks) {
      Attention& a = m->blocks_[i].self_attn;
      const std::string name = "blocks." + std::to_string(i) + "." + spec.name;
      if (spec.kind == LayerWeightKind::kHeadDimLinear) {
        // f32 copies (bf16/f16 values are exact in f32); the backend rounds where it must.
        for (const auto& [suffix, out] : {std::pair<const char*, Tensor*>{".weight", &a.param}, {".bias", &a.param_bias}}) {
          WAN_ASSIGN_OR_RETURN(const std::vector<float> values, weights.get_f32(name + suffix));
          WAN_ASSIGN_OR_RETURN(const Tensor stored, weights.get(name + suffix));
          WAN_ASSIGN_OR_RETURN(*out, Tensor::empty(stored.shape(), DType::kF32));
          std::copy(values.begin(), values.end(), out->data<float>());
        }
        continue;
      }
      WAN_ASSIGN_OR_RETURN(a.gate, m->pack(weights, name));
      a.has_gate = true;
    }
    m->layer_weight_notes_.push_back(layer_weight_note(spec, static_cast<int64_t>(blocks.size()), c.layers,
                                                       weights.source()));
  }
  return m;
}

void WanDitCpu::round(float* x, int64_t n) const {
  if (precision_ == Precision::kBf16) cpu::round_to_bf16_inplace(x, n);
}

void WanDitCpu::linear(const Linear& l, const float* x, int64_t rows, float* y) const {
  cpu::linear_f32(x, l.w_t.data(), l.bias.data(), y, rows, l.in, l.out);
  round(y, rows * l.out);
}

void WanDitCpu::linear_gelu(const Linear& l, const float* x, int64_t rows, float* y) const {
  cpu::linear_f32(x, l.w_t.data(), l.bias.data(), y, rows, l.in, l.out);
  cpu::gelu_tanh_inplace(y, rows * l.out);
  round(y, rows * l.out);
}

namespace {

void notify(ForwardObserver* observer, int block, std::string_view op, float* data,
            const Shape& shape) {
  if (!observer) return;
  Tensor view = Tensor::wrap(data, shape, DType::kF32, Device::cpu());
  observer->on_op(block, op, view);
}

// Sinusoidal timestep embedding, cos first: emb = [cos(t f_i), sin(t f_i)], f_i =
// exp(-ln(10000) i / half) rounded to f32 and t*f_i an f32 product, as PyTorch computes it.
std::vector<float> timestep_sinusoid(int64_t timestep, int64_t freq_dim) {
  const int64_t half = freq_dim / 2;
  std::vector<float> emb(static_cast<size_t>(freq_dim));
  const double log_10000 = portable::log(10000.0);
  for (int64_t i = 0; i < half; ++i) {
    const float exponent = static_cast<float>(-log_10000) * static_cast<float>(i) / static_cast<float>(half);
    const float freq = static_cast<float>(portable::exp(exponent));
    const float arg = static_cast<float>(timestep) * freq;
    double s, c;
    portable::sincos(arg, &s, &c);
    emb[i] = static_cast<float>(c);
    emb[half + i] = static_cast<float>(s);
  }
  return emb;
}

}  // namespace

std::vector<std::string> WanDitCpu::kernel_choices() const {
  std::vector<std::string> out = {"self-attention: " + self_attention_->implementation()};
  for (const std::string& n : layer_weight_notes_) out.push_back("self-attention weights: " + n);
  return out;
}

Status WanDitCpu::attention_block(const Attention& a, int block, bool is_self, const float* x,
                                  int64_t tokens, const float* ctx_rows, int64_t ctx_tokens,
                                  const cpu::RopeTable* rope, AttentionBackend& backend,
                                  const AttentionCall& call, float* out, ForwardObserver* observer) {
  const WanConfig& c = config_;
  const int64_t dim = c.dim;
  const int64_t kv_tokens = is_self ? tokens : ctx_tokens;
  const float* kv_src = is_self ? x : ctx_rows;
  const char* prefix = is_self ? "self_" : "cross_";
  WAN_ASSIGN_OR_RETURN(Tensor q, Tensor::empty({1, tokens, c.heads, c.head_dim}, DType::kF32));
  WAN_ASSIGN_OR_RETURN(Tensor k, Tensor::empty({1, kv_tokens, c.heads, c.head_dim}, DType::kF32));
  WAN_ASSIGN_OR_RETURN(Tensor v, Tensor::empty({1, kv_tokens, c.heads, c.head_dim}, DType::kF32));
  WAN_ASSIGN_OR_RETURN(Tensor o, Tensor::empty({1, tokens, c.heads, c.head_dim}, DType::kF32));
  const bool bf16 = precision_ == Precision::kBf16;
  // Token-local ops run per token shard on the sharded path (Ulysses: each rank its own rows;
  // RoPE at the shard's global positions), else once over all rows.
  const bool sharded = is_self && sp_world_ > 1;
  auto for_shards = [&](int64_t rows, auto&& f) {
    const int shards = sharded ? sp_world_ : 1;
    for (int r = 0; r < shards; ++r) f(r * (rows / shards), rows / shards);
  };
  auto project = [&](const Linear& l, const float* src, int64_t rows, float* dst, const std::vector<float>* norm) {
    for_shards(rows, [&](int64_t first, int64_t n) {
      linear(l, src + first * dim, n, dst + first * dim);
      if (norm) cpu::rms_norm_rows(dst + first * dim, dst + first * dim, n, dim, c.eps, norm->data(), bf16);
    });
  };
  // q/k: linear, then RMSNorm over the whole dim (rounded to bf16 before * weight).
  project(a.q, x, tokens, q.data<float>(), &a.norm_q);
  round(q.data<float>(), q.numel());
  notify(observer, block, std::string(prefix) + "q", q.data<float>(), {tokens, dim});
  project(a.k, kv_src, kv_tokens, k.data<float>(), &a.norm_k);
  round(k.data<float>(), k.numel());
  notify(observer, block, std::string(prefix) + "k", k.data<float>(), {kv_tokens, dim});
  project(a.v, kv_src, kv_tokens, v.data<float>(), nullptr);
  notify(observer, block, std::string(prefix) + "v", v.data<float>(), {kv_tokens, dim});
  if (rope) {
    auto rotate = [&](float* t, int64_t rows) {
      for_shards(rows, [&](int64_t first, int64_t n) {
        if (!sharded) {
          cpu::apply_rope_inplace(t, rows, c.heads, c.head_dim, *rope);
        } else {
          cpu::apply_rope_inplace(t + first * dim, n, c.heads, c.head_dim, cpu::rope_rows(*rope, first, n));
        }
      });
    };
    rotate(q.data<float>(), tokens);
    round(q.data<float>(), q.numel());
    notify(observer, block, "rope_q", q.data<float>(), {tokens, dim});
    rotate(k.data<float>(), kv_tokens);
    round(k.data<float>(), k.numel());
    notify(observer, block, "rope_k", k.data<float>(), {kv_tokens, dim});
  }
  AttentionArgs args;
  args.q = &q;
  args.k = &k;
  args.v = &v;
  args.out = &o;
  args.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(c.head_dim)));
  args.call = call;
  if (is_self && a.param.defined()) {
    args.layer_param = &a.param;
    args.layer_param_bias = &a.param_bias;
  }
  Tensor gate;
  if (is_self && a.has_gate) {
    WAN_ASSIGN_OR_RETURN(gate, Tensor::empty({1, tokens, c.heads, c.head_dim}, DType::kF32));
    project(a.gate, x, tokens, gate.data<float>(), nullptr);
    notify(observer, block, "self_gate", gate.data<float>(), {tokens, dim});
    args.gate = &gate;
  }
  {
    ScopedRange range(is_self ? "self_attn" : "cross_attn");
    if (sharded) {
      WAN_RETURN_IF_ERROR(sharded_self_attention(args, o.data<float>()));
    } else {
      WAN_RETURN_IF_ERROR(backend.run(args, nullptr));
    }
  }
  round(o.data<float>(), o.numel());
  notify(observer, block, std::string(prefix) + "attn", o.data<float>(), {tokens, dim});
  for_shards(tokens, [&](int64_t first, int64_t n) { linear(a.o, o.data<float>() + first * dim, n, out + first * dim); });
  notify(observer, block, std::string(prefix) + "out", out, {tokens, dim});
  return Status();
}

Status WanDitCpu::set_sequence_parallel(int world) {
  if (world < 1) return invalid_argument("sequence parallel world size must be >= 1, got " + std::to_string(world));
  if (config_.heads % world)
    return invalid_argument("Ulysses sequence parallelism over " + std::to_string(world) + " ranks needs the model's " +
                            std::to_string(config_.heads) + " heads (" + config_.name + ") to be a multiple of it");
  sp_world_ = world;
  return Status();
}

// Exchange 1 (token shards -> head shards of q, k, v and the gate), each rank's attention over
// the whole sequence for its heads (the backend planned for that head shard: heads H / world from
// head first_head(r) of H), exchange 2 (head shards -> token shards of the output), every
// exchange through the simulated all-to-all.
Status WanDitCpu::sharded_self_attention(const AttentionArgs& args, float* o) {
  const AttentionShape& full = self_shape_;
  WAN_ASSIGN_OR_RETURN(const UlyssesLayout l, plan_ulysses(sp_world_, full.q_tokens, full.heads, full.head_dim));
  const int world = l.world;
  auto exchange_to_heads = [&](const Tensor& t) {
    std::vector<std::vector<float>> send(static_cast<size_t>(world), std::vector<float>(static_cast<size_t>(l.buffer())));
    for (int r = 0; r < world; ++r)
      pack_token_shard(l, t.data<float>() + l.first_token(r) * l.heads * l.head_dim, send[r].data());
    std::vector<std::vector<float>> recv, heads(static_cast<size_t>(world));
    simulated_all_to_all(l, send, &recv);
    for (int r = 0; r < world; ++r) {
      heads[r].resize(static_cast<size_t>(l.buffer()));
      unpack_to_head_shard(l, recv[r].data(), heads[r].data());
    }
    return heads;
  };
  const std::vector<std::vector<float>> q = exchange_to_heads(*args.q), k = exchange_to_heads(*args.k),
                                        v = exchange_to_heads(*args.v);
  std::vector<std::vector<float>> gate;
  if (args.gate) gate = exchange_to_heads(*args.gate);
  const Shape shard_shape = {1, l.tokens, l.shard_heads(), l.head_dim};
  std::vector<std::vector<float>> send(static_cast<size_t>(world)), out(static_cast<size_t>(world));
  for (int r = 0; r < world; ++r) {
    AttentionShape shard = full;
    shard.heads = l.shard_heads();
    shard.head_offset = l.first_head(r);
    shard.model_heads = full.heads;
    WAN_RETURN_IF_ERROR(self_attention_->plan(shard, {}, nullptr));
    auto view = [&](const std::vector<float>& data) {  // the backend reads these views only
      return Tensor::wrap(const_cast<float*>(data.data()), shard_shape, DType::kF32, Device::cpu());
    };
    out[r].resize(static_cast<size_t>(l.buffer()));
    const Tensor qr = view(q[r]), kr = view(k[r]), vr = view(v[r]);
    Tensor outr = view(out[r]);
    const Tensor gr = args.gate ? view(gate[r]) : Tensor();
    AttentionArgs shard_args = args;
    shard_args.q = &qr;
    shard_args.k = &kr;
    shard_args.v = &vr;
    shard_args.out = &outr;
    shard_args.gate = args.gate ? &gr : nullptr;
    WAN_RETURN_IF_ERROR(self_attention_->run(shard_args, nullptr));
    send[r].resize(static_cast<size_t>(l.buffer()));
    pack_head_shard(l, outr.data<float>(), send[r].data());
  }
  // The model's own shape planned again: implementation() and kernel_choices() describe it, not a shard.
  WAN_RETURN_IF_ERROR(self_attention_->plan(full, {}, nullptr));
  std::vector<std::vector<float>> recv;
  simulated_all_to_all(l, send, &recv);
  for (int r = 0; r < world; ++r) unpack_to_token_shard(l, recv[r].data(), o + l.first_token(r) * l.heads * l.head_dim);
  return Status();
}

Result<Tensor> WanDitCpu::forward(const Tensor& latents, int64_t timestep, const Tensor& context,
                                  ForwardObserver* observer, const ForwardCall& fcall) {
  const WanConfig& c = config_;
  if (latents.dim() != 4 || latents.size(0) != c.in_channels || latents.dtype() != DType::kF32 ||
      !latents.device().is_cpu()) {
    return invalid_argument("DiT forward: latents must be f32 [" + std::to_string(c.in_channels) +
                            ", T', H/8, W/8] on the CPU, got " + latents.describe());
  }
  if (context.shape() != Shape{c.text_len, c.text_dim} || context.dtype() != DType::kF32) {
    return invalid_argument("DiT forward: context must be f32 [" + std::to_string(c.text_len) +
                            ", " + std::to_string(c.text_dim) + "] (model config " + c.name +
                            "), got " + context.describe());
  }
  if (timestep < 0 || timestep > 1000)
    return invalid_argument("DiT forward: timestep " + std::to_string(timestep) + " outside [0, 1000]");
  const int64_t lt = latents.size(1), lh = latents.size(2), lw = latents.size(3);
  if (lh % 2 || lw % 2)
    return invalid_argument("DiT forward: latent height and width must be even, got " +
                            std::to_string(lh) + "x" + std::to_string(lw));
  const int64_t ft = lt, fh = lh / 2, fw = lw / 2, tokens = ft * fh * fw;
  const int64_t dim = c.dim, pv = c.patch_values();
  WAN_ASSIGN_OR_RETURN(Tensor latents_c, latents.clone());
  const float* lat = latents_c.data<float>();
  for (int64_t i = 0; i < latents_c.numel(); ++i) {
    if (!std::isfinite(lat[i]))
      return invalid_argument("DiT forward: latents contain NaN or inf at element " + std::to_string(i) +
                              "; the generation diverged (check weights, guidance, steps)");
  }
  round(latents_c.data<float>(), latents_c.numel());

  const AttentionShape self_shape{1, c.heads, c.head_dim, tokens, tokens, ft, fh, fw, Device::cpu(),
                                  precision_ == Precision::kBf16 ? AttentionPrecision::kBf16
                                                                 : AttentionPrecision::kFp32,
                                  c.layers};
  AttentionShape cross_shape = self_shape;
  cross_shape.kv_tokens = c.text_len;
  cross_shape.frames = cross_shape.height = cross_shape.width = 0;
  if (sp_world_ > 1) WAN_RETURN_IF_ERROR(plan_ulysses(sp_world_, tokens, c.heads, c.head_dim).status());
  self_shape_ = self_shape;
  WAN_RETURN_IF_ERROR(self_attention_->plan(self_shape, {}, nullptr));
  WAN_RETURN_IF_ERROR(cross_attention_->plan(cross_shape, {}, nullptr));
  // Tile-ordered backends: tokens permuted once after patch embedding (with the RoPE table)
  // and back before the head; everything between is per token or the backend itself.
  const TokenOrder order = self_attention_->token_order(self_shape);
  cpu::RopeTable rope = cpu::make_rope_table(ft, fh, fw, c.head_dim);
  if (order.tiled) rope = cpu::reorder_rope_rows(rope, order.layout.raster_of_tiled);
  auto permute_rows = [&](std::vector<float>& rows, const std::vector<int32_t>& source) {
    std::vector<float> out(rows.size());
    for (int64_t i = 0; i < tokens; ++i) std::copy_n(rows.begin() + source[i] * dim, dim, out.begin() + i * dim);
    rows.swap(out);
  };

  // 2. Patch embedding: patch vector index (c, pt, ph, pw) matches the Conv3d weight layout.
  std::vector<float> patches(static_cast<size_t>(tokens * pv));
  for (int64_t t = 0; t < ft; ++t)
    for (int64_t h = 0; h < fh; ++h)
      for (int64_t w = 0; w < fw; ++w) {
        float* row = patches.data() + ((t * fh + h) * fw + w) * pv;
        for (int64_t ch = 0; ch < c.in_channels; ++ch)
          for (int64_t ph = 0; ph < 2; ++ph)
            for (int64_t pw = 0; pw < 2; ++pw)
              row[ch * 4 + ph * 2 + pw] = lat[((ch * lt + t) * lh + 2 * h + ph) * lw + 2 * w + pw];
      }
  std::vector<float> x(static_cast<size_t>(tokens * dim));
  linear(patch_embed_, patches.data(), tokens, x.data());
  notify(observer, -1, "patch_embed", x.data(), {tokens, dim});
  if (order.tiled) permute_rows(x, order.layout.raster_of_tiled);

  // 3. Condition embedder.
  std::vector<float> emb = timestep_sinusoid(timestep, c.freq_dim);
  round(emb.data(), c.freq_dim);
  std::vector<float> temb_hidden(static_cast<size_t>(dim)), temb(static_cast<size_t>(dim));
  linear(time_1_, emb.data(), 1, temb_hidden.data());
  cpu::silu_inplace(temb_hidden.data(), dim);
  round(temb_hidden.data(), dim);
  linear(time_2_, temb_hidden.data(), 1, temb.data());
  notify(observer, -1, "time_embed", temb.data(), {1, dim});
  std::vector<float> temb_act = temb;
  cpu::silu_inplace(temb_act.data(), dim);
  round(temb_act.data(), dim);
  std::vector<float> tproj(static_cast<size_t>(6 * dim));
  linear(time_proj_, temb_act.data(), 1, tproj.data());
  notify(observer, -1, "time_proj", tproj.data(), {6, dim});

  std::vector<float> ctx_in(context.data<float>(), context.data<float>() + context.numel());
  round(ctx_in.data(), context.numel());
  std::vector<float> ctx_hidden(static_cast<size_t>(c.text_len * dim)), ctx(ctx_hidden.size());
  linear_gelu(text_1_, ctx_in.data(), c.text_len, ctx_hidden.data());
  linear(text_2_, ctx_hidden.data(), c.text_len, ctx.data());
  notify(observer, -1, "text_embed", ctx.data(), {c.text_len, dim});

  // 4. Blocks.
  std::vector<float> n(static_cast<size_t>(tokens * dim)), attn_out(n.size()), h(n.size());
  std::vector<float> ffn_hidden(static_cast<size_t>(tokens * c.ffn_dim));
  std::vector<float> e(static_cast<size_t>(6 * dim));
  for (int64_t bi = 0; bi < c.layers; ++bi) {
    const Block& blk = blocks_[bi];
    const int b = static_cast<int>(bi);
    const std::string range_name = "block/" + std::to_string(bi);
    ScopedRange block_range(range_name.c_str());
    for (int64_t i = 0; i < 6 * dim; ++i) e[i] = blk.scale_shift[i] + tproj[i];  // f32
    const float *shift = e.data(), *scale = e.data() + dim, *gate = e.data() + 2 * dim;
    const float *c_shift = e.data() + 3 * dim, *c_scale = e.data() + 4 * dim,
                *c_gate = e.data() + 5 * dim;
    // a. n1 = LN(x) * (1 + scale) + shift -> bf16
    cpu::layer_norm_rows(x.data(), n.data(), tokens, dim, c.eps, nullptr, nullptr);
    cpu::parallel_for(tokens, 64, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t)
        for (int64_t d = 0; d < dim; ++d) {
          float& v = n[t * dim + d];
          v = v * (1.0f + scale[d]) + shift[d];
        }
    });
    round(n.data(), tokens * dim);
    notify(observer, b, "norm1", n.data(), {tokens, dim});
    // b, c. self-attention
    const AttentionCall call{b, fcall.step, fcall.branch, timestep};
    WAN_RETURN_IF_ERROR(attention_block(blk.self_attn, b, true, n.data(), tokens, nullptr, 0, &rope,
                                        *self_attention_, call, attn_out.data(), observer));
    // d. h = x + attn * gate (f32); n2 = LN_affine(h) from the f32 h; both -> bf16
    cpu::parallel_for(tokens, 64, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t)
        for (int64_t d = 0; d < dim; ++d) h[t * dim + d] = x[t * dim + d] + attn_out[t * dim + d] * gate[d];
    });
    cpu::layer_norm_rows(h.data(), n.data(), tokens, dim, c.eps, blk.norm2_weight.data(),
                         blk.norm2_bias.data());
    round(h.data(), tokens * dim);
    round(n.data(), tokens * dim);
    notify(observer, b, "residual_self", h.data(), {tokens, dim});
    notify(observer, b, "norm2", n.data(), {tokens, dim});
    // e. cross-attention over the text context (dense, no RoPE)
    WAN_RETURN_IF_ERROR(attention_block(blk.cross_attn, b, false, n.data(), tokens, ctx.data(),
                                        c.text_len, nullptr, *cross_attention_, call, attn_out.data(),
                                        observer));
    // f. h = h + cross (bf16 add); n3 = LN(h) -> bf16; modulate in f32 -> bf16
    for (int64_t i = 0; i < tokens * dim; ++i) h[i] = h[i] + attn_out[i];
    round(h.data(), tokens * dim);
    notify(observer, b, "residual_cross", h.data(), {tokens, dim});
    cpu::layer_norm_rows(h.data(), n.data(), tokens, dim, c.eps, nullptr, nullptr);
    round(n.data(), tokens * dim);
    cpu::parallel_for(tokens, 64, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t)
        for (int64_t d = 0; d < dim; ++d) {
          float& v = n[t * dim + d];
          v = v * (1.0f + c_scale[d]) + c_shift[d];
        }
    });
    round(n.data(), tokens * dim);
    notify(observer, b, "norm3", n.data(), {tokens, dim});
    // g. FFN: GELU_tanh(n3 W1^T + b1) W2^T + b2 (GELU on the f32 accumulator, one rounding,
    //    as the GPU's GELU epilogue); x = h + ffn * c_gate (f32) -> bf16
    linear_gelu(blk.ffn_up, n.data(), tokens, ffn_hidden.data());
    notify(observer, b, "ffn_up_gelu", ffn_hidden.data(), {tokens, c.ffn_dim});
    linear(blk.ffn_down, ffn_hidden.data(), tokens, attn_out.data());
    notify(observer, b, "ffn_down", attn_out.data(), {tokens, dim});
    cpu::parallel_for(tokens, 64, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t)
        for (int64_t d = 0; d < dim; ++d) x[t * dim + d] = h[t * dim + d] + attn_out[t * dim + d] * c_gate[d];
    });
    round(x.data(), tokens * dim);
    notify(observer, b, "residual_ffn", x.data(), {tokens, dim});
  }

  // 5. Head: (shift, scale) = table + temb summed in bf16; LN(x) * (1 + scale) + shift -> bf16.
  std::vector<float> head_mod(static_cast<size_t>(2 * dim));
  for (int64_t i = 0; i < 2 * dim; ++i) head_mod[i] = head_scale_shift_[i] + temb[i % dim];
  if (order.tiled) permute_rows(x, order.layout.tiled_of_raster);
  round(head_mod.data(), 2 * dim);
  cpu::layer_norm_rows(x.data(), n.data(), tokens, dim, c.eps, nullptr, nullptr);
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t d = 0; d < dim; ++d) {
      float& v = n[t * dim + d];
      v = v * (1.0f + head_mod[dim + d]) + head_mod[d];
    }
  round(n.data(), tokens * dim);
  notify(observer, -1, "head_norm", n.data(), {tokens, dim});
  const int64_t opv = c.out_patch_values();
  std::vector<float> head_out(static_cast<size_t>(tokens * opv));
  linear(proj_out_, n.data(), tokens, head_out.data());
  notify(observer, -1, "head_out", head_out.data(), {tokens, opv});

  // Unpatchify: feature ((pt*2 + ph)*2 + pw)*C + ch -> [C, T', 2H, 2W].
  WAN_ASSIGN_OR_RETURN(Tensor out, Tensor::empty({c.out_channels, lt, lh, lw}, DType::kF32));
  float* o = out.data<float>();
  for (int64_t t = 0; t < ft; ++t)
    for (int64_t hh = 0; hh < fh; ++hh)
      for (int64_t ww = 0; ww < fw; ++ww) {
        const float* row = head_out.data() + ((t * fh + hh) * fw + ww) * opv;
        for (int64_t ph = 0; ph < 2; ++ph)
          for (int64_t pw = 0; pw < 2; ++pw)
            for (int64_t ch = 0; ch < c.out_channels; ++ch)
              o[((ch * lt + t) * lh + 2 * hh + ph) * lw + 2 * ww + pw] =
                  row[(ph * 2 + pw) * c.out_channels + ch];
      }
  return out;
}

}  // namespace wan
