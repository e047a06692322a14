#include "engine/vae/vae_decoder.h"

#include <chrono>
#include <cstring>

namespace wan {

Result<Tensor> VaeOps::next_history(const Tensor& history, const Tensor& x) {
  // [C, 2, H, W] from the tail of [history, x]; copies (x's storage is reused later).
  const int64_t c = x.size(0), t = x.size(1), h = x.size(2), w = x.size(3);
  WAN_ASSIGN_OR_RETURN(Tensor next, Tensor::zeros({c, 2, h, w}, x.dtype(), x.device()));
  if (t >= 2) {
    WAN_ASSIGN_OR_RETURN(Tensor tail, x.slice(1, t - 2, t));
    WAN_RETURN_IF_ERROR(next.copy_from(tail));
    return next;
  }
  WAN_ASSIGN_OR_RETURN(Tensor last, next.slice(1, 1, 2));
  WAN_RETURN_IF_ERROR(last.copy_from(x));
  if (history.defined()) {
    WAN_ASSIGN_OR_RETURN(Tensor first, next.slice(1, 0, 1));
    WAN_ASSIGN_OR_RETURN(Tensor previous, history.slice(1, 1, 2));
    WAN_RETURN_IF_ERROR(first.copy_from(previous));
  }
  return next;
}

struct VaeDecoder::Caches {
  std::map<std::string, Tensor> history;  // conv name -> [Cin, 2, H, W]
  bool first_chunk = true;                // latent frame 0: time_convs skipped

