// The CPU reference backend of the VAE decoder: f32 with fixed summation orders (im2col rows
// times the packed weight through cpu::linear_f32, k in (ci, dt, dy, dx) order then + bias;
// norms with a double sum of squares; attention through cpu::attention_dense_f32), so results
// are the same on every x86-64 machine and thread count. With round_bf16 it emulates the GPU
// path's rounding points: weights, the denormalised input and every op's output are rounded
// to bf16 (a convolution's residual is added in f32 before its single rounding).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/vae/vae_decoder.h"

namespace wan {

class VaeOpsCpu : public VaeOps {
 public:
  VaeOpsCpu(const VaeWeights& weights, bool round_bf16);

  Device device() const override { return Device::cpu(); }
  std::string describe() const override;
  Result<Tensor> denormalize(const Tensor& latents) override;
  Result<Tensor> conv(const Tensor& x, const Tensor& history, const std::string& weight,
                      const Tensor& residual) override;
  Result<Tensor> rms_norm(const Tensor& x, const std::string& gamma, bool silu) override;
  Result<Tensor> attention(const Tensor& qkv) override;
  Result<Tensor> upsample2x(const Tensor& x) override;
  Result<Tensor> split_time(const Tensor& x) override;
  Result<Tensor> finish(const Tensor& x, bool clamp) override;

 private:
  struct PackedConv {
    int64_t out = 0, in = 0, kt = 1, kh = 1, kw = 1;
    std::vector<float> w_t;   // [in*kt*kh*kw, out] (cpu::pack_linear_weight)
    std::vector<float> bias;  // [out]
  };
  Result<const PackedConv*> packed(const std::string& weight);
  void maybe_round(Tensor& t) const;

  const VaeWeights& weights_;
  bool round_bf16_;
  std::map<std::string, PackedConv> packed_;
};

}  // namespace wan
