// Benchmark helper: the dense main loop (the all-blocks schedule, 128 x 128 tiling) timed on the
// caller's device q, k, v and out, packed [1, tokens, heads, head_dim]: the figure the sparse
// backends' benchmarks state their time against, measured in the same binary and call. Sets the
// kernel name as label and the launch_time and TFLOP/s (4 * heads * tokens^2 * head_dim) counters.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include <benchmark/benchmark.h>

#include "kernels/attention/block_sparse/block_sparse_attention_sm90.h"
#include "kernels/common/testing/cuda_benchmark.h"

namespace wan::testing {

inline void time_dense_main_loop(benchmark::State& state, int heads, int head_dim, int tokens, const uint16_t* q,
                                 const uint16_t* k, const uint16_t* v, uint16_t* out) {
  const BlockSparseAttentionParams b = dense_block_sparse_params(packed_attention_params(
      1, heads, head_dim, tokens, tokens, q, k, v, out, 1.0f / std::sqrt(static_cast<float>(head_dim))));
  const std::string reason = block_sparse_attention_sm90_unsupported_reason(b);
  if (!reason.empty()) {
    state.SkipWithError(reason.c_str());
    return;
  }
  state.SetLabel(block_sparse_attention_sm90_name(b));
  DeviceBuffer workspace(block_sparse_attention_sm90_workspace_bytes(b));
  time_cuda(state, [&](cudaStream_t s) { launch_block_sparse_attention_sm90(b, workspace.as<void>(), s); });
  state.counters["launch_time"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                     benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["TFLOP/s"] = benchmark::Counter(
      4.0 * heads * static_cast<double>(tokens) * tokens * head_dim * state.iterations() / 1e12,
      benchmark::Counter::kIsRate);
}

}  // namespace wan::testing
