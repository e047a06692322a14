#include "kernels/cpu/attention_video_sparse.h"

#include <algorithm>
#include <vector>

#include "kernels/attention/video_sparse/video_sparse_numerics.h"
#include "kernels/common/float16.h"
#include "kernels/common/portable_math.h"
#include "kernels/cpu/attention_tile_sparse.h"
#include "kernels/cpu/parallel.h"

namespace wan::cpu {

void attention_video_sparse_f32(const VideoSparseAttentionParams& p) {
  const int64_t d = p.head_dim, nt = p.tiles, row = p.heads * d, tokens = p.tile_start[nt];
  auto rnd = [&](float x) { return p.round_to_bf16 ? round_to_bf16(x) : x; };
  for (int64_t b = 0; b < p.batch; ++b) {
    const float* qb = p.q + b * tokens * row;
    const float* kb = p.k + b * tokens * row;
    const float* vb = p.v + b * tokens * row;
    const float* gb = p.gate ? p.gate + b * tokens * row : nullptr;
    float* ob = p.out + b * tokens * row;
    parallel_for(p.heads, 1, [&](int64_t h_begin, int64_t h_end) {
      std::vector<float> qc(static_cast<size_t>(nt * d)), kc(qc.size()), vc(qc.size());
      std::vector<float> scores(static_cast<size_t>(nt)), probs(static_cast<size_t>(nt));
      std::vector<int64_t> order(static_cast<size_t>(nt));
      std::vector<float> key_s, acc(static_cast<size_t>(d)), oc(static_cast<size_t>(d)), fine(static_cast<size_t>(d));
      TileSparseRowArgs row_args;
      row_args.row_stride = row;
      row_args.head_dim = d;
      row_args.tile_start = p.tile_start;
      row_args.scale = p.scale;
      row_args.round_p = p.round_to_bf16;
      for (int64_t h = h_begin; h < h_end; ++h) {
        row_args.k = kb + h * d;
        row_args.v = vb + h * d;
        // 1. Per-tile means (fp32 sums in row order, / valid rows, bf16).
        for (int64_t t = 0; t < nt; ++t) {
          const int64_t r0 = p.tile_start[t];
          const int n = p.tile_tokens[t];
          for (int64_t c = 0; c < d; ++c) {
            const int64_t off = r0 * row + h * d + c;
            qc[t * d + c] = vsa::tile_mean([&](int r) { return qb[off + r * row]; }, n);
            kc[t * d + c] = vsa::tile_mean([&](int r) { return kb[off + r * row]; }, n);
            vc[t * d + c] = vsa::tile_mean([&](int r) { return vb[off + r * row]; }, n);
          }
        }
        for (int64_t i = 0; i < nt; ++i) {
          // 2. Coarse scores and top-k (key descending, index ascending), kept tiles ascending.
          for (int64_t j = 0; j < nt; ++j) {
            scores[j] = vsa::coarse_score([&](int c) { return qc[i * d + c]; }, [&](int c) { return kc[j * d + c]; },
                                          static_cast<int>(d), p.scale);
          }
          for (int64_t j = 0; j < nt; ++j) order[j] = j;
          std::sort(order.begin(), order.end(), [&](int64_t x, int64_t y) {
            const uint32_t kx = vsa::score_key(scores[x]), ky = vsa::score_key(scores[y]);
            return kx != ky ? kx > ky : x < y;
          });
          std::vector<int32_t> kept(order.begin(), order.begin() + p.topk);
          std::sort(kept.begin(), kept.end());
          if (p.selected) {
            int32_t* sel = p.selected + ((b * p.heads + h) * nt + i) * p.topk;
            for (int64_t s = 0; s < p.topk; ++s) sel[s] = static_cast<int32_t>(kept[s]);
          }
          // 3. Coarse output (only needed when a gate multiplies it): fp32 softmax over tiles.
          if (gb) {
            // FastVideo: fp32 softmax rounded to bf16, then a bf16 GEMM with fp32 accumulation.
            float m = scores[0];
            for (int64_t j = 1; j < nt; ++j) m = std::max(m, scores[j]);
            float l = 0.0f;
            for (int64_t j = 0; j < nt; ++j) {
              probs[j] = portable::exp2f(portable::mul(portable::sub(scores[j], m), portable::kLog2eF));
              l = portable::add(l, probs[j]);
            }
            for (int64_t j = 0; j < nt; ++j) probs[j] = rnd(portable::div(probs[j], l));
            std::fill(acc.begin(), acc.end(), 0.0f);
            for (int64_t j = 0; j < nt; ++j)
              for (int64_t c = 0; c < d; ++c) acc[c] = portable::add(acc[c], portable::mul(probs[j], vc[j * d + c]));
            for (int64_t c = 0; c < d; ++c) oc[c] = rnd(acc[c]);
          }
          // 4. Fine branch: each query row over the kept tiles' valid keys, ascending.
          const int64_t q0 = p.tile_start[i];
          for (int64_t r = 0; r < p.tile_tokens[i]; ++r) {
            attend_row_over_tiles_f32(row_args, qb + (q0 + r) * row + h * d, kept.data(),
                                      static_cast<int64_t>(kept.size()), &key_s, fine.data());
            float* oi = ob + (q0 + r) * row + h * d;
            const float* gi = gb ? gb + (q0 + r) * row + h * d : nullptr;
            for (int64_t c = 0; c < d; ++c) {
              const float f = rnd(fine[c]);
              // 5. out = out_c * gate + out_fine (gate absent: the coarse term is exactly 0).
              oi[c] = gi ? rnd(portable::add(rnd(portable::mul(oc[c], gi[c])), f)) : f;
            }
          }
        }
      }
    });
  }
}

}  // namespace wan::cpu
