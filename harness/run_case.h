// A run case: everything that defines one generation (model, weights, backend, device,
// precision and the GenerationRequest), its canonical JSON, its golden-file id, and the
// pipeline built from it. Shared by `repro run`, `repro golden`, `repro trace` and the tests.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/core/status.h"
#include "engine/sampler/pipeline.h"
#include "engine/vae/vae_decoder.h"
#include "harness/fingerprint.h"

namespace wan {

struct RunCase {
  std::string model = "wan-tiny";       // config name or .json path
  std::string weights = "synthetic:0";  // "synthetic:SEED" or a checkpoint path
  std::string backend = "dense";
  std::string device = "auto";          // auto | cpu | cuda | cuda:N
  std::string precision = "bf16";       // bf16 | fp32
  // Decoding: "" (the run ends at latents), "synthetic:SEED" or a VAE checkpoint path; the VAE
  // architecture by name or config.json path (a checkpoint folder's own config.json wins).
  std::string vae;
  std::string vae_config = "wan2.1-vae";
  // CUDA decoding's convolution engine: "cudnn" (found at run time) or "im2col" (cuBLASLt); the
  // two give different bits, so CUDA decoding cases record it.
  std::string vae_conv = "cudnn";
  // Spatial tiling of the decode, "TILE,STRIDE" output pixels (diffusers: 256,192); "" off.
  std::string vae_tiling;
  // Where cuDNN is looked for first (a file or folder; "" = search). A location, not part of
  // the case: the cuDNN version found is reported with the decoder.
  std::string cudnn_path;
  GenerationRequest request;

  // Fills size/steps/guidance/shift left at -1 from the model config's defaults and resolves
  // device "auto". Call once after parsing flags.
  Status resolve();
  nlohmann::json to_json() const;
  static Result<RunCase> from_json(const nlohmann::json& j);
  // Golden file stem: "<model>.<backend>.<precision>.<device type>.<8 hex of the case JSON>".
  std::string case_id() const;
  // The `repro run` flags that reproduce this case exactly (doubles at full precision), as
  // separate arguments, and joined for display.
  std::vector<std::string> to_args() const;
  std::string to_flags() const;
};

// Loads the weights and builds the DiT and pipeline for the case (CPU only so far).
Result<std::unique_ptr<Pipeline>> build_pipeline(const RunCase& run_case);

// The case's VAE decoder on its device and precision; nullptr when the case does not decode.
// With `denoise_stage`, the decoder is that pipeline's decode stage: on CUDA it runs on the
// DiT's stream (DitModel::cuda_stream()), so denoising and decoding queue on one stream.
// Null: the decoder runs alone (the legacy default stream). The bits are the same either way.
Result<std::unique_ptr<VaeDecoder>> build_vae_decoder(const RunCase& run_case, const Pipeline* denoise_stage);

// The environment fingerprint of a run of this case: make_fingerprint(device), plus in the
// class the cuDNN version (cudnn_version) when the case decodes on CUDA with the cuDNN engine,
// found where the decoder would find it (cuDNN's kernels change the frames' bits). A cuDNN that
// cannot be found adds nothing (the decode then fails and says where it looked).
Fingerprint case_fingerprint(const RunCase& run_case);

// One generation of the case and the hashes a golden records: the latents' SHA-1 and, when
// `decoder` is given, the decoded frames' SHA-1 (sha1_frames; "" without a decoder).
struct CaseHashes {
  std::string latents_sha1, frames_sha1;
};
Result<CaseHashes> generate_case_hashes(Pipeline& pipeline, VaeDecoder* decoder, const RunCase& run_case,
                                        const std::function<void(const StepProgress&)>& progress = nullptr);

}  // namespace wan
