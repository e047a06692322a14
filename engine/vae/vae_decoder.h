// The Wan VAE decoder: latents [z, T, h, w] -> video [3, 1 + 4 (T - 1), 8h, 8w] in [-1, 1],
// decoded one latent frame at a time with a two-frame cache per causal convolution, exactly
// as diffusers' AutoencoderKLWan._decode (spec: ../shared/spec/ENGINE.md, VAE decoder).
//
// The graph is written once (VaeDecoder) over VaeOps, the handful of operations a backend
// implements (CPU reference: vae_ops_cpu.h; CUDA: vae_ops_cuda.h). Activations are
// contiguous [C, T, H, W] tensors on the backend's device in its activation dtype.
//
// Frame-at-a-time semantics (what the cache reproduces): every causal 3x3x3 convolution sees
// the whole sequence of its inputs with two zero frames in front; its cache holds the last two
// input frames. An upsample3d time_conv skips latent frame 0 (which stays one frame: diffusers'
// "Rep" marker) and then sees the later frames with two zero frames in front; it doubles the
// frame count by splitting its 2C output channels into frames 2t (first C) and 2t+1.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/core/status.h"
#include "engine/core/tensor.h"
#include "engine/vae/vae_config.h"
#include "engine/vae/vae_tiling.h"
#include "engine/vae/vae_weights.h"

namespace wan {

// What a backend computes. Weight names are the diffusers names without ".weight"/".bias"
// ("decoder.conv_in"); a backend prepares (converts, packs) each weight once.
class VaeOps {
 public:
  virtual ~VaeOps() = default;
  virtual Device device() const = 0;
  virtual std::string describe() const = 0;  // "cpu f32", "cuda bf16 (cuDNN 9.10 conv)"

  // latents f32 [z, T, h, w] (host or device) -> activation [z, T, h, w]: z * std + mean.
  virtual Result<Tensor> denormalize(const Tensor& latents) = 0;
  // Convolution with the weight [Cout, Cin, kt, kh, kw] (or [Cout, Cin, kh, kw]: kt = 1), zero
  // spatial padding kh/2, kw/2, plus bias, plus `residual` [Cout, T, H, W] when defined.
  // kt == 3: causal in time, `history` [Cin, 2, H, W] holds the two input frames before x
  // (undefined: zeros); output frame t sees history/x frames t, t+1, t+2 of [history, x].
  // kt == 1: history is ignored. x [Cin, T, H, W] -> [Cout, T, H, W].
  virtual Result<Tensor> conv(const Tensor& x, const Tensor& history, const std::string& weight,
                              const Tensor& residual) = 0;
  // F.normalize over channels * sqrt(C) * gamma, then SiLU when `silu`. [C,T,H,W] -> same.
  virtual Result<Tensor> rms_norm(const Tensor& x, const std::string& gamma, bool silu) = 0;
  // Single-head attention over each frame's H*W tokens, head_dim C, scale C^-0.5: q, k, v are
  // channel groups [0,C), [C,2C), [2C,3C) of qkv [3C, T, H, W] -> [C, T, H, W].
  virtual Result<Tensor> attention(const Tensor& qkv) = 0;
  // Nearest 2x spatial upsampling: [C, T, H, W] -> [C, T, 2H, 2W].
  virtual Result<Tensor> upsample2x(const Tensor& x) = 0;
  // [2C, T, H, W] -> [C, 2T, H, W]: output frame 2t + j is input channels [jC, (j+1)C) of frame t.
  virtual Result<Tensor> split_time(const Tensor& x) = 0;
  // The last two frames of [history, x] (history undefined: zeros): [C, 2, H, W].
  virtual Result<Tensor> next_history(const Tensor& history, const Tensor& x);
  // Activation -> host f32 (the decoder's output), clamped to [-1, 1] when `clamp` (tiles of a
  // tiled decode are blended before the clamp).
  virtual Result<Tensor> finish(const Tensor& x, bool clamp) = 0;
  // Waits until every op issued so far has finished (a backend whose ops are asynchronous on a
  // stream): the decoder calls it before an observer reads an activation.
  virtual Status synchronize() { return Status(); }
  // Libraries outside the build whose version can change this backend's bits (cuDNN for the
  // CUDA convolutions), as fingerprint-class fields: {"cudnn_version", 91400}.
  virtual std::vector<std::pair<std::string, int64_t>> bit_libraries() const { return {}; }
};

// Sees the decoder's intermediate activations (repro trace): latent frame index, op name
// ("post_quant_conv", "mid.attention", "up1.res2", "head"), the activation on the backend's
// device. Mutable so a debug perturbation can change it before the next op reads it.
class VaeObserver {
 public:
  virtual ~VaeObserver() = default;
  virtual void on_vae_op(int64_t latent_frame, std::string_view name, Tensor& x) = 0;
};

struct VaeProgress {
  int64_t latent_frame, latent_frames;
  double seconds;  // this latent frame's wall time
};

class VaeDecoder {
 public:
  // ops must have been made from *weights (they keep references to it; the decoder keeps it
  // alive for them).
  VaeDecoder(std::shared_ptr<const VaeWeights> weights, std::unique_ptr<VaeOps> ops);

