#include "engine/vae/vae_ops_cpu.h"

#include <algorithm>
#include <cmath>

#include "kernels/cpu/attention_dense.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/linear.h"
#include "kernels/cpu/parallel.h"

namespace wan {
namespace {

// Pixels per im2col panel: [kPanel, K] floats (K up to 384*27: 40 MB at the widest layer).
constexpr int64_t kPanel = 1024;

Status expect_activation(const Tensor& x, const char* op) {
  if (x.dim() != 4 || x.dtype() != DType::kF32 || !x.is_contiguous() || !x.device().is_cpu())
    return invalid_argument(std::string("VAE ") + op + ": expected a contiguous host f32 [C, T, H, W] tensor, got " +
                            x.describe());
  return Status();
}

}  // namespace

VaeOpsCpu::VaeOpsCpu(const VaeWeights& weights, bool round_bf16) : weights_(weights), round_bf16_(round_bf16) {}

std::string VaeOpsCpu::describe() const {
  return round_bf16_ ? "cpu reference, bf16 rounding points" : "cpu reference, all fp32";
}

void VaeOpsCpu::maybe_round(Tensor& t) const {
  if (round_bf16_) cpu::round_to_bf16_inplace(t.data<float>(), t.numel());
}

Result<const VaeOpsCpu::PackedConv*> VaeOpsCpu::packed(const std::string& weight) {
  const auto it = packed_.find(weight);
  if (it != packed_.end()) return &it->second;
  WAN_ASSIGN_OR_RETURN(Tensor w, weights_.get(weight + ".weight"));
  WAN_ASSIGN_OR_RETURN(Tensor b, weights_.get(weight + ".bias"));
  WAN_ASSIGN_OR_RETURN(const VaeConvKernel k, vae_conv_kernel(weights_, weight));
  PackedConv p;
  p.out = k.out;
  p.in = k.in;
  p.kt = k.kt;
  p.kh = k.kh;
  p.kw = k.kw;
  std::vector<float> wf(w.data<float>(), w.data<float>() + w.numel());
  p.bias.assign(b.data<float>(), b.data<float>() + b.numel());
  if (round_bf16_) {
    cpu::round_to_bf16_inplace(wf.data(), static_cast<int64_t>(wf.size()));
    cpu::round_to_bf16_inplace(p.bias.data(), p.out);
  }
  p.w_t = cpu::pack_linear_weight(wf.data(), p.out, p.in * p.kt * p.kh * p.kw);
  return &packed_.emplace(weight, std::move(p)).first->second;
}

Result<Tensor> VaeOpsCpu::denormalize(const Tensor& latents) {
  const WanVaeConfig& c = weights_.config();
  WAN_ASSIGN_OR_RETURN(Tensor x, latents.to(Device::cpu()));
  WAN_RETURN_IF_ERROR(expect_activation(x, "denormalize"));
  const int64_t per_channel = x.numel() / x.size(0);
  float* v = x.data<float>();
  for (int64_t ch = 0; ch < x.size(0); ++ch)
    for (int64_t i = 0; i < per_channel; ++i) {
      float& e = v[ch * per_channel + i];
      e = e * c.latents_std[ch] + c.latents_mean[ch];
    }
  maybe_round(x);
  return x;
}

Result<Tensor> VaeOpsCpu::conv(const Tensor& x, const Tensor& history, const std::string& weight,
                               const Tensor& residual) {
  WAN_RETURN_IF_ERROR(expect_activation(x, "conv"));
  WAN_ASSIGN_OR_RETURN(const PackedConv* p, packed(weight));
  const int64_t cin = x.size(0), frames = x.size(1), h = x.size(2), w = x.size(3);
  if (cin != p->in)
    return invalid_argument("VAE conv '" + weight + "': input has " + std::to_string(cin) + " channels, weight expects " +
                            std::to_string(p->in));
  const bool causal = p->kt == 3;
  if (causal && history.defined() &&
      (history.shape() != Shape{cin, 2, h, w} || history.dtype() != DType::kF32 || !history.is_contiguous()))
    return invalid_argument("VAE conv '" + weight + "': history " + history.describe() + " does not match input " +
                            x.describe());
  if (residual.defined() && (residual.shape() != Shape{p->out, frames, h, w} || !residual.is_contiguous()))
    return invalid_argument("VAE conv '" + weight + "': residual " + residual.describe() + " does not match output");
  WAN_ASSIGN_OR_RETURN(Tensor y, Tensor::empty({p->out, frames, h, w}, DType::kF32));
  const int64_t plane = h * w, pixels = frames * plane;
  const int64_t k = p->in * p->kt * p->kh * p->kw;
  const float* xd = x.data<float>();
  const float* hd = causal && history.defined() ? history.data<float>() : nullptr;
  // Input frame f of the padded sequence [history (2 frames, zeros if absent), x].
  auto frame = [&](int64_t ci, int64_t f) -> const float* {
    if (!causal) return xd + (ci * frames + f) * plane;
    if (f >= 2) return xd + (ci * frames + f - 2) * plane;
    return hd ? hd + (ci * 2 + f) * plane : nullptr;
  };
  const int64_t ph = p->kh / 2, pw = p->kw / 2;
  std::vector<float> col(static_cast<size_t>(std::min(kPanel, pixels) * k));
  std::vector<float> out(static_cast<size_t>(std::min(kPanel, pixels) * p->out));
  float* yd = y.data<float>();
  const float* rd = residual.defined() ? residual.data<float>() : nullptr;
  for (int64_t p0 = 0; p0 < pixels; p0 += kPanel) {
    const int64_t rows = std::min(kPanel, pixels - p0);
    cpu::parallel_for(rows, 64, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t pix = p0 + r, t = pix / plane, yy = (pix % plane) / w, xx = pix % w;
        float* dst = col.data() + r * k;
        for (int64_t ci = 0; ci < p->in; ++ci)
          for (int64_t dt = 0; dt < p->kt; ++dt) {
            const float* src = frame(ci, t + dt);
            for (int64_t dy = 0; dy < p->kh; ++dy) {
              const int64_t sy = yy + dy - ph;
              for (int64_t dx = 0; dx < p->kw; ++dx) {
                const int64_t sx = xx + dx - pw;
                *dst++ = (src && sy >= 0 && sy < h && sx >= 0 && sx < w) ? src[sy * w + sx] : 0.0f;
              }
            }
          }
      }
    });
    cpu::linear_f32(col.data(), p->w_t.data(), p->bias.data(), out.data(), rows, k, p->out);
    for (int64_t o = 0; o < p->out; ++o)
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t i = o * pixels + p0 + r;
        yd[i] = rd ? out[r * p->out + o] + rd[i] : out[r * p->out + o];
      }
  }
  maybe_round(y);
  return y;
}

