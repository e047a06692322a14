#include "engine/vae/vae_decoder.h"

#include "engine/core/nvtx.h"

#include <chrono>
#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

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

Result<Tensor> VaeDecoder::decode_frame(int64_t t, const Tensor& z, Caches& caches, VaeObserver* observer,
                                        const std::string& tag_prefix) {
  VaeOps& ops = *ops_;
  auto seen = [&](std::string_view name, Tensor& x) -> Status {
    if (!observer) return Status();
    WAN_RETURN_IF_ERROR(ops.synchronize());  // the observer reads x on the host
    observer->on_vae_op(t, tag_prefix + std::string(name), x);
    return Status();
  };
  // NVTX ranges per stage ("vae_decode/frame/3/up1"): the kernel tables group by stage.
  std::optional<ScopedRange> range;
  range.emplace("conv_in");
  WAN_ASSIGN_OR_RETURN(Tensor x, caches.causal(ops, z, "decoder.conv_in"));
  WAN_RETURN_IF_ERROR(seen("conv_in", x));
  range.reset();
  range.emplace("mid");
  WAN_ASSIGN_OR_RETURN(x, residual_block("decoder.mid_block.resnets.0", x, caches));
  WAN_RETURN_IF_ERROR(seen("mid.res0", x));
  WAN_ASSIGN_OR_RETURN(x, attention_block("decoder.mid_block.attentions.0", x));
  WAN_RETURN_IF_ERROR(seen("mid.attention", x));
  WAN_ASSIGN_OR_RETURN(x, residual_block("decoder.mid_block.resnets.1", x, caches));
  WAN_RETURN_IF_ERROR(seen("mid.res1", x));
  for (int64_t i = 0; i < config_.up_blocks(); ++i) {
    const std::string b = "decoder.up_blocks." + std::to_string(i);
    const std::string tag = "up" + std::to_string(i);
    range.reset();
    range.emplace(tag.c_str());
    for (int64_t j = 0; j <= config_.num_res_blocks; ++j) {
      WAN_ASSIGN_OR_RETURN(x, residual_block(b + ".resnets." + std::to_string(j), x, caches));
      WAN_RETURN_IF_ERROR(seen(tag + ".res" + std::to_string(j), x));
    }
    const std::string mode = config_.upsample_mode(i);
    if (mode.empty()) continue;
    const std::string u = b + ".upsamplers.0";
    if (mode == "upsample3d" && !caches.first_chunk) {
      WAN_ASSIGN_OR_RETURN(Tensor doubled, caches.causal(ops, x, u + ".time_conv"));
      WAN_ASSIGN_OR_RETURN(x, ops.split_time(doubled));
      WAN_RETURN_IF_ERROR(seen(tag + ".time_conv", x));
    }
    WAN_ASSIGN_OR_RETURN(Tensor up, ops.upsample2x(x));
    WAN_ASSIGN_OR_RETURN(x, ops.conv(up, Tensor(), u + ".resample.1", Tensor()));
    WAN_RETURN_IF_ERROR(seen(tag + ".upsample", x));
  }
  range.reset();
  range.emplace("head");
  WAN_ASSIGN_OR_RETURN(Tensor n, ops.rms_norm(x, "decoder.norm_out.gamma", true));
  WAN_ASSIGN_OR_RETURN(x, caches.causal(ops, n, "decoder.conv_out"));
  WAN_RETURN_IF_ERROR(seen("head", x));
  return x;
}

Result<Tensor> VaeDecoder::decode_region(const Tensor& latents, int64_t y0, int64_t y1, int64_t x0, int64_t x1,
                                         VaeObserver* observer, const std::string& tag, bool clamp,
                                         const std::function<void(const VaeProgress&)>& progress) {
  const int64_t frames = latents.size(1), scale = config_.spatial_scale();
  const int64_t out_frames = config_.video_frames(frames), oh = (y1 - y0) * scale, ow = (x1 - x0) * scale;
  WAN_ASSIGN_OR_RETURN(Tensor video, Tensor::empty({3, out_frames, oh, ow}, DType::kF32));
  Caches caches;
  int64_t written = 0;
  ScopedRange decode_range("vae_decode");
  for (int64_t t = 0; t < frames; ++t) {
    const auto start = std::chrono::steady_clock::now();
    const std::string frame_name = "frame/" + std::to_string(t);
    ScopedRange frame_range(frame_name.c_str());
    // Frame by frame from the host copy: post_quant_conv is 1x1x1, so per frame equals
    // diffusers' whole-tensor call, and no op needs a strided device slice.
    WAN_ASSIGN_OR_RETURN(Tensor view, latents.slice(1, t, t + 1));
    WAN_ASSIGN_OR_RETURN(view, view.slice(2, y0, y1));
    WAN_ASSIGN_OR_RETURN(view, view.slice(3, x0, x1));
    WAN_ASSIGN_OR_RETURN(const Tensor frame, view.clone());
    WAN_ASSIGN_OR_RETURN(const Tensor z, ops_->denormalize(frame));
    WAN_ASSIGN_OR_RETURN(Tensor zt, ops_->conv(z, Tensor(), "post_quant_conv", Tensor()));
    if (observer) {
      WAN_RETURN_IF_ERROR(ops_->synchronize());
      observer->on_vae_op(t, tag + "post_quant_conv", zt);
    }
    WAN_ASSIGN_OR_RETURN(Tensor out, decode_frame(t, zt, caches, observer, tag));
    caches.first_chunk = false;
    WAN_ASSIGN_OR_RETURN(Tensor host, ops_->finish(out, clamp));
    const int64_t n = host.size(1);
    if (host.size(0) != 3 || written + n > out_frames || host.size(2) != oh || host.size(3) != ow)
      return internal_error("VAE decode: latent frame " + std::to_string(t) + " gave " + host.describe());
    // Per channel, the chunk's frames are one contiguous run of the video: three memcpys (a
    // strided copy_from walks elements one by one, and the GPU idles while the host copies).
    const int64_t run = n * oh * ow;
    for (int64_t c = 0; c < 3; ++c)
      std::memcpy(video.data<float>() + (c * out_frames + written) * oh * ow, host.data<float>() + c * run,
                  static_cast<size_t>(run) * sizeof(float));
    written += n;
    if (progress)
      progress({t, frames, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()});
  }
  if (written != out_frames)
    return internal_error("VAE decode produced " + std::to_string(written) + " frames, expected " +
                          std::to_string(out_frames));
  return video;
}

