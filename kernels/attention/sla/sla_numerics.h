// The parts of sparse-linear attention (SLA, ATTENTION.md "sparse_linear") whose bits decide
// WHICH key blocks a query block attends: the smooth-k mean, the pooled block means, the pooled
// scores and the top-k count. Compiled for host and device from this one header, so the CPU
// reference (kernels/cpu/attention_sla) and the CUDA kernels (sla_attention.cu) select identical
// blocks: fp32 sums in fixed orders, no FMA contraction, round-to-nearest-even bf16 (when the
// caller rounds: the GPU always does, the CPU in its bf16 precision).
//
// Per (batch, head), L tokens, key blocks of kBlockK rows, query blocks of kBlockQ rows:
//   key block sums   S_j[c] = sum of k[t][c] over the block's rows, in row order (fp32)
//   smooth-k mean     m[c]  = rnd((sum of S_j[c] over j, in block order) / L)
//   key block means  km_j[c] = rnd((sum of rnd(k[t][c] - m[c]) over the block's rows) / rows)
//   query block means qm_i[c] = rnd((sum of q[t][c] over the block's rows) / rows)
//   score           s_ij   = rnd(sum of qm_i[c] * km_j[c] over c in order)   (unscaled)
//   selection: the top_k(K) highest scores, equal scores to the lower block index, ascending.
#pragma once

#include <cstdint>

#include "kernels/common/float16.h"
#include "kernels/common/host_device.h"
#include "kernels/common/portable_math.h"

namespace wan::sla {

// The linear branch's feature map phi, over head_dim per row: softmax | elu + 1 | relu.
enum class FeatureMap { kSoftmax, kElu, kRelu };

constexpr int kBlockQ = 128;  // query rows per block (FastVideo's BLKQ)
constexpr int kBlockK = 64;   // key rows per block (BLKK)

// Key blocks attended per query block: max(1, min(K, floor(ratio * K))) (ratio in (0, 1]).
// FastVideo's int(ratio * K) selects none below 1 (and returns NaN): ours keeps one block.
inline int64_t topk_count(int64_t key_blocks, double ratio) {
  int64_t k = static_cast<int64_t>(ratio * static_cast<double>(key_blocks));  // floor: ratio * K >= 0
  if (k > key_blocks) k = key_blocks;
  return k < 1 ? 1 : k;
}

WAN_HD float maybe_round(float x, bool round) { return round ? round_to_bf16(x) : x; }

// One row of a block sum (callers add rows in order, starting from 0).
WAN_HD float sum_step(float sum, float x) { return portable::add(sum, x); }
// A mean from its fixed-order sum.
WAN_HD float mean_from_sum(float sum, int64_t count, bool round) {
  return maybe_round(portable::div(sum, static_cast<float>(count)), round);
}
// The smooth-k value of one element: rnd(k - m).
WAN_HD float smooth_key(float k, float mean, bool round) { return maybe_round(portable::sub(k, mean), round); }
// One channel of a pooled score (c = 0 .. head_dim - 1, starting from 0), and the final rounding.
WAN_HD float score_step(float dot, float q_mean, float k_mean) { return portable::add(dot, portable::mul(q_mean, k_mean)); }
WAN_HD float score_from_dot(float dot, bool round) { return maybe_round(dot, round); }

}  // namespace wan::sla
