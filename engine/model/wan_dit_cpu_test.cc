// The CPU DiT forward against an independent, straightforward double-precision forward written
// from ENGINE.md (no shared kernels): fp32 mode within 1e-5 relative L2, bf16 mode within 3e-2.
// Plus determinism, bad-input errors and the observer hook.
#include "engine/model/wan_dit_cpu.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/attention/attention_backend.h"
#include "engine/core/rng.h"
#include "engine/model/safetensors.h"
#include "engine/model/weights.h"
#include "kernels/common/float16.h"

namespace wan {
namespace {

using Vec = std::vector<double>;

struct RefModel {
  const WanWeights& w;
  const WanConfig& c;
  Vec get(const std::string& name) const {
    const std::vector<float> f = w.get_f32(name).value();
    return Vec(f.begin(), f.end());
  }
  // y[rows, out] = x[rows, in] W^T + b
  Vec linear(const std::string& prefix, const Vec& x, int64_t rows) const {
    const Vec wt = get(prefix + ".weight"), b = get(prefix + ".bias");
    const int64_t out = static_cast<int64_t>(b.size()), in = static_cast<int64_t>(wt.size()) / out;
    Vec y(rows * out);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t o = 0; o < out; ++o) {
        double s = b[o];
        for (int64_t i = 0; i < in; ++i) s += x[r * in + i] * wt[o * in + i];
        y[r * out + o] = s;
      }
    return y;
  }
  static Vec layer_norm(const Vec& x, int64_t rows, int64_t cols, double eps) {
    Vec y(x.size());
    for (int64_t r = 0; r < rows; ++r) {
      double mean = 0, var = 0;
      for (int64_t i = 0; i < cols; ++i) mean += x[r * cols + i];
      mean /= cols;
      for (int64_t i = 0; i < cols; ++i) var += (x[r * cols + i] - mean) * (x[r * cols + i] - mean);
      var /= cols;
      for (int64_t i = 0; i < cols; ++i) y[r * cols + i] = (x[r * cols + i] - mean) / std::sqrt(var + eps);
    }
    return y;
  }
  static Vec rms_norm(const Vec& x, int64_t rows, int64_t cols, double eps, const Vec& w) {
    Vec y(x.size());
    for (int64_t r = 0; r < rows; ++r) {
      double ms = 0;
      for (int64_t i = 0; i < cols; ++i) ms += x[r * cols + i] * x[r * cols + i];
      const double s = 1 / std::sqrt(ms / cols + eps);
      for (int64_t i = 0; i < cols; ++i) y[r * cols + i] = x[r * cols + i] * s * w[i];
    }
    return y;
  }
  static double gelu(double v) { return 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v))); }
  static double silu(double v) { return v / (1 + std::exp(-v)); }

  Vec attention(const Vec& q, const Vec& k, const Vec& v, int64_t lq, int64_t lk) const {
    const int64_t d = c.head_dim;
    Vec out(lq * c.dim);
    for (int64_t h = 0; h < c.heads; ++h)
      for (int64_t i = 0; i < lq; ++i) {
        Vec s(lk);
        double m = -1e300, l = 0;
        for (int64_t j = 0; j < lk; ++j) {
          double dot = 0;
          for (int64_t x = 0; x < d; ++x) dot += q[i * c.dim + h * d + x] * k[j * c.dim + h * d + x];
          s[j] = dot / std::sqrt(double(d));
          m = std::max(m, s[j]);
        }
        for (auto& e : s) l += (e = std::exp(e - m));
        for (int64_t x = 0; x < d; ++x) {
          double o = 0;
          for (int64_t j = 0; j < lk; ++j) o += s[j] * v[j * c.dim + h * d + x];
          out[i * c.dim + h * d + x] = o / l;
        }
      }
    return out;
  }

  void rope(Vec& x, int64_t ft, int64_t fh, int64_t fw) const {
    const int64_t d = c.head_dim, hw = 2 * (d / 6);
    const int64_t axis[3] = {d - 2 * hw, hw, hw};
    for (int64_t t = 0; t < ft; ++t)
      for (int64_t h = 0; h < fh; ++h)
        for (int64_t w = 0; w < fw; ++w) {
          const int64_t tok = (t * fh + h) * fw + w, pos[3] = {t, h, w};
          int64_t j = 0;
          for (int a = 0; a < 3; ++a)
            for (int64_t i = 0; i < axis[a] / 2; ++i, ++j) {
              const double ang = pos[a] * std::pow(10000.0, -2.0 * i / axis[a]);
              for (int64_t hd = 0; hd < c.heads; ++hd) {
                double* p = &x[tok * c.dim + hd * d + 2 * j];
                const double x0 = p[0], x1 = p[1];
                p[0] = x0 * std::cos(ang) - x1 * std::sin(ang);
                p[1] = x0 * std::sin(ang) + x1 * std::cos(ang);
              }
            }
        }
  }

  Vec forward(const std::vector<float>& lat, int64_t lt, int64_t lh, int64_t lw, int64_t timestep,
              const std::vector<float>& context) const {
    const int64_t ft = lt, fh = lh / 2, fw = lw / 2, L = ft * fh * fw, dim = c.dim;
    Vec patches(L * 64);
    for (int64_t t = 0; t < ft; ++t)
      for (int64_t h = 0; h < fh; ++h)
        for (int64_t w = 0; w < fw; ++w)
          for (int64_t ch = 0; ch < 16; ++ch)
            for (int64_t ph = 0; ph < 2; ++ph)
              for (int64_t pw = 0; pw < 2; ++pw)
                patches[((t * fh + h) * fw + w) * 64 + ch * 4 + ph * 2 + pw] =
                    lat[((ch * lt + t) * lh + 2 * h + ph) * lw + 2 * w + pw];
    Vec x = linear("patch_embedding", patches, L);
    const int64_t half = c.freq_dim / 2;
    Vec emb(c.freq_dim);
    for (int64_t i = 0; i < half; ++i) {
      const double a = timestep * std::exp(-std::log(10000.0) * i / half);
      emb[i] = std::cos(a);
      emb[half + i] = std::sin(a);
    }
    Vec th = linear("condition_embedder.time_embedder.linear_1", emb, 1);
    for (auto& v : th) v = silu(v);
    const Vec temb = linear("condition_embedder.time_embedder.linear_2", th, 1);
    Vec ta = temb;
    for (auto& v : ta) v = silu(v);
    const Vec tproj = linear("condition_embedder.time_proj", ta, 1);
    Vec ctx_in(context.begin(), context.end());
    Vec ch = linear("condition_embedder.text_embedder.linear_1", ctx_in, c.text_len);
    for (auto& v : ch) v = gelu(v);
    const Vec ctx = linear("condition_embedder.text_embedder.linear_2", ch, c.text_len);
    for (int64_t b = 0; b < c.layers; ++b) {
      const std::string p = "blocks." + std::to_string(b) + ".";
      const Vec sst = get(p + "scale_shift_table");
      auto e = [&](int chunk, int64_t i) { return sst[chunk * dim + i] + tproj[chunk * dim + i]; };
      Vec n = layer_norm(x, L, dim, c.eps);
      for (int64_t t = 0; t < L; ++t)
        for (int64_t i = 0; i < dim; ++i) n[t * dim + i] = n[t * dim + i] * (1 + e(1, i)) + e(0, i);
      Vec q = rms_norm(linear(p + "attn1.to_q", n, L), L, dim, c.eps, get(p + "attn1.norm_q.weight"));
      Vec k = rms_norm(linear(p + "attn1.to_k", n, L), L, dim, c.eps, get(p + "attn1.norm_k.weight"));
      const Vec v = linear(p + "attn1.to_v", n, L);
      rope(q, ft, fh, fw);
      rope(k, ft, fh, fw);
      const Vec sa = linear(p + "attn1.to_out.0", attention(q, k, v, L, L), L);
      Vec h(L * dim);
      for (int64_t t = 0; t < L; ++t)
        for (int64_t i = 0; i < dim; ++i) h[t * dim + i] = x[t * dim + i] + sa[t * dim + i] * e(2, i);
      Vec n2 = layer_norm(h, L, dim, c.eps);
      const Vec w2 = get(p + "norm2.weight"), b2 = get(p + "norm2.bias");
      for (int64_t t = 0; t < L; ++t)
        for (int64_t i = 0; i < dim; ++i) n2[t * dim + i] = n2[t * dim + i] * w2[i] + b2[i];
      const Vec cq = rms_norm(linear(p + "attn2.to_q", n2, L), L, dim, c.eps, get(p + "attn2.norm_q.weight"));
      const Vec ck = rms_norm(linear(p + "attn2.to_k", ctx, c.text_len), c.text_len, dim, c.eps,
                              get(p + "attn2.norm_k.weight"));
      const Vec cv = linear(p + "attn2.to_v", ctx, c.text_len);
      const Vec ca = linear(p + "attn2.to_out.0", attention(cq, ck, cv, L, c.text_len), L);
      for (int64_t i = 0; i < L * dim; ++i) h[i] += ca[i];
      Vec n3 = layer_norm(h, L, dim, c.eps);
      for (int64_t t = 0; t < L; ++t)
        for (int64_t i = 0; i < dim; ++i) n3[t * dim + i] = n3[t * dim + i] * (1 + e(4, i)) + e(3, i);
      Vec f = linear(p + "ffn.net.0.proj", n3, L);
      for (auto& v2 : f) v2 = gelu(v2);
      const Vec fo = linear(p + "ffn.net.2", f, L);
      for (int64_t t = 0; t < L; ++t)
        for (int64_t i = 0; i < dim; ++i) x[t * dim + i] = h[t * dim + i] + fo[t * dim + i] * e(5, i);
    }
    const Vec hst = get("scale_shift_table");
    Vec n = layer_norm(x, L, dim, c.eps);
    for (int64_t t = 0; t < L; ++t)
      for (int64_t i = 0; i < dim; ++i)
        n[t * dim + i] = n[t * dim + i] * (1 + hst[dim + i] + temb[i]) + hst[i] + temb[i];
    const Vec ho = linear("proj_out", n, L);
    Vec out(16 * lt * lh * lw);
    for (int64_t t = 0; t < ft; ++t)
      for (int64_t h = 0; h < fh; ++h)
        for (int64_t w = 0; w < fw; ++w)
          for (int64_t ph = 0; ph < 2; ++ph)
            for (int64_t pw = 0; pw < 2; ++pw)
              for (int64_t chn = 0; chn < 16; ++chn)
                out[((chn * lt + t) * lh + 2 * h + ph) * lw + 2 * w + pw] =
                    ho[((t * fh + h) * fw + w) * 64 + (ph * 2 + pw) * 16 + chn];
    return out;
  }
};