  // Causal convolution with its cache: returns conv(x), remembers x's tail.
  Result<Tensor> causal(VaeOps& ops, const Tensor& x, const std::string& weight, const Tensor& residual = {}) {
    Tensor& h = history[weight];
    WAN_ASSIGN_OR_RETURN(Tensor y, ops.conv(x, h, weight, residual));
    WAN_ASSIGN_OR_RETURN(h, ops.next_history(h, x));
    return y;
  }
};

VaeDecoder::VaeDecoder(std::shared_ptr<const VaeWeights> weights, std::unique_ptr<VaeOps> ops)
    : weights_(std::move(weights)), config_(weights_->config()), ops_(std::move(ops)) {}

std::string VaeDecoder::describe() const { return "Wan VAE decoder (" + config_.name + "), " + ops_->describe(); }

Result<Tensor> VaeDecoder::residual_block(const std::string& p, const Tensor& x, Caches& caches) {
  VaeOps& ops = *ops_;
  Tensor shortcut = x;
  if (weights_->data(p + ".conv_shortcut.weight")) {
    WAN_ASSIGN_OR_RETURN(shortcut, ops.conv(x, Tensor(), p + ".conv_shortcut", Tensor()));
  }
  WAN_ASSIGN_OR_RETURN(Tensor a, ops.rms_norm(x, p + ".norm1.gamma", true));
  WAN_ASSIGN_OR_RETURN(Tensor b, caches.causal(ops, a, p + ".conv1"));
  WAN_ASSIGN_OR_RETURN(Tensor c, ops.rms_norm(b, p + ".norm2.gamma", true));
  return caches.causal(ops, c, p + ".conv2", shortcut);
}

Result<Tensor> VaeDecoder::attention_block(const std::string& p, const Tensor& x) {
  VaeOps& ops = *ops_;
  WAN_ASSIGN_OR_RETURN(Tensor n, ops.rms_norm(x, p + ".norm.gamma", false));
  WAN_ASSIGN_OR_RETURN(Tensor qkv, ops.conv(n, Tensor(), p + ".to_qkv", Tensor()));
  WAN_ASSIGN_OR_RETURN(Tensor a, ops.attention(qkv));
  return ops.conv(a, Tensor(), p + ".proj", x);
}

Result<Tensor> VaeDecoder::decode_frame(int64_t t, const Tensor& z, Caches& caches, VaeObserver* observer) {
  VaeOps& ops = *ops_;
  auto seen = [&](std::string_view name, Tensor& x) {
    if (observer) observer->on_vae_op(t, name, x);
  };
  WAN_ASSIGN_OR_RETURN(Tensor x, caches.causal(ops, z, "decoder.conv_in"));
  seen("conv_in", x);
  WAN_ASSIGN_OR_RETURN(x, residual_block("decoder.mid_block.resnets.0", x, caches));
  seen("mid.res0", x);
  WAN_ASSIGN_OR_RETURN(x, attention_block("decoder.mid_block.attentions.0", x));
  seen("mid.attention", x);
  WAN_ASSIGN_OR_RETURN(x, residual_block("decoder.mid_block.resnets.1", x, caches));
  seen("mid.res1", x);
  for (int64_t i = 0; i < config_.up_blocks(); ++i) {
    const std::string b = "decoder.up_blocks." + std::to_string(i);
    const std::string tag = "up" + std::to_string(i);
    for (int64_t j = 0; j <= config_.num_res_blocks; ++j) {
      WAN_ASSIGN_OR_RETURN(x, residual_block(b + ".resnets." + std::to_string(j), x, caches));
      seen(tag + ".res" + std::to_string(j), x);
    }
    const std::string mode = config_.upsample_mode(i);
    if (mode.empty()) continue;
    const std::string u = b + ".upsamplers.0";
    if (mode == "upsample3d" && !caches.first_chunk) {
      WAN_ASSIGN_OR_RETURN(Tensor doubled, caches.causal(ops, x, u + ".time_conv"));
      WAN_ASSIGN_OR_RETURN(x, ops.split_time(doubled));
      seen(tag + ".time_conv", x);
    }
    WAN_ASSIGN_OR_RETURN(Tensor up, ops.upsample2x(x));
    WAN_ASSIGN_OR_RETURN(x, ops.conv(up, Tensor(), u + ".resample.1", Tensor()));
    seen(tag + ".upsample", x);
  }
  WAN_ASSIGN_OR_RETURN(Tensor n, ops.rms_norm(x, "decoder.norm_out.gamma", true));
  WAN_ASSIGN_OR_RETURN(x, caches.causal(ops, n, "decoder.conv_out"));
  seen("head", x);
  return x;
}

Result<Tensor> VaeDecoder::decode(const Tensor& latents_in, VaeObserver* observer,
                                  const std::function<void(const VaeProgress&)>& progress) {
  Tensor latents = latents_in;
  if (latents.dim() == 5 && latents.size(0) == 1) {
    WAN_ASSIGN_OR_RETURN(latents, latents.select(0, 0));
  }
  if (latents.dim() != 4 || latents.size(0) != config_.z_dim || latents.numel() == 0)
    return invalid_argument("VAE decode: latents must be [" + std::to_string(config_.z_dim) + ", T, h, w] (or [1, " +
                            std::to_string(config_.z_dim) + ", T, h, w]) with T, h, w >= 1, got " + latents.describe() +
                            "; this VAE (" + config_.name + ") has z_dim " + std::to_string(config_.z_dim));
  if (latents.dtype() != DType::kF32)
    return invalid_argument("VAE decode: latents must be f32, got " + latents.describe());
  const int64_t frames = latents.size(1), h = latents.size(2), w = latents.size(3);
  const int64_t scale = config_.spatial_scale();
  const int64_t out_frames = config_.video_frames(frames);
  WAN_ASSIGN_OR_RETURN(Tensor video, Tensor::empty({3, out_frames, h * scale, w * scale}, DType::kF32));
  // Frame by frame from a host copy (16 x T x h x w floats): post_quant_conv is 1x1x1, so per
  // frame equals diffusers' whole-tensor call, and no op needs a strided device slice.
  WAN_ASSIGN_OR_RETURN(const Tensor host_latents, latents.to(Device::cpu()));
  Caches caches;
  int64_t written = 0;
  for (int64_t t = 0; t < frames; ++t) {
    const auto start = std::chrono::steady_clock::now();
    WAN_ASSIGN_OR_RETURN(const Tensor frame_view, host_latents.slice(1, t, t + 1));
    WAN_ASSIGN_OR_RETURN(const Tensor frame, frame_view.clone());
    WAN_ASSIGN_OR_RETURN(const Tensor z, ops_->denormalize(frame));
    WAN_ASSIGN_OR_RETURN(Tensor zt, ops_->conv(z, Tensor(), "post_quant_conv", Tensor()));
    if (observer) observer->on_vae_op(t, "post_quant_conv", zt);
    WAN_ASSIGN_OR_RETURN(Tensor out, decode_frame(t, zt, caches, observer));
    caches.first_chunk = false;
    WAN_ASSIGN_OR_RETURN(Tensor host, ops_->finish(out));
    const int64_t n = host.size(1);
    if (host.size(0) != 3 || written + n > out_frames || host.size(2) != h * scale || host.size(3) != w * scale)
      return internal_error("VAE decode: latent frame " + std::to_string(t) + " gave " + host.describe());
    // Per channel, the chunk's frames are one contiguous run of the video: three memcpys (a
    // strided copy_from walks elements one by one, and the GPU idles while the host copies).
    const int64_t run = n * host.size(2) * host.size(3);
    for (int64_t c = 0; c < 3; ++c)
      std::memcpy(video.data<float>() + (c * out_frames + written) * host.size(2) * host.size(3),
                  host.data<float>() + c * run, static_cast<size_t>(run) * sizeof(float));
    written += n;
    if (progress)
      progress({t, frames, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()});
  }
  if (written != out_frames)
    return internal_error("VAE decode produced " + std::to_string(written) + " frames, expected " +
                          std::to_string(out_frames));
  return video;
}

}  // namespace wan
