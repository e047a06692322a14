// make_vae_decoder: the backend table of the VAE decoder (CPU reference; CUDA when built).
#include "engine/vae/vae_decoder.h"
#include "engine/vae/vae_ops_cpu.h"
#include "engine/vae/vae_ops_cuda.h"

namespace wan {

Result<std::unique_ptr<VaeDecoder>> make_vae_decoder(const VaeWeights& weights, Device device,
                                                     const std::string& precision, VaeConvEngine conv_engine,
                                                     const std::string& cudnn_path, void* cuda_stream) {
  if (precision != "fp32" && precision != "bf16")
    return invalid_argument("VAE precision must be fp32 or bf16, got '" + precision + "'");
  auto own = std::make_shared<const VaeWeights>(weights);
  if (device.is_cpu())
    return std::make_unique<VaeDecoder>(own, std::make_unique<VaeOpsCpu>(*own, precision == "bf16"));
  if (precision != "bf16")
    return invalid_argument("the CUDA VAE decoder runs in bf16 (fp32 accumulation, bf16 activations); use precision "
                            "bf16 on " + device.to_string() + ", or the all-fp32 reference on the CPU (device cpu, "
                            "precision fp32)");
  VaeOpsCudaOptions options;
  options.conv_engine = conv_engine;
  options.cudnn_path = cudnn_path;
  if (cuda_stream) options.stream = static_cast<cudaStream_t>(cuda_stream);
  WAN_ASSIGN_OR_RETURN(std::unique_ptr<VaeOpsCuda> ops, VaeOpsCuda::create(*own, device, options));
  return std::make_unique<VaeDecoder>(own, std::move(ops));
}

}  // namespace wan