double rel_l2(const Tensor& got, const Vec& want) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < got.numel(); ++i) {
    const double d = got.data<float>()[i] - want[i];
    num += d * d;
    den += want[i] * want[i];
  }
  return std::sqrt(num / den);
}

struct Fixture {
  WanConfig config = config_by_name("wan-tiny").value();
  WanWeights weights = WanWeights::synthetic(config, 7).value();
  Tensor latents = Tensor::empty({16, 2, 8, 12}, DType::kF32).value();  // 2x4x6 = 48 tokens
  Tensor context = Tensor::empty({config.text_len, config.text_dim}, DType::kF32).value();
  Fixture() {
    EXPECT_TRUE(fill_normal(latents, 11).ok());
    EXPECT_TRUE(fill_normal(context, 12).ok());
  }
};

TEST(WanDitCpu, Fp32ModeMatchesDoubleReference) {
  Fixture f;
  auto model = WanDitCpu::create(f.weights, Precision::kFp32).value();
  const Tensor out = model->forward(f.latents, 757, f.context).value();
  RefModel ref{f.weights, f.config};
  const std::vector<float> lat(f.latents.data<float>(), f.latents.data<float>() + f.latents.numel());
  const std::vector<float> ctx(f.context.data<float>(), f.context.data<float>() + f.context.numel());
  const Vec want = ref.forward(lat, 2, 8, 12, 757, ctx);
  const double err = rel_l2(out, want);
  std::printf("fp32 mode vs double reference: rel L2 %.3g\n", err);
  EXPECT_LT(err, 1e-5);
}

