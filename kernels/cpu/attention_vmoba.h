// CPU reference video mixture-of-block attention (VMoBA, ATTENTION.md "video_moba"; FastVideo's
// fastvideo/attention/backends/vmoba.py and fastvideo-kernel's vmoba.py, numerics in
// reports/2026-12-01-sla-vmoba-reference-numerics.md). Raster tokens of a (T, H, W) grid.
// Layer l chunks the grid by l % 3: 0 temporal (temporal_chunk whole frames; the last chunk may
// be partial), 1 spatial (a ch x cw tile across all frames), 2 spatio-temporal (ct x ch x cw);
// spatial and spatio-temporal chunks must divide the grid. Per (head, query):
//   gate[c] = mean over chunk c of k . q (unscaled);
//   min-max normalised over chunks (a range <= 1e-6 counts as 1); self = the query's chunk;
//   remain = max(0, threshold - g[self] / (sum_c g + 1e-6)); the other chunks (self zeroed) in
//   descending order (ties: lower index first) are taken up to and including the first whose
//   cumulative share reaches remain (so at least one other chunk), self removed again;
//   out = softmax attention over the keys of the self chunk and the selected chunks (what
//   FastVideo's log-sum-exp merge of the two branches computes, up to rounding).
// One chunk only: dense. Sums in double; round_to_bf16: bf16 gate and P (flash-attn's), bf16
// output.
#pragma once

#include <cstdint>
#include <vector>

namespace wan::cpu {

struct VmobaParams {
  const float* q = nullptr;  // [batch, tokens, heads, head_dim], raster (t, h, w)
  const float* k = nullptr;
  const float* v = nullptr;
  float* out = nullptr;
  int64_t batch = 1, heads = 1, head_dim = 64;
  int64_t frames = 0, height = 0, width = 0;  // tokens = frames * height * width
  float scale = 0.125f;
  int layer = 0;
  int64_t temporal_chunk = 2;         // frames per temporal chunk
  int64_t spatial_chunk[2] = {3, 4};  // (h, w) tokens
  int64_t st_chunk[3] = {4, 6, 4};    // (t, h, w) tokens
  double threshold = 0.25;
  bool round_to_bf16 = false;
};

// The chunk of every raster token for the layer's chunking, and the number of chunks.
// Empty when a spatial or spatio-temporal chunk does not divide the grid.
std::vector<int32_t> vmoba_chunk_of_tokens(const VmobaParams& p, int64_t* chunks);

// The chunks (other than its own) query i of head h in batch b attends, ascending.
std::vector<int32_t> vmoba_select(const VmobaParams& p, const std::vector<int32_t>& chunk_of, int64_t chunks,
                                  int64_t b, int64_t h, int64_t i);

// vmoba_select for every query of (b, h) (the key means computed once): [tokens] lists.
std::vector<std::vector<int32_t>> vmoba_select_all(const VmobaParams& p, const std::vector<int32_t>& chunk_of,
                                                   int64_t chunks, int64_t b, int64_t h);

// False (nothing written) when the layer's chunking does not divide the grid.
bool attention_vmoba_f32(const VmobaParams& p);

}  // namespace wan::cpu
