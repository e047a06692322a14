// The DiT as the pipeline sees it, whatever the device: one batch-1 forward from f32 latents
// to the f32 velocity prediction. WanDitCpu implements it; the CUDA model will too.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/attention/attention_backend.h"
#include "engine/core/status.h"
#include "engine/core/tensor.h"
#include "engine/model/config.h"
#include "engine/model/forward_observer.h"

namespace wan {

// Which call of the denoising loop a forward serves (backends may depend on it).
struct ForwardCall {
  int step = 0;
  CfgBranch branch = CfgBranch::kCond;
};

class DitModel {
 public:
  virtual ~DitModel() = default;
  // latents: f32 [16, T', H/8, W/8] (host); context: f32 [text_len, text_dim] (host);
  // returns f32 [16, T', H/8, W/8] (host).
  virtual Result<Tensor> forward(const Tensor& latents, int64_t timestep, const Tensor& context,
                                 ForwardObserver* observer, const ForwardCall& call = ForwardCall()) = 0;
  virtual const WanConfig& config() const = 0;
  virtual Device device() const = 0;
  virtual std::string describe() const = 0;  // "cpu bf16, attention dense"
  // Kernels and algorithms chosen so far (GEMM algorithms, attention kernels), for reports.
  virtual std::vector<std::string> kernel_choices() const { return {}; }
  // The CUDA stream (a cudaStream_t) the forward runs on, null for host models: later stages of
  // a pipeline (the VAE decode) queue on it.
  virtual void* cuda_stream() const { return nullptr; }
};

}  // namespace wan
