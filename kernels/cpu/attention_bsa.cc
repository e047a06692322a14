#include "kernels/cpu/attention_bsa.h"

#include <algorithm>
#include <vector>

#include "kernels/attention/bsa/bsa_numerics.h"
#include "kernels/attention/video_sparse/video_sparse_numerics.h"
#include "kernels/common/float16.h"
#include "kernels/common/portable_math.h"
#include "kernels/cpu/attention_tile_sparse.h"
#include "kernels/cpu/parallel.h"

namespace wan::cpu {

void attention_bsa_f32(const BsaAttentionParams& p) {
  const int64_t d = p.head_dim, nt = p.tiles, row = p.heads * d, tokens = p.tile_start[nt];
  const float sqrt_d = bsa::sqrt_f32(static_cast<float>(d));
  auto rnd = [&](float x) { return p.round_to_bf16 ? round_to_bf16(x) : x; };
  for (int64_t b = 0; b < p.batch; ++b) {
    const float* qb = p.q + b * tokens * row;
    const float* kb = p.k + b * tokens * row;
    const float* vb = p.v + b * tokens * row;
    float* ob = p.out + b * tokens * row;
    parallel_for(p.heads, 1, [&](int64_t h_begin, int64_t h_end) {
      std::vector<float> k_bar(static_cast<size_t>(nt * d)), q_bar(static_cast<size_t>(d)), sims(64);
      std::vector<float> probs(static_cast<size_t>(nt)), scores, out(static_cast<size_t>(d));
      std::vector<int32_t> order(static_cast<size_t>(nt)), kept, selected;
      std::vector<std::vector<float>> kept_out;
      TileSparseRowArgs a;
      a.row_stride = row;
      a.head_dim = d;
      a.tile_start = p.tile_start;
      a.scale = p.scale;
      a.round_p = p.round_to_bf16;
      for (int64_t h = h_begin; h < h_end; ++h) {
        const int64_t bh = b * p.heads + h;
        a.k = kb + h * d;
        a.v = vb + h * d;
        // k_bar: per tile, mean of its valid keys (fp32 sum in row order, bf16).
        for (int64_t t = 0; t < nt; ++t)
          for (int64_t c = 0; c < d; ++c)
            k_bar[t * d + c] = vsa::tile_mean([&](int r) { return kb[(p.tile_start[t] + r) * row + h * d + c]; },
                                              p.tile_tokens[t]);
        for (int64_t i = 0; i < nt; ++i) {
          const int n = p.tile_tokens[i];
          const float* tq = qb + p.tile_start[i] * row + h * d;
          // 1. Query pruning.
          const float* center = tq + (n / 2) * row;
          float cc = 0.0f;
          for (int64_t c = 0; c < d; ++c) cc = portable::add(cc, portable::mul(center[c], center[c]));
          for (int r = 0; r < n; ++r) {
            float dot = 0.0f, qq = 0.0f;
            for (int64_t c = 0; c < d; ++c) {
              dot = portable::add(dot, portable::mul(tq[r * row + c], center[c]));
              qq = portable::add(qq, portable::mul(tq[r * row + c], tq[r * row + c]));
            }
            sims[r] = bsa::cosine_from_sums(dot, qq, cc);
          }
          const int keep = bsa::keep_count(n, p.select.keep_ratio);
          kept.clear();
          for (int r = 0; r < n; ++r) {
            int rank = 0;
            for (int o = 0; o < n; ++o) rank += bsa::keeps_before(sims[o], o, sims[r], r) ? 1 : 0;
            if (rank < keep) kept.push_back(r);  // ascending position
          }
          // 2. q_bar over the kept rows (in kept order).
          for (int64_t c = 0; c < d; ++c)
            q_bar[c] = vsa::tile_mean([&](int s) { return tq[kept[s] * row + c]; }, keep);
          // 3. Block scores and softmax numerators.
          float m = 0.0f;
          for (int64_t j = 0; j < nt; ++j) {
            float dot = 0.0f;
            for (int64_t c = 0; c < d; ++c) dot = portable::add(dot, portable::mul(q_bar[c], k_bar[j * d + c]));
            probs[j] = bsa::block_score(dot, sqrt_d);
            m = j == 0 ? probs[j] : std::max(m, probs[j]);
          }
          uint64_t total = 0;
          for (int64_t j = 0; j < nt; ++j) {
            probs[j] = bsa::softmax_numerator(probs[j], m);
            total += bsa::mass_fixed(probs[j]);
          }
          // 4. Cumulative-mass selection (exact integer mass, sorted by e descending, index ascending).
          for (int64_t j = 0; j < nt; ++j) order[j] = static_cast<int32_t>(j);
          std::sort(order.begin(), order.end(), [&](int32_t x, int32_t y) {
            return bsa::mass_sort_key(probs[x], x) > bsa::mass_sort_key(probs[y], y);
          });
          int64_t count = nt;
          if (p.select.threshold < 1.0) {
            const uint64_t thr16 = bsa::threshold_fixed(p.select.threshold);
            uint64_t prefix = 0;
            count = 0;
            while (count < nt && bsa::mass_keeps(static_cast<int>(count), prefix, total, thr16)) {
              prefix += bsa::mass_fixed(probs[order[count]]);
              ++count;
            }
            count = std::max(count, std::min<int64_t>(p.select.min_tiles, nt));
          }
          selected.assign(order.begin(), order.begin() + count);
          std::sort(selected.begin(), selected.end());
          if (p.kept) {
            std::copy(kept.begin(), kept.end(), p.kept + (bh * nt + i) * 64);
            p.kept_count[bh * nt + i] = keep;
          }
          if (p.selected) {
            std::copy(selected.begin(), selected.end(), p.selected + (bh * nt + i) * nt);
            p.selected_count[bh * nt + i] = static_cast<int32_t>(count);
          }
          // 5. Kept rows over the selected tiles; every row takes its nearest kept row's output.
          kept_out.assign(static_cast<size_t>(keep), std::vector<float>(static_cast<size_t>(d)));
          for (int s = 0; s < keep; ++s) {
            attend_row_over_tiles_f32(a, tq + kept[s] * row, selected.data(), count, &scores, out.data());
            for (int64_t c = 0; c < d; ++c) kept_out[s][c] = rnd(out[c]);
          }
          int s = 0;
          for (int r = 0; r < n; ++r) {
            // nearest kept position: advance while the next kept one is strictly closer
            while (s + 1 < keep && std::abs(kept[s + 1] - r) < std::abs(kept[s] - r)) ++s;
            float* o = ob + (p.tile_start[i] + r) * row + h * d;
            std::copy(kept_out[s].begin(), kept_out[s].end(), o);
            if (p.source_position) p.source_position[bh * tokens + p.tile_start[i] + r] = kept[s];
          }
        }
      }
    });
  }
}

}  // namespace wan::cpu