Result<Tensor> VaeOpsCpu::rms_norm(const Tensor& x, const std::string& gamma, bool silu) {
  WAN_RETURN_IF_ERROR(expect_activation(x, "rms_norm"));
  const float* g = weights_.data(gamma);
  if (!g) return not_found("no VAE weight named '" + gamma + "'");
  const int64_t c = x.size(0), pixels = x.numel() / c;
  WAN_ASSIGN_OR_RETURN(const Tensor gt, weights_.get(gamma));
  if (gt.numel() != c)
    return invalid_argument("VAE rms_norm '" + gamma + "' has " + std::to_string(gt.numel()) + " values for " +
                            std::to_string(c) + " channels");
  std::vector<float> gr(g, g + c);
  if (round_bf16_) cpu::round_to_bf16_inplace(gr.data(), c);
  const float scale = static_cast<float>(std::sqrt(static_cast<double>(c)));
  WAN_ASSIGN_OR_RETURN(Tensor y, Tensor::empty(x.shape(), DType::kF32));
  const float* xd = x.data<float>();
  float* yd = y.data<float>();
  cpu::parallel_for(pixels, 256, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      double ss = 0;
      for (int64_t ch = 0; ch < c; ++ch) {
        const double v = xd[ch * pixels + p];
        ss += v * v;
      }
      const float norm = std::max(static_cast<float>(std::sqrt(ss)), 1e-12f);
      for (int64_t ch = 0; ch < c; ++ch) yd[ch * pixels + p] = xd[ch * pixels + p] / norm * scale * gr[ch];
    }
  });
  if (silu) cpu::silu_inplace(yd, y.numel());
  maybe_round(y);
  return y;
}

