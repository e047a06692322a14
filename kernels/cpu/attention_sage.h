// CPU emulation of SageAttention2's Hopper path (ATTENTION.md "sage"; the kernel FastVideo's
// sage backend reaches on sm90: sageattn -> sageattn_qk_int8_pv_fp8_cuda_sm90 with
// qk_quant_gran=per_thread, smooth_k, pv_accum fp32+fp32; thu-ml/SageAttention d1a57a5:
// core.py, triton/quant_per_thread.py, csrc/qattn/qk_int_sv_f8_cuda_sm90.cu, attn_utils.cuh).
// Error-bounded against dense attention by design. Per (batch, head), raster tokens:
//   1. smooth-k: km = bf16(mean over tokens of k), k' = bf16(k - km) (no term added back: a
//      softmax row is invariant to the constant q . km);
//   2. INT8 q: per 64-row block, per 16-row chunk, 8 groups; group t covers rows {16c + t,
//      16c + t + 8}, all channels. INT8 k': per 128-key block, 4 groups; group g covers the
//      keys with key % 8 in {2g, 2g + 1}. scale = amax / 127 + 1e-7, int8 = x / scale rounded
//      half away from zero (SageAttention: + 0.5 sign(x), then truncation);
//   3. per 128-key block: S = q8 . k8 (exact int32); eff = (scale * log2 e) * (q_scale * k_scale);
//      block max m_b = max over key groups of fma(max S of the group, eff, -8.807) (the -8.807
//      offset keeps p <= 2^8.807 ~ 448, the e4m3 maximum); m = max(m, m_b), alpha = 2^(m_old - m);
//      p = 2^fma(S, eff, -m); the LAST block computes s' = S * (q_scale * k_scale) first, masks
//      keys past the end to -5e6 and uses fma(s', scale * log2 e, -m) (the kernel's order);
//      l = l * alpha + sum p (fp32, before quantisation);
//   4. P and V in FP8 e4m3 (round to nearest even, saturating): v_scale[c] = amax over tokens of
//      |v[:, c]| / 448, v8 = e4m3(v * (448 / amax)); per block O = O * alpha + sum e4m3(p) v8
//      (products exact; the block's sum in double, rounded to fp32 once: the hardware keeps ~22
//      bits inside a wgmma chain, so this is the upper end of its precision);
//   5. out = bf16((O * (1 / l)) * v_scale[c]).
// Where the kernel uses approximate instructions (ex2.approx, rcp.approx, Triton's div.full),
// the emulation uses portable::exp2f and IEEE division; m starts at -5e6 and l at 1 as in the
// kernel (the first block's alpha = 0 clears them). head_dim 64 or 128 (the kernel's).
#pragma once

#include <cstdint>

namespace wan::cpu {

struct SageAttentionParams {
  const float* q = nullptr;  // [batch, tokens, heads, head_dim], bf16-valued
  const float* k = nullptr;
  const float* v = nullptr;
  float* out = nullptr;      // [batch, tokens, heads, head_dim], bf16-valued
  int64_t batch = 1, heads = 1, head_dim = 64, tokens = 0;
  float scale = 0.125f;  // head_dim^-0.5
};

constexpr int64_t kSageQueryBlock = 64, kSageKeyBlock = 128;

// f32 -> FP8 e4m3 (the OCP "fn" format: no infinities, max 448) and back, round to nearest even,
// saturating to +-448 (cvt.rn.satfinite); NaN stays NaN.
float round_to_e4m3(float x);
// INT8 quantisation of x with `scale`: x / scale rounded half away from zero.
int32_t quantize_int8(float x, float scale);

void attention_sage_f32(const SageAttentionParams& p);

}  // namespace wan::cpu
