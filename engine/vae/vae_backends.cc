// make_vae_decoder: the backend table of the VAE decoder (CPU reference; CUDA when built).
#include "engine/vae/vae_decoder.h"
#include "engine/vae/vae_ops_cpu.h"

namespace wan {

Result<std::unique_ptr<VaeDecoder>> make_vae_decoder(const VaeWeights& weights, Device device,
                                                     const std::string& precision) {
  if (precision != "fp32" && precision != "bf16")
    return invalid_argument("VAE precision must be fp32 or bf16, got '" + precision + "'");
  auto own = std::make_shared<const VaeWeights>(weights);
  if (device.is_cpu())
    return std::make_unique<VaeDecoder>(own, std::make_unique<VaeOpsCpu>(*own, precision == "bf16"));
  return unimplemented("the CUDA VAE decoder is not built yet; decode on the CPU (--vae-device cpu)");
}

}  // namespace wan
