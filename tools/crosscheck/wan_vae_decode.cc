// wan_vae_decode: exports what diffusers needs to check our VAE decoder, and times ours:
//   wan_vae_decode --vae-config wan2.1-vae --vae synthetic:0 --latents 3,8,8 --seed 1
//       --device cpu --precision fp32 --save-weights W.safetensors --io IO.safetensors
//       [--repeat N] [--vae-conv cudnn|im2col] [--cudnn PATH]      (--io none: time only)
// IO holds latents f32 [1,16,T,h,w] (normalised, as the DiT makes them) and video f32
// [1,3,T',8h,8w] (our decode, clamped to [-1,1]); metadata: device, precision, decoder,
// seconds (per decode), frames_sha1. --repeat decodes N times and fails (exit 1) unless every
// frames hash is the same. Used by tools/vae_crosscheck.py.
#include <chrono>
#include <cstdio>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "engine/core/rng.h"
#include "tools/crosscheck/tool_flags.h"
#include "engine/model/safetensors.h"
#include "engine/vae/vae_decoder.h"
#include "engine/vae/vae_ops_cuda.h"
#include "engine/vae/video_frames.h"
#include "harness/hashing.h"

#include <cuda_runtime_api.h>

namespace {

using wan::tools::flag;
int fail(const wan::Status& s) { return wan::tools::fail("wan_vae_decode", s); }

}  // namespace

int main(int argc, char** argv) {
  using namespace wan;
  const std::string io_path = flag(argc, argv, "io", "");
  if (io_path.empty()) {
    std::fprintf(stderr, "usage: wan_vae_decode --io IO.safetensors [--save-weights W.safetensors] "
                         "[--vae-config wan2.1-vae] [--vae synthetic:0|PATH] [--latents T,h,w] [--seed 1] "
                         "[--device cpu|cuda] [--precision fp32|bf16] [--vae-conv cudnn|im2col] [--cudnn PATH] [--vae-tiling T,S] [--repeat 1]\n");
    return 2;
  }
  auto config = resolve_vae_config(flag(argc, argv, "vae-config", "wan2.1-vae"));
  if (!config.ok()) return fail(config.status());
  const std::string vae = flag(argc, argv, "vae", "synthetic:0");
  auto weights = vae.rfind("synthetic:", 0) == 0 ? VaeWeights::synthetic(config.value(), std::stoull(vae.substr(10)))
                                                 : VaeWeights::load(config.value(), vae);
  if (!weights.ok()) return fail(weights.status());
  const std::string save = flag(argc, argv, "save-weights", "");
  if (!save.empty()) {
    const Status s = weights->save(save);
    if (!s.ok()) return fail(s);
  }
  std::vector<int64_t> dims;
  std::stringstream ss(flag(argc, argv, "latents", "3,8,8"));
  for (std::string item; std::getline(ss, item, ',');) dims.push_back(std::stoll(item));
  if (dims.size() != 3) return fail(invalid_argument("--latents needs T,h,w"));
  auto latents = Tensor::empty({config->z_dim, dims[0], dims[1], dims[2]}, DType::kF32);
  if (!latents.ok()) return fail(latents.status());
  if (Status s = fill_normal(latents.value(), std::stoull(flag(argc, argv, "seed", "1")), 77); !s.ok()) return fail(s);
  auto device = parse_device(flag(argc, argv, "device", "cpu"));
  if (!device.ok()) return fail(device.status());
  const std::string precision = flag(argc, argv, "precision", device->is_cpu() ? "fp32" : "bf16");
  const std::string engine = flag(argc, argv, "vae-conv", "cudnn");
  size_t free_before = 0, total = 0;
  if (device->is_cuda()) cudaMemGetInfo(&free_before, &total);
  auto decoder = make_vae_decoder(weights.value(), device.value(), precision,
                                  engine == "im2col" ? VaeConvEngine::kIm2col : VaeConvEngine::kCudnn,
                                  flag(argc, argv, "cudnn", ""));
  if (!decoder.ok()) return fail(decoder.status());
  const int repeat = std::stoi(flag(argc, argv, "repeat", "1"));
  auto tiling = VaeTiling::parse(flag(argc, argv, "vae-tiling", ""));
  if (!tiling.ok()) return fail(tiling.status());
  std::set<std::string> hashes;
  std::vector<double> seconds;
  Tensor video;
  for (int i = 0; i < repeat; ++i) {
    const auto start = std::chrono::steady_clock::now();
    auto v = decoder.value()->decode(latents.value(), nullptr, nullptr, tiling.value());
    if (!v.ok()) return fail(v.status());
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    auto frames = video_to_frames(v.value());
    if (!frames.ok()) return fail(frames.status());
    hashes.insert(sha1_frames(frames.value()));
    video = v.value();
    std::fprintf(stderr, "decode %d/%d: %.3f s, frames %s\n", i + 1, repeat, seconds.back(),
                 sha1_frames(frames.value()).c_str());
  }
  if (device->is_cuda()) {
    // The decoder keeps what it allocated (pooled activations, scratch, plans), so the memory
    // in use after the decodes is its peak, workspaces and library handles included.
    size_t free_after = 0;
    cudaMemGetInfo(&free_after, &total);
    std::printf("device memory held by the decoder after %d decode(s): %.2f GiB\n", repeat,
                (static_cast<double>(free_before) - static_cast<double>(free_after)) / (1u << 30));
    if (auto* cuda = dynamic_cast<VaeOpsCuda*>(&decoder.value()->ops()))
      std::printf("peak of live activations and scratch (as torch's max_memory_allocated above the weights): %.2f GiB\n",
                  static_cast<double>(cuda->peak_activation_bytes()) / (1u << 30));
  }
  std::string times;
  for (double s : seconds) times += (times.empty() ? "" : ",") + std::to_string(s);
  auto z5 = latents->reshape({1, latents->size(0), dims[0], dims[1], dims[2]});
  auto v5 = video.reshape({1, 3, video.size(1), video.size(2), video.size(3)});
  const Status written = io_path == "none" ? Status() : write_safetensors(io_path, {{"latents", z5.value()}, {"video", v5.value()}},
                                           {{"device", device->to_string()},
                                            {"precision", precision},
                                            {"decoder", decoder.value()->describe()},
                                            {"seconds", times},
                                            {"frames_sha1", *hashes.begin()},
                                            {"tiling", tiling->to_string()}});
  if (!written.ok()) return fail(written);
  std::printf("%s: %d decode(s) of [%lld,%lld,%lld,%lld], %zu distinct frames hash(es) %s; seconds %s\n",
              decoder.value()->describe().c_str(), repeat, static_cast<long long>(config->z_dim),
              static_cast<long long>(dims[0]), static_cast<long long>(dims[1]), static_cast<long long>(dims[2]),
              hashes.size(), hashes.begin()->c_str(), times.c_str());
  return hashes.size() == 1 ? 0 : 1;
}