  // latents f32 [z, T, h, w] or [1, z, T, h, w] on any device (normalised, as the DiT gives
  // them) -> host f32 [3, video_frames(T), 8h, 8w], clamped to [-1, 1]. INVALID_ARGUMENT for a
  // wrong channel count or rank (the message says what was expected).
  Result<Tensor> decode(const Tensor& latents, VaeObserver* observer = nullptr,
                        const std::function<void(const VaeProgress&)>& progress = nullptr,
                        const VaeTiling& tiling = {});

  const WanVaeConfig& config() const { return config_; }
  VaeOps& ops() { return *ops_; }
  std::string describe() const;

 private:
  struct Caches;  // one history per causal convolution, by name
  Result<Tensor> residual_block(const std::string& prefix, const Tensor& x, Caches& caches);
  Result<Tensor> attention_block(const std::string& prefix, const Tensor& x);
  Result<Tensor> decode_frame(int64_t t, const Tensor& z, Caches& caches, VaeObserver* observer,
                              const std::string& tag);
  // Decodes latents[:, :, y0:y1, x0:x1] (host f32 [z, T, h, w]) with fresh caches into
  // video[:, :, 8 y0:8 y1, 8 x0:8 x1] unclamped (host f32 [3, T', H, W], any stride...).
  Result<Tensor> decode_region(const Tensor& latents, int64_t y0, int64_t y1, int64_t x0, int64_t x1,
                               VaeObserver* observer, const std::string& tag, bool clamp,
                               const std::function<void(const VaeProgress&)>& progress);

  std::shared_ptr<const VaeWeights> weights_;  // declared before ops_: outlives it
  WanVaeConfig config_;
  std::unique_ptr<VaeOps> ops_;
};

// Builds the decoder on `device` ("cpu" or "cuda[:N]"); precision "fp32" (CPU only: all-fp32
// reference) or "bf16" (the GPU path; on the CPU its rounding points emulated). The decoder
// holds its own copy of `weights` (tensors are shared, not copied).
// On CUDA, conv_engine picks the convolution engine (it changes bits: a recorded choice),
// cudnn_path where cuDNN is looked for first ("" = search), and cuda_stream (a cudaStream_t;
// null: the legacy default stream) the stream the decode runs on: the DiT's
// (DitModel::cuda_stream()) for the pipeline's decode stage.
enum class VaeConvEngine {
  kCudnn,   // cuDNN found at run time (kernels/vae/cudnn_conv.h), bias + residual epilogue
  kIm2col,  // im2col panels x cuBLASLt, fp32 accumulators, one rounding (no cuDNN needed)
};
Result<std::unique_ptr<VaeDecoder>> make_vae_decoder(const VaeWeights& weights, Device device,
                                                     const std::string& precision,
                                                     VaeConvEngine conv_engine = VaeConvEngine::kCudnn,
                                                     const std::string& cudnn_path = "",
                                                     void* cuda_stream = nullptr);

}  // namespace wan
