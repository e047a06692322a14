// Runs one attention backend through its interface on tokens given in RASTER order (t, h, w):
// permutes them into the backend's declared token order, converts to the device's dtype (f32
// on the CPU, bf16 on CUDA), plans into a workspace of its own, runs, and returns the output
// in raster order. Used by `repro attention` (a backend held against another implementation
// on the same tensors) and by the every-backend consistency test. Not for the model's hot
// path (it allocates).
#pragma once

#include <vector>

#include "engine/attention/attention_backend.h"

namespace wan {

struct AttentionRun {
  Tensor out;                         // f32 [batch, tokens, heads, head_dim], raster order, host
  std::vector<double> milliseconds;   // one per timed run (CUDA events on GPUs, wall clock on the CPU)
  std::string implementation;         // the kernels that ran
};

// q, k, v (and the optional gate): host tensors f32/bf16/f16 [batch, tokens, heads, head_dim],
// raster order, with shape.q_tokens == shape.kv_tokens tokens (self-attention over the grid of
// `shape`; frames = 0 for a backend without a grid). `timed_runs` runs after one warm-up run.
// layer_param / layer_param_bias: the backend's own per-layer Linear(head_dim, head_dim)
// (sparse_linear's proj_l), host float [head_dim, head_dim] and [head_dim]; null = absent.
Result<AttentionRun> run_attention_on_raster_tokens(const AttentionConfig& config, const AttentionShape& shape,
                                                    const Tensor& q, const Tensor& k, const Tensor& v,
                                                    const Tensor* gate, float scale, int timed_runs = 0,
                                                    const Tensor* layer_param = nullptr,
                                                    const Tensor* layer_param_bias = nullptr);

}  // namespace wan