Result<Tensor> VaeDecoder::decode(const Tensor& latents_in, VaeObserver* observer,
                                  const std::function<void(const VaeProgress&)>& progress, const VaeTiling& tiling) {
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
  WAN_ASSIGN_OR_RETURN(const Tensor host, latents.to(Device::cpu()));  // 16 x T x h x w floats
  const int64_t h = host.size(2), w = host.size(3), scale = config_.spatial_scale();
  if (tiling.enabled() && (tiling.tile_px % scale != 0 || tiling.stride_px % scale != 0))
    return invalid_argument("VAE tiling " + tiling.to_string() + ": tile and stride must be multiples of " +
                            std::to_string(scale));
  const int64_t tile = tiling.tile_px / scale, stride = tiling.stride_px / scale;
  if (!tiling.enabled() || (h <= tile && w <= tile)) return decode_region(host, 0, h, 0, w, observer, "", true, progress);

  // diffusers' tiled_decode: tiles at every stride, blended in place in row order, cropped.
  const int64_t blend = tiling.tile_px - tiling.stride_px, frames = config_.video_frames(host.size(1));
  std::vector<std::vector<Tensor>> rows;
  for (int64_t i = 0, r = 0; i < h; i += stride, ++r) {
    rows.emplace_back();
    for (int64_t j = 0, c = 0; j < w; j += stride, ++c) {
      const std::string tag = "tile" + std::to_string(r) + "x" + std::to_string(c) + "/";
      WAN_ASSIGN_OR_RETURN(Tensor t, decode_region(host, i, std::min(h, i + tile), j, std::min(w, j + tile), observer,
                                                   tag, false, progress));
      rows.back().push_back(std::move(t));
    }
  }
  const int64_t out_h = h * scale, out_w = w * scale;
  WAN_ASSIGN_OR_RETURN(Tensor video, Tensor::empty({3, frames, out_h, out_w}, DType::kF32));
  float* dst = video.data<float>();
  for (size_t r = 0; r < rows.size(); ++r) {
    for (size_t c = 0; c < rows[r].size(); ++c) {
      Tensor& b = rows[r][c];
      const int64_t bh = b.size(2), bw = b.size(3);
      float* bd = b.data<float>();
      // diffusers' blend_v / blend_h: b[.., i, ..] = a[.., size_a - e + i, ..] * (1 - i / e) +
      // b[.., i, ..] * (i / e) for i < e = min(size_a, size_b, blend), along rows or columns.
      auto blend_with = [&](const Tensor& a, bool rows_axis) {
        const int64_t ah = a.size(2), aw = a.size(3);
        const int64_t e = std::min({rows_axis ? ah : aw, rows_axis ? bh : bw, blend});
        const float* ad = a.data<float>();
        for (int64_t i = 0; i < e; ++i) {
          const float wb = static_cast<float>(static_cast<double>(i) / static_cast<double>(e));
          const float wa = static_cast<float>(1.0 - static_cast<double>(i) / static_cast<double>(e));
          for (int64_t ch = 0; ch < 3; ++ch)
            for (int64_t t = 0; t < frames; ++t)
              for (int64_t j = 0; j < (rows_axis ? std::min(aw, bw) : std::min(ah, bh)); ++j) {
                const int64_t by = rows_axis ? i : j, bx = rows_axis ? j : i;
                const int64_t ay = rows_axis ? ah - e + i : j, ax = rows_axis ? j : aw - e + i;
                float& v = bd[((ch * frames + t) * bh + by) * bw + bx];
                v = ad[((ch * frames + t) * ah + ay) * aw + ax] * wa + v * wb;
              }
        }
      };
      if (r > 0) blend_with(rows[r - 1][c], true);
      if (c > 0) blend_with(rows[r][c - 1], false);
    }
  }
  // Crop each tile to stride and stitch; then clamp (diffusers clamps after stitching).
  for (size_t r = 0; r < rows.size(); ++r)
    for (size_t c = 0; c < rows[r].size(); ++c) {
      const Tensor& b = rows[r][c];
      const int64_t bh = b.size(2), bw = b.size(3), y0 = static_cast<int64_t>(r) * tiling.stride_px,
                    x0 = static_cast<int64_t>(c) * tiling.stride_px;
      const float* bd = b.data<float>();
      for (int64_t ch = 0; ch < 3; ++ch)
        for (int64_t t = 0; t < frames; ++t)
          for (int64_t y = 0; y < std::min(bh, tiling.stride_px) && y0 + y < out_h; ++y)
            for (int64_t x = 0; x < std::min(bw, tiling.stride_px) && x0 + x < out_w; ++x) {
              const float v = bd[((ch * frames + t) * bh + y) * bw + x];
              dst[((ch * frames + t) * out_h + y0 + y) * out_w + x0 + x] = std::min(1.0f, std::max(-1.0f, v));
            }
    }
  return video;
}

}  // namespace wan