TEST(WanDitCpu, Bf16ModeNearDoubleReferenceAndBf16Valued) {
  Fixture f;
  auto model = WanDitCpu::create(f.weights, Precision::kBf16).value();
  const Tensor out = model->forward(f.latents, 999, f.context).value();
  RefModel ref{f.weights, f.config};
  const std::vector<float> lat(f.latents.data<float>(), f.latents.data<float>() + f.latents.numel());
  const std::vector<float> ctx(f.context.data<float>(), f.context.data<float>() + f.context.numel());
  const double err = rel_l2(out, ref.forward(lat, 2, 8, 12, 999, ctx));
  std::printf("bf16 mode vs double reference: rel L2 %.3g\n", err);
  EXPECT_LT(err, 3e-2);
  EXPECT_GT(err, 1e-4);  // bf16 rounding really applied
  for (int64_t i = 0; i < out.numel(); ++i) {
    ASSERT_EQ(out.data<float>()[i], round_to_bf16(out.data<float>()[i])) << i;
  }
}

TEST(WanDitCpu, RepeatedForwardsAreBitIdentical) {
  Fixture f;
  auto model = WanDitCpu::create(f.weights, Precision::kBf16).value();
  const Tensor a = model->forward(f.latents, 500, f.context).value();
  const Tensor b = model->forward(f.latents, 500, f.context).value();
  EXPECT_EQ(std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()), 0);
  const Tensor c = model->forward(f.latents, 501, f.context).value();
  EXPECT_NE(std::memcmp(a.raw_data(), c.raw_data(), a.nbytes()), 0);
}

