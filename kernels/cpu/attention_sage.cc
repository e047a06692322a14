#include "kernels/cpu/attention_sage.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/common/float16.h"
#include "kernels/common/portable_math.h"
#include "kernels/cpu/parallel.h"

namespace wan::cpu {
namespace {

constexpr float kMaxOffset = 8.807f;  // the kernel's S_FP8_OFFSET: p <= 2^8.807 ~ 447.9
constexpr float kMaskedScore = -5e6f;  // the kernel's masked score and initial max
constexpr int kQueryGroups = 32;      // per 64-row block: 4 chunks of 16 rows x 8 groups
constexpr int kKeyGroups = 4;         // per 128-key block

// fma(a, b, c) rounded to f32 through double: a * b is exact in double for a < 2^24 (an int32
// score) and f32 b; the sum rounds in double, then to f32 (the kernel's fmaf rounds once: the
// double rounding differs from it in rare last-bit cases).
float fma_via_double(float a, float b, float c) {
  return static_cast<float>(static_cast<double>(a) * static_cast<double>(b) + static_cast<double>(c));
}

float int8_scale(float amax) { return portable::add(portable::div(amax, 127.0f), 1e-7f); }

// Query row r's group within its 64-row block: chunk (r % 64) / 16, group (r % 16) % 8.
int64_t query_group(int64_t r) { return (r / kSageQueryBlock) * kQueryGroups + ((r % 64) / 16) * 8 + (r % 16) % 8; }
// Key t's group within its 128-key block: (t % 8) / 2.
int64_t key_group(int64_t t) { return (t / kSageKeyBlock) * kKeyGroups + (t % 8) / 2; }

}  // namespace

float round_to_e4m3(float x) {
  if (std::isnan(x)) return x;
  const float a = std::fabs(x);
  if (a >= 448.0f) return std::copysign(448.0f, x);  // satfinite (no infinities in e4m3fn)
  if (a == 0.0f) return x;
  int e = 0;
  std::frexp(a, &e);  // a = m 2^e, m in [0.5, 1): leading bit 2^(e - 1)
  // 3 mantissa bits above the smallest normal 2^-6; below it the subnormal step 2^-9.
  const int quantum_exp = std::max(e - 1, -6) - 3;
  const float r = std::ldexp(std::rint(std::ldexp(a, -quantum_exp)), quantum_exp);  // exact scaling, RNE
  return std::copysign(std::min(r, 448.0f), x);
}

int32_t quantize_int8(float x, float scale) {
  float y = portable::div(x, scale);
  y = portable::add(y, x >= 0.0f ? 0.5f : -0.5f);  // sign(0) = +1, as SageAttention's quant kernels
  return static_cast<int32_t>(std::trunc(y));
}

void attention_sage_f32(const SageAttentionParams& p) {
  const int64_t d = p.head_dim, L = p.tokens, row = p.heads * d;
  const int64_t query_blocks = (L + kSageQueryBlock - 1) / kSageQueryBlock;
  const int64_t key_blocks = (L + kSageKeyBlock - 1) / kSageKeyBlock;
  const float scale_log2e = portable::mul(p.scale, portable::kLog2eF);
  for (int64_t b = 0; b < p.batch; ++b) {
    for (int64_t h = 0; h < p.heads; ++h) {
      auto at = [&](const float* x, int64_t t, int64_t c) { return x[(b * L + t) * row + h * d + c]; };
      // 1. Smooth-k: a bf16 mean (summed in double here; torch accumulates bf16 in fp32 in an
      // unspecified order), a bf16 subtraction.
      std::vector<float> ks(static_cast<size_t>(L * d));
      for (int64_t c = 0; c < d; ++c) {
        double s = 0;
        for (int64_t t = 0; t < L; ++t) s += at(p.k, t, c);
        const float mean = round_to_bf16(static_cast<float>(s / static_cast<double>(L)));
        for (int64_t t = 0; t < L; ++t) ks[t * d + c] = round_to_bf16(portable::sub(at(p.k, t, c), mean));
      }
      // 2. INT8 q and k' with per-group scales (padding rows are zero: they do not raise amax).
      std::vector<float> q_scale(static_cast<size_t>(query_blocks * kQueryGroups), 0.0f);
      std::vector<float> k_scale(static_cast<size_t>(key_blocks * kKeyGroups), 0.0f);
      for (int64_t t = 0; t < L; ++t)
        for (int64_t c = 0; c < d; ++c) {
          float& qs = q_scale[query_group(t)];
          qs = std::max(qs, std::fabs(at(p.q, t, c)));
          float& kss = k_scale[key_group(t)];
          kss = std::max(kss, std::fabs(ks[t * d + c]));
        }
      for (float& s : q_scale) s = int8_scale(s);
      for (float& s : k_scale) s = int8_scale(s);
      std::vector<int32_t> q8(static_cast<size_t>(L * d)), k8(static_cast<size_t>(L * d));
      for (int64_t t = 0; t < L; ++t)
        for (int64_t c = 0; c < d; ++c) {
          q8[t * d + c] = quantize_int8(at(p.q, t, c), q_scale[query_group(t)]);
          k8[t * d + c] = quantize_int8(ks[t * d + c], k_scale[key_group(t)]);
        }
      // 4 (V). Per-channel FP8 scale over all tokens; v8 = e4m3(v * (448 / amax)). An all-zero
      // channel quantises to 0 with scale 0 (the kernel would compute 0 * inf = NaN there).
      std::vector<float> v_scale(static_cast<size_t>(d)), v8(static_cast<size_t>(L * d));
      for (int64_t c = 0; c < d; ++c) {
        float amax = 0.0f;
        for (int64_t t = 0; t < L; ++t) amax = std::max(amax, std::fabs(at(p.v, t, c)));
        v_scale[c] = portable::div(amax, 448.0f);
        const float mul = amax > 0.0f ? portable::div(448.0f, amax) : 0.0f;
        for (int64_t t = 0; t < L; ++t) v8[t * d + c] = round_to_e4m3(portable::mul(at(p.v, t, c), mul));
      }
      // 3-5. Per query row: the online softmax over 128-key blocks in order.
      parallel_for(L, 16, [&](int64_t row_begin, int64_t row_end) {
        std::vector<float> s(static_cast<size_t>(kSageKeyBlock)), pv(static_cast<size_t>(kSageKeyBlock));
        std::vector<double> block_o(static_cast<size_t>(d));
        std::vector<float> o(static_cast<size_t>(d));
        for (int64_t i = row_begin; i < row_end; ++i) {
          const float qs = q_scale[query_group(i)];
          const int32_t* qi = q8.data() + i * d;
          float m = kMaskedScore, l = 1.0f;
          std::fill(o.begin(), o.end(), 0.0f);
          for (int64_t kb = 0; kb < key_blocks; ++kb) {
            const bool last = kb == key_blocks - 1;
            const int64_t first = kb * kSageKeyBlock, n = std::min(kSageKeyBlock, L - first);
            float combined[kKeyGroups], eff[kKeyGroups], group_max[kKeyGroups];
            for (int g = 0; g < kKeyGroups; ++g) {
              combined[g] = portable::mul(qs, k_scale[kb * kKeyGroups + g]);
              eff[g] = portable::mul(scale_log2e, combined[g]);
              group_max[g] = -INFINITY;
            }
            for (int64_t j = 0; j < kSageKeyBlock; ++j) {
              const int g = static_cast<int>((j % 8) / 2);
              if (j >= n) {  // past the end: only the last block has such keys
                s[j] = kMaskedScore;
                group_max[g] = std::max(group_max[g], s[j]);
                continue;
              }
              const int32_t* kj = k8.data() + (first + j) * d;
              int32_t dot = 0;
              for (int64_t c = 0; c < d; ++c) dot += qi[c] * kj[c];
              s[j] = last ? portable::mul(static_cast<float>(dot), combined[g]) : static_cast<float>(dot);
              group_max[g] = std::max(group_max[g], s[j]);
            }
            // Block max: per key group (one per lane of a row's quad in the kernel), then across.
            float m_block = -INFINITY;
            for (int g = 0; g < kKeyGroups; ++g)
              m_block = std::max(m_block, fma_via_double(group_max[g], last ? scale_log2e : eff[g], -kMaxOffset));
            const float m_new = std::max(m, m_block);
            const float alpha = portable::exp2f(portable::sub(m, m_new));
            float block_l = 0.0f;
            for (int64_t j = 0; j < kSageKeyBlock; ++j) {
              const int g = static_cast<int>((j % 8) / 2);
              const float x = fma_via_double(s[j], last ? scale_log2e : eff[g], -m_new);
              const float pj = portable::exp2f(x);
              block_l = portable::add(block_l, pj);
              pv[j] = round_to_e4m3(pj);
            }
            l = portable::add(portable::mul(l, alpha), block_l);
            std::fill(block_o.begin(), block_o.end(), 0.0);
            for (int64_t j = 0; j < n; ++j) {
              const float* vj = v8.data() + (first + j) * d;
              for (int64_t c = 0; c < d; ++c) block_o[c] += static_cast<double>(pv[j]) * vj[c];  // exact products
            }
            for (int64_t c = 0; c < d; ++c) o[c] = portable::add(portable::mul(o[c], alpha), static_cast<float>(block_o[c]));
            m = m_new;
          }
          const float inv_l = portable::div(1.0f, l);
          float* out = p.out + (b * L + i) * row + h * d;
          for (int64_t c = 0; c < d; ++c) out[c] = round_to_bf16(portable::mul(portable::mul(o[c], inv_l), v_scale[c]));
        }
      });
    }
  }
}

}  // namespace wan::cpu
