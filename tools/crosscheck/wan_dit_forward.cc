// wan_dit_forward: exports what an independent implementation needs to check our DiT forward:
// the weights as a diffusers-layout safetensors file, and one forward's inputs and output.
//   wan_dit_forward --model wan-small --weights synthetic:0 --precision fp32 --timestep 757
//       --frames 17 --height 240 --width 416 --save-weights W.safetensors --io IO.safetensors
// IO holds latents f32 [1,16,T',H/8,W/8], context f32 [1,text_len,text_dim], timestep i64 [1]
// and output f32 [1,16,T',H/8,W/8]. Used by tools/diffusers_crosscheck.py.
#include <cstdio>
#include <string>
#include <vector>

#include "engine/core/rng.h"
#include "tools/crosscheck/tool_flags.h"
#include "engine/model/safetensors.h"
#include "engine/model/wan_dit_cpu.h"

namespace {

using wan::tools::flag;
int fail(const wan::Status& s) { return wan::tools::fail("wan_dit_forward", s); }

}  // namespace

int main(int argc, char** argv) {
  using namespace wan;
  const std::string io_path = flag(argc, argv, "io", "");
  if (io_path.empty()) {
    std::fprintf(stderr, "usage: wan_dit_forward --io IO.safetensors [--save-weights W.safetensors] "
                         "[--model wan-small] [--weights synthetic:0|PATH] [--precision fp32|bf16] "
                         "[--timestep 757] [--frames F --height H --width W] [--seed 1]\n");
    return 2;
  }
  auto config = resolve_config(flag(argc, argv, "model", "wan-small"));
  if (!config.ok()) return fail(config.status());
  const std::string weights_arg = flag(argc, argv, "weights", "synthetic:0");
  auto weights = weights_arg.rfind("synthetic:", 0) == 0
                     ? WanWeights::synthetic(config.value(), std::stoull(weights_arg.substr(10)))
                     : WanWeights::load(config.value(), weights_arg);
  if (!weights.ok()) return fail(weights.status());
  const std::string save = flag(argc, argv, "save-weights", "");
  if (!save.empty()) {
    const Status s = weights->save(save);
    if (!s.ok()) return fail(s);
  }
  auto precision = parse_precision(flag(argc, argv, "precision", "fp32"));
  if (!precision.ok()) return fail(precision.status());
  const WanConfig& c = config.value();
  auto grid = latent_grid(c, std::stoll(flag(argc, argv, "frames", std::to_string(c.default_frames))),
                          std::stoll(flag(argc, argv, "height", std::to_string(c.default_height))),
                          std::stoll(flag(argc, argv, "width", std::to_string(c.default_width))));
  if (!grid.ok()) return fail(grid.status());
  const uint64_t seed = std::stoull(flag(argc, argv, "seed", "1"));
  const int64_t timestep = std::stoll(flag(argc, argv, "timestep", "757"));
  Tensor latents = Tensor::empty({1, c.in_channels, grid->latent_frames, grid->latent_height, grid->latent_width},
                                 DType::kF32).value();
  Tensor context = Tensor::empty({1, c.text_len, c.text_dim}, DType::kF32).value();
  if (Status s = fill_normal(latents, seed, 0); !s.ok()) return fail(s);
  if (Status s = fill_normal(context, seed, 1); !s.ok()) return fail(s);
  auto model = WanDitCpu::create(weights.value(), precision.value());
  if (!model.ok()) return fail(model.status());
  auto out = model.value()->forward(latents.select(0, 0).value(), timestep, context.select(0, 0).value());
  if (!out.ok()) return fail(out.status());
  Tensor t = Tensor::empty({1}, DType::kI64).value();
  t.data<int64_t>()[0] = timestep;
  const Status s = write_safetensors(io_path, {{"latents", latents},
                                               {"context", context},
                                               {"timestep", t},
                                               {"output", out->reshape(latents.shape()).value()}},
                                     {{"precision", std::string(precision_name(precision.value()))},
                                      {"model", c.name}});
  if (!s.ok()) return fail(s);
  std::printf("wrote %s (output %s)%s%s\n", io_path.c_str(), shape_to_string(latents.shape()).c_str(),
              save.empty() ? "" : ", weights ", save.c_str());
  return 0;
}