class RecordingObserver : public ForwardObserver {
 public:
  std::vector<std::string> ops;
  std::string perturb_op;
  int perturb_block = -2;
  void on_op(int block, std::string_view op, Tensor& out) override {
    ops.push_back(std::to_string(block) + "/" + std::string(op));
    if (block == perturb_block && op == perturb_op) {
      float& v = out.data<float>()[0];
      v = bf16_bits_to_f32(static_cast<uint16_t>(f32_to_bf16_bits(v) + 1));  // one bf16 ulp
    }
  }
};

TEST(WanDitCpu, ObserverSeesEveryOpInOrderAndPerturbationPropagates) {
  Fixture f;
  auto model = WanDitCpu::create(f.weights, Precision::kBf16).value();
  RecordingObserver rec;
  const Tensor a = model->forward(f.latents, 500, f.context, &rec).value();
  ASSERT_GE(rec.ops.size(), 10u);
  EXPECT_EQ(rec.ops.front(), "-1/patch_embed");
  EXPECT_EQ(rec.ops.back(), "-1/head_out");
  EXPECT_NE(std::find(rec.ops.begin(), rec.ops.end(), "1/self_attn"), rec.ops.end());
  RecordingObserver perturb;
  perturb.perturb_block = 1;
  perturb.perturb_op = "norm3";
  const Tensor b = model->forward(f.latents, 500, f.context, &perturb).value();
  EXPECT_NE(std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()), 0);
}