Result<Tensor> VaeOpsCpu::attention(const Tensor& qkv) {
  WAN_RETURN_IF_ERROR(expect_activation(qkv, "attention"));
  if (qkv.size(0) % 3 != 0) return invalid_argument("VAE attention: qkv channels must be 3C, got " + qkv.describe());
  const int64_t c = qkv.size(0) / 3, frames = qkv.size(1), n = qkv.size(2) * qkv.size(3);
  WAN_ASSIGN_OR_RETURN(Tensor y, Tensor::empty({c, frames, qkv.size(2), qkv.size(3)}, DType::kF32));
  std::vector<float> q(n * c), k(n * c), v(n * c), o(n * c);
  const float* src = qkv.data<float>();
  float* yd = y.data<float>();
  for (int64_t t = 0; t < frames; ++t) {
    // [token, channel] rows from channel-major planes.
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t i = 0; i < n; ++i) {
        q[i * c + ch] = src[((0 * c + ch) * frames + t) * n + i];
        k[i * c + ch] = src[((1 * c + ch) * frames + t) * n + i];
        v[i * c + ch] = src[((2 * c + ch) * frames + t) * n + i];
      }
    cpu::DenseAttentionParams p;
    p.q = q.data();
    p.k = k.data();
    p.v = v.data();
    p.out = o.data();
    p.heads = 1;
    p.head_dim = c;
    p.q_tokens = p.kv_tokens = n;
    p.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(c)));
    p.round_p_to_bf16 = round_bf16_;
    cpu::attention_dense_f32(p);
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t i = 0; i < n; ++i) yd[(ch * frames + t) * n + i] = o[i * c + ch];
  }
  maybe_round(y);
  return y;
}

Result<Tensor> VaeOpsCpu::upsample2x(const Tensor& x) {
  WAN_RETURN_IF_ERROR(expect_activation(x, "upsample2x"));
  const int64_t planes = x.size(0) * x.size(1), h = x.size(2), w = x.size(3);
  WAN_ASSIGN_OR_RETURN(Tensor y, Tensor::empty({x.size(0), x.size(1), 2 * h, 2 * w}, DType::kF32));
  const float* xd = x.data<float>();
  float* yd = y.data<float>();
  cpu::parallel_for(planes, 1, [&](int64_t begin, int64_t end) {
    for (int64_t pl = begin; pl < end; ++pl)
      for (int64_t i = 0; i < 2 * h; ++i)
        for (int64_t j = 0; j < 2 * w; ++j) yd[(pl * 2 * h + i) * 2 * w + j] = xd[(pl * h + i / 2) * w + j / 2];
  });
  return y;
}

Result<Tensor> VaeOpsCpu::split_time(const Tensor& x) {
  WAN_RETURN_IF_ERROR(expect_activation(x, "split_time"));
  if (x.size(0) % 2 != 0) return invalid_argument("VAE split_time: channels must be even, got " + x.describe());
  const int64_t c = x.size(0) / 2, frames = x.size(1), plane = x.size(2) * x.size(3);
  WAN_ASSIGN_OR_RETURN(Tensor y, Tensor::empty({c, 2 * frames, x.size(2), x.size(3)}, DType::kF32));
  const float* xd = x.data<float>();
  float* yd = y.data<float>();
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t t = 0; t < frames; ++t)
      for (int64_t j = 0; j < 2; ++j)
        std::copy_n(xd + ((j * c + ch) * frames + t) * plane, plane, yd + (ch * 2 * frames + 2 * t + j) * plane);
  return y;
}

Result<Tensor> VaeOpsCpu::finish(const Tensor& x, bool clamp) {
  WAN_RETURN_IF_ERROR(expect_activation(x, "finish"));
  WAN_ASSIGN_OR_RETURN(Tensor y, x.clone());
  float* v = y.data<float>();
  if (clamp)
    for (int64_t i = 0; i < y.numel(); ++i) v[i] = std::min(1.0f, std::max(-1.0f, v[i]));
  return y;
}

}  // namespace wan
