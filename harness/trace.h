// `repro trace`: a SHA-1 chain over every intermediate tensor of a generation, keyed by
// (step, branch, block, op), optional dumps of chosen tensors, a debug perturbation of one op
// by one ULP, and the diff of two traces that names the FIRST divergent op with error figures.
// Cost: one SHA-1 pass over each op output (about 1 GB/s), cheap for the small configs.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/core/status.h"
#include "engine/sampler/pipeline.h"
#include "engine/vae/vae_decoder.h"
#include "harness/trace_file.h"

namespace wan {

// "step:branch:block:op" with '*' wildcards, e.g. "3:cond:1:norm3", "*:*:-1:head_out". The VAE
// decoder's ops are step -1, branch "vae", block = latent frame: "-1:vae:2:up1.res0".
struct OpSelector {
  std::string step = "*", branch = "*", block = "*", op = "*";
  static Result<OpSelector> parse(const std::string& text);
  bool matches(int step, std::string_view branch, int block, std::string_view op) const;
};

// Records the chain; dumps the outputs of ops matching any selector.
class TraceRecorder : public GenerationObserver, public VaeObserver {
 public:
  explicit TraceRecorder(std::vector<OpSelector> dump_selectors = {})
      : dump_selectors_(std::move(dump_selectors)) {}
  void on_forward_begin(int step, int64_t timestep, std::string_view branch) override;
  void on_op(int block, std::string_view op, Tensor& output) override;
  void on_step_end(int step, const Tensor& latents) override;
  void on_vae_op(int64_t latent_frame, std::string_view name, Tensor& x) override;

  const std::vector<TraceRecord>& records() const { return records_; }
  // Dumped tensors by op_key (f32 copies).
  const std::vector<std::pair<std::string, Tensor>>& dumps() const { return dumps_; }

 private:
  void record(int block, std::string_view op, const Tensor& output);
  std::vector<OpSelector> dump_selectors_;
  std::vector<TraceRecord> records_;
  std::vector<std::pair<std::string, Tensor>> dumps_;
  std::string chain_ = std::string(40, '0');
  int step_ = 0;
  std::string branch_ = "cond";
};

// Debug: adds one ULP (bf16 ULP when the value is bf16-representable, else f32) to element 0
// of the output of the op matching `where` (first match only).
class PerturbObserver : public GenerationObserver, public VaeObserver {
 public:
  explicit PerturbObserver(OpSelector where) : where_(std::move(where)) {}
  void on_forward_begin(int step, int64_t timestep, std::string_view branch) override;
  void on_op(int block, std::string_view op, Tensor& output) override;
  void on_vae_op(int64_t latent_frame, std::string_view name, Tensor& x) override;
  bool fired() const { return fired_; }

 private:
  OpSelector where_;
  int step_ = 0;
  std::string branch_;
  bool fired_ = false;
};

// Forwards every callback to each observer in order (perturbation before tracing).
class ObserverChain : public GenerationObserver, public VaeObserver {
 public:
  explicit ObserverChain(std::vector<GenerationObserver*> observers, std::vector<VaeObserver*> vae = {})
      : observers_(std::move(observers)), vae_observers_(std::move(vae)) {}
  void on_forward_begin(int step, int64_t timestep, std::string_view branch) override;
  void on_op(int block, std::string_view op, Tensor& output) override;
  void on_step_end(int step, const Tensor& latents) override;
  void on_vae_op(int64_t latent_frame, std::string_view name, Tensor& x) override;

 private:
  std::vector<GenerationObserver*> observers_;
  std::vector<VaeObserver*> vae_observers_;
};

// The trace document (JSON) for a finished generation. `dump_file` names the safetensors file
// with the dumps ("" if none), `command` the argv that reproduces the run.
nlohmann::json trace_to_json(const TraceRecorder& recorder, const nlohmann::json& run_case,
                             const nlohmann::json& fingerprint, const std::string& final_sha1,
                             const std::vector<std::string>& command, const std::string& dump_file);

struct ErrorStats {
  int64_t count = 0, differing = 0;
  double max_abs = 0, rel_l2 = 0;
  int64_t max_ulp_f32 = 0;
  int64_t max_ulp_bf16 = -1;  // -1 when the values are not all bf16-representable
  nlohmann::json to_json() const;
};
ErrorStats compare_f32(const float* a, const float* b, int64_t count);

}  // namespace wan
