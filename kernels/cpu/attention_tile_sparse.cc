#include "kernels/cpu/attention_tile_sparse.h"

#include <algorithm>

#include "kernels/common/float16.h"
#include "kernels/common/portable_math.h"

namespace wan::cpu {

void attend_row_over_tiles_f32(const TileSparseRowArgs& a, const float* q_row, const int32_t* tiles, int64_t n_tiles,
                               std::vector<float>* scores, float* out) {
  const int64_t d = a.head_dim;
  scores->clear();
  for (int64_t t = 0; t < n_tiles; ++t) {
    for (int64_t kr = a.tile_start[tiles[t]]; kr < a.tile_start[tiles[t] + 1]; ++kr) {
      const float* kj = a.k + kr * a.row_stride;
      float s = 0.0f;
      for (int64_t c = 0; c < d; ++c) s = portable::add(s, portable::mul(q_row[c], kj[c]));
      scores->push_back(s);
    }
  }
  float m = (*scores)[0];
  for (float s : *scores) m = std::max(m, s);
  const float scale_log2e = portable::mul(a.scale, portable::kLog2eF);
  float l = 0.0f;
  std::fill(out, out + d, 0.0f);
  size_t n = 0;
  for (int64_t t = 0; t < n_tiles; ++t) {
    for (int64_t kr = a.tile_start[tiles[t]]; kr < a.tile_start[tiles[t] + 1]; ++kr, ++n) {
      const float e = portable::exp2f(portable::mul(portable::sub((*scores)[n], m), scale_log2e));
      l = portable::add(l, e);
      const float pe = a.round_p ? round_to_bf16(e) : e;
      const float* vj = a.v + kr * a.row_stride;
      for (int64_t c = 0; c < d; ++c) out[c] = portable::add(out[c], portable::mul(pe, vj[c]));
    }
  }
  const float inv_l = portable::div(1.0f, l);
  for (int64_t c = 0; c < d; ++c) out[c] = portable::mul(out[c], inv_l);
}

}  // namespace wan::cpu
