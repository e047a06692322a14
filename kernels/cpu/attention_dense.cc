#include "kernels/cpu/attention_dense.h"

#include <algorithm>
#include <vector>

#include "kernels/common/float16.h"
#include "kernels/common/portable_math.h"
#include "kernels/cpu/parallel.h"

namespace wan::cpu {
namespace {
constexpr int64_t kQueryBlock = 16;  // queries per task
}  // namespace

void attention_dense_f32(const DenseAttentionParams& p) {
  const int64_t d = p.head_dim, lk = p.kv_tokens, lq = p.q_tokens;
  const int64_t row = p.heads * d;  // token stride
  const float scale_log2e = p.scale * portable::kLog2eF;
  const int64_t q_blocks = (lq + kQueryBlock - 1) / kQueryBlock;
  for (int64_t b = 0; b < p.batch; ++b) {
    for (int64_t h = 0; h < p.heads; ++h) {
      // k^T for this head: [d, lk], so the score loop runs over contiguous keys.
      std::vector<float> k_t(static_cast<size_t>(d * lk));
      std::vector<float> v_h(static_cast<size_t>(lk * d));
      const float* kb = p.k + b * lk * row + h * d;
      const float* vb = p.v + b * lk * row + h * d;
      for (int64_t j = 0; j < lk; ++j)
        for (int64_t c = 0; c < d; ++c) {
          k_t[c * lk + j] = kb[j * row + c];
          v_h[j * d + c] = vb[j * row + c];
        }
      parallel_for(q_blocks, 1, [&](int64_t qb_begin, int64_t qb_end) {
        std::vector<float> scores(static_cast<size_t>(lk));
        std::vector<float> acc(static_cast<size_t>(d));
        for (int64_t qb = qb_begin; qb < qb_end; ++qb) {
          for (int64_t i = qb * kQueryBlock; i < std::min(lq, (qb + 1) * kQueryBlock); ++i) {
            const float* qi = p.q + (b * lq + i) * row + h * d;
            std::fill(scores.begin(), scores.end(), 0.0f);
            for (int64_t c = 0; c < d; ++c) {
              const float qc = qi[c];
              const float* kc = k_t.data() + c * lk;
              for (int64_t j = 0; j < lk; ++j) scores[j] += qc * kc[j];
            }
            float m = scores[0];
            for (int64_t j = 1; j < lk; ++j) m = std::max(m, scores[j]);
            float l = 0.0f;
            for (int64_t j = 0; j < lk; ++j) {
              const float e = portable::exp2f((scores[j] - m) * scale_log2e);
              l += e;
              scores[j] = p.round_p_to_bf16 ? round_to_bf16(e) : e;
            }
            std::fill(acc.begin(), acc.end(), 0.0f);
            for (int64_t j = 0; j < lk; ++j) {
              const float pj = scores[j];
              const float* vj = v_h.data() + j * d;
              for (int64_t c = 0; c < d; ++c) acc[c] += pj * vj[c];
            }
            float* oi = p.out + (b * lq + i) * row + h * d;
            const float inv_l = 1.0f / l;
            for (int64_t c = 0; c < d; ++c) oi[c] = acc[c] * inv_l;
          }
        }
      });
    }
  }
}

}  // namespace wan::cpu