TEST(WanDitCpu, BadInputsGiveClearErrors) {
  Fixture f;
  auto model = WanDitCpu::create(f.weights, Precision::kBf16).value();
  Tensor wrong_ch = Tensor::zeros({15, 2, 8, 12}, DType::kF32).value();
  EXPECT_NE(model->forward(wrong_ch, 1, f.context).status().message().find("latents must be f32 [16"),
            std::string::npos);
  Tensor odd = Tensor::zeros({16, 2, 7, 12}, DType::kF32).value();
  EXPECT_NE(model->forward(odd, 1, f.context).status().message().find("must be even"), std::string::npos);
  Tensor nan = f.latents.clone().value();
  nan.data<float>()[5] = NAN;
  EXPECT_NE(model->forward(nan, 1, f.context).status().message().find("NaN"), std::string::npos);
  Tensor ctx = Tensor::zeros({3, 4}, DType::kF32).value();
  EXPECT_NE(model->forward(f.latents, 1, ctx).status().message().find("context must be f32 [16, 64]"),
            std::string::npos);
  EXPECT_EQ(model->forward(f.latents, 1001, f.context).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace wan

namespace wan {
namespace {

// sparse_linear's per-layer proj_l (a Linear(head_dim, head_dim) the backend applies itself):
// loaded from a checkpoint that has it, passed to the backend per block, and zero when absent.
TEST(WanDitCpu, SparseLinearProjLFromTheCheckpointReachesTheBackend) {
  Fixture f;
  const std::string dir = std::string(std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp");
  const int64_t hd = f.config.head_dim;
  auto save_with = [&](const std::string& path, float weight_scale) {
    std::vector<std::pair<std::string, Tensor>> list(f.weights.tensors().begin(), f.weights.tensors().end());
    for (int64_t i = 0; i < f.config.layers; ++i) {
      Tensor w = Tensor::empty({hd, hd}, DType::kF32).value(), b = Tensor::empty({hd}, DType::kF32).value();
      EXPECT_TRUE(fill_normal(w, 100 + i).ok());
      EXPECT_TRUE(fill_normal(b, 200 + i).ok());
      for (int64_t j = 0; j < w.numel(); ++j) w.data<float>()[j] *= weight_scale;
      for (int64_t j = 0; j < b.numel(); ++j) b.data<float>()[j] *= weight_scale;
      list.emplace_back("blocks." + std::to_string(i) + ".attn1.attn_impl.proj_l.weight", w);
      list.emplace_back("blocks." + std::to_string(i) + ".attn1.attn_impl.proj_l.bias", b);
    }
    EXPECT_TRUE(write_safetensors(path, list).ok());
  };
  save_with(dir + "/sla_proj.safetensors", 0.1f);
  save_with(dir + "/sla_zero.safetensors", 0.0f);
  const AttentionConfig sla = parse_attention_config("sparse_linear:ratio=0.5").value();
  auto forward_with = [&](const WanWeights& w) {
    auto model = WanDitCpu::create(w, Precision::kFp32, make_attention_backend(sla, Device::cpu()).value()).value();
    return model->forward(f.latents, 500, f.context).value();
  };
  const WanWeights with_proj = WanWeights::load(f.config, dir + "/sla_proj.safetensors").value();
  const WanWeights zero_proj = WanWeights::load(f.config, dir + "/sla_zero.safetensors").value();
  ASSERT_EQ(with_proj.blocks_with("attn1.attn_impl.proj_l").size(), static_cast<size_t>(f.config.layers));
  const Tensor none = forward_with(f.weights), zero = forward_with(zero_proj), proj = forward_with(with_proj);
  // A zero proj_l is the absent one: the linear branch vanishes, bit for bit.
  EXPECT_EQ(std::memcmp(none.raw_data(), zero.raw_data(), none.nbytes()), 0);
  double diff = 0;
  for (int64_t i = 0; i < none.numel(); ++i) diff = std::max(diff, static_cast<double>(std::abs(none.data<float>()[i] - proj.data<float>()[i])));
  EXPECT_GT(diff, 1e-4) << "the checkpoint's proj_l did not change the output";
  // A proj_l of the wrong shape is refused with the tensor named.
  std::vector<std::pair<std::string, Tensor>> bad(f.weights.tensors().begin(), f.weights.tensors().end());
  bad.emplace_back("blocks.0.attn1.attn_impl.proj_l.weight", Tensor::zeros({hd, hd + 1}, DType::kF32).value());
  bad.emplace_back("blocks.0.attn1.attn_impl.proj_l.bias", Tensor::zeros({hd}, DType::kF32).value());
  ASSERT_TRUE(write_safetensors(dir + "/sla_bad.safetensors", bad).ok());
  const Status s = WanWeights::load(f.config, dir + "/sla_bad.safetensors").status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("proj_l.weight"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace wan

namespace wan {
namespace {

// Ulysses sequence parallelism simulated on the CPU (issue 17): token shards through every
// token-local op of self-attention's path, the all-to-all to head shards, each rank's attention
// over the whole sequence for its heads, and back. Row by row this is the unsharded arithmetic, so
// the forward must equal the unsharded one bit for bit, for every backend (tile-ordered ones shard
// the tiled order) and with per-head sliding-tile windows (the strategy keys on the model's head
// index: rank 1 of 2 serves heads 2 and 3).
TEST(WanDitCpu, SequenceParallelSimulationEqualsTheUnshardedForward) {
  const WanConfig config = config_by_name("wan-small").value();  // 4 heads
  const WanWeights weights = WanWeights::synthetic(config, 9).value();
  Tensor latents = Tensor::empty({16, 2, 8, 12}, DType::kF32).value();  // 2x4x6 = 48 tokens
  Tensor context = Tensor::empty({config.text_len, config.text_dim}, DType::kF32).value();
  ASSERT_TRUE(fill_normal(latents, 21).ok());
  ASSERT_TRUE(fill_normal(context, 22).ok());
  const std::string dir = std::string(std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp");
  const std::string strategy = dir + "/sp_strategy.json";
  {
    std::FILE* f = std::fopen(strategy.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs(R"({"0_3": [1, 1, 1], "1_2": [1, 2, 1], "1_0": [2, 1, 3]})", f);
    std::fclose(f);
  }
  const std::vector<std::string> backends = {
      "dense", "sage", "video_sparse:sparsity=0.5", "block_sparse", "sparse_linear:ratio=0.5",
      "video_moba:spatial_chunk=2x3,st_chunk=1x2x3", "sliding_tile:tile=1x2x2,window=3x3x3,strategy=" + strategy};
  for (const std::string& text : backends) {
    SCOPED_TRACE(text);
    const AttentionConfig attention = parse_attention_config(text).value();
    auto run = [&](int world) {
      auto model = WanDitCpu::create(weights, Precision::kBf16, make_attention_backend(attention, Device::cpu()).value())
                       .value();
      EXPECT_TRUE(model->set_sequence_parallel(world).ok());
      return model->forward(latents, 600, context, nullptr, ForwardCall{1, CfgBranch::kCond}).value();
    };
    const Tensor unsharded = run(1);
    for (int world : {2, 4}) {
      const Tensor sharded = run(world);
      ASSERT_EQ(sharded.nbytes(), unsharded.nbytes());
      EXPECT_EQ(std::memcmp(sharded.raw_data(), unsharded.raw_data(), unsharded.nbytes()), 0)
          << "world " << world << " differs from the unsharded forward";
    }
  }
  // Sizes that do not divide: the heads at set_sequence_parallel, the tokens at forward().
  auto model = WanDitCpu::create(weights, Precision::kBf16).value();
  const Status heads = model->set_sequence_parallel(3);
  EXPECT_EQ(heads.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(heads.message().find("4 heads"), std::string::npos) << heads.message();
  ASSERT_TRUE(model->set_sequence_parallel(4).ok());
  Tensor odd = Tensor::empty({16, 1, 6, 6}, DType::kF32).value();  // 1x3x3 = 9 tokens
  ASSERT_TRUE(fill_normal(odd, 23).ok());
  const Status tokens = model->forward(odd, 600, context).status();
  EXPECT_EQ(tokens.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(tokens.message().find("9 tokens"), std::string::npos) << tokens.message();
}

}  // namespace
}  // namespace wan
