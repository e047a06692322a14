// The CUDA backend of the VAE decoder: bf16 activations [C, T, H, W] on one GPU, fp32
// accumulation, the CPU reference's bf16 rounding points (vae_ops_cpu.h with round_bf16):
// weights, the denormalised input and every op's output rounded to bf16. Convolutions run on
// one of two engines (VaeConvEngine, recorded in describe()): cuDNN found at run time (bf16
// output, then bias and residual added in fp32 and rounded again), or im2col panels times the
// bf16 weight through cuBLASLt (fp32 output, bias and residual before one rounding: the CPU
// reference's exact rounding points). Attention is two GEMMs around a row-softmax kernel.
// Deterministic algorithms only; bit-identical run to run.
// Not here: fp32 decoding on the GPU (the CPU reference does that), tiling of the attention.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include "engine/vae/vae_decoder.h"
#include "kernels/vae/cudnn_conv.h"
#include "kernels/vae/vae_kernels.h"

namespace wan {

struct VaeOpsCudaOptions {
  VaeConvEngine conv_engine = VaeConvEngine::kCudnn;
  std::string cudnn_path;  // "" = search (CudnnLibrary::load)
  size_t max_cudnn_workspace_bytes = size_t{512} << 20;
  // im2col panel bound: a convolution's pixels are processed in row panels of at most this
  // many bytes of bf16 columns (K = Cin*27 bf16 per pixel).
  size_t max_column_bytes = size_t{256} << 20;
  size_t gemm_workspace_bytes = size_t{32} << 20;
  // The stream every op runs on: the DiT's (WanDitCuda::stream()) when the decoder is the
  // pipeline's decode stage, so the two stages queue on one stream with no hand-over
  // synchronisation; the legacy default stream when decoding alone.
  cudaStream_t stream = cudaStreamLegacy;
};

class VaeOpsCuda : public VaeOps {
 public:
  // `weights` must outlive the ops (each conv weight is converted to bf16 and uploaded on its
  // first use, by name). Errors: UNAVAILABLE when `device` is not a usable CUDA device,
  // INVALID_ARGUMENT for a non-CUDA device.
  static Result<std::unique_ptr<VaeOpsCuda>> create(const VaeWeights& weights, Device device,
                                                    const VaeOpsCudaOptions& options = {});
  ~VaeOpsCuda() override;
  // Owns a cuBLASLt handle and device buffers; copying would free them twice.
  VaeOpsCuda(const VaeOpsCuda&) = delete;
  VaeOpsCuda& operator=(const VaeOpsCuda&) = delete;

  Device device() const override { return device_; }
  std::string describe() const override;

  // Every op below is asynchronous on options.stream and takes / returns contiguous bf16
  // tensors on device(); outputs are fresh allocations. finish() and synchronize() wait for
  // the stream (a host read of an activation, Tensor::copy_from, waits only for the legacy
  // default stream: call synchronize() first).
  Result<Tensor> denormalize(const Tensor& latents) override;  // f32 on the host or device()
  Result<Tensor> conv(const Tensor& x, const Tensor& history, const std::string& weight,
                      const Tensor& residual) override;
  Result<Tensor> rms_norm(const Tensor& x, const std::string& gamma, bool silu) override;
  Result<Tensor> attention(const Tensor& qkv) override;
  Result<Tensor> upsample2x(const Tensor& x) override;
  Result<Tensor> split_time(const Tensor& x) override;
  Result<Tensor> next_history(const Tensor& history, const Tensor& x) override;
  Result<Tensor> finish(const Tensor& x, bool clamp) override;  // host f32
  Status synchronize() override;
  std::vector<std::pair<std::string, int64_t>> bit_libraries() const override;

  // The most device memory the decode's buffers held at once (live activations and scratch:
  // comparable to torch.cuda.max_memory_allocated above the weights), since creation.
  size_t peak_activation_bytes() const { return peak_bytes_; }

  // "name: algo ..." for every GEMM and cuDNN plan made so far (reports).
  std::vector<std::string> gemm_plans() const;

 private:
  VaeOpsCuda(const VaeWeights& weights, Device device, const VaeOpsCudaOptions& options);

  struct DeviceConv {
    int64_t out = 0, in = 0, kt = 1, kh = 1, kw = 1;
    int64_t k = 0, k_padded = 0;  // in*kt*kh*kw, rounded up to 8 (16-byte GEMM rows)
    Tensor weight;                // bf16 [out, k_padded], zeros past k
    Tensor bias;                  // f32 [out], values rounded to bf16
  };
  Result<const DeviceConv*> prepared_conv(const std::string& weight);
  Result<Tensor> conv_cudnn(const Tensor& x, const Tensor& history, const std::string& weight, const DeviceConv& c,
                            const Tensor& residual);
  // A bf16 activation from a pool of freed blocks (one stream orders every use, so a block
  // released by a tensor can be handed out again at once): no cudaMalloc/cudaFree per op.
  Result<Tensor> activation(const Shape& shape);
  Result<const Tensor*> prepared_gamma(const std::string& gamma);
  Result<const CublasLtGemmF32Out*> gemm(const GemmF32OutShape& shape);
  // Grow-only scratch buffer `slot`, reused across calls (one stream orders every use).
  Result<void*> scratch(int slot, size_t bytes);
  Status check_activation(const Tensor& x, const char* op) const;

  const VaeWeights& weights_;
  Device device_;
  VaeOpsCudaOptions options_;
  cudaStream_t stream_ = cudaStreamLegacy;
  cublasLtHandle_t cublas_ = nullptr;
  Tensor workspace_;  // cuBLASLt workspace, gemm_workspace_bytes
  std::map<std::string, DeviceConv> convs_;
  std::map<std::string, Tensor> gammas_;  // f32 [C] on the device, rounded to bf16
  Tensor latents_std_, latents_mean_;     // f32 [z_dim] on the device
  std::map<GemmF32OutShape, std::unique_ptr<CublasLtGemmF32Out>> gemms_;
  std::vector<Tensor> scratch_;
  struct BlockPool;
  std::shared_ptr<BlockPool> pool_;
  void note_peak();
  size_t scratch_bytes_ = 0, peak_bytes_ = 0;
  const CudnnLibrary* cudnn_ = nullptr;
  std::unique_ptr<CudnnHandle> cudnn_handle_;
  std::map<std::string, std::unique_ptr<CudnnConv>> cudnn_convs_;  // by weight and shape
};

}  // namespace wan
