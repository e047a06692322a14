// The CPU reference VAE decoder: each op against a double-precision reference on fresh random
// inputs, the frame-at-a-time decode against a whole-sequence double-precision decode of the
// same graph (the cache semantics), weights in both layouts, frames and bad input.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <tuple>
#include <algorithm>

#include <gtest/gtest.h>

#include "engine/core/rng.h"
#include "engine/model/safetensors.h"
#include "engine/vae/vae_decoder.h"
#include "engine/vae/vae_ops_cpu.h"
#include "engine/vae/video_frames.h"

namespace wan {
namespace {

std::vector<float> random_values(int64_t n, uint64_t seed, double scale = 1.0) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> d(0.0, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = static_cast<float>(d(gen));
  return v;
}

Tensor tensor_of(const std::vector<float>& v, const Shape& shape) {
  Tensor t = Tensor::empty(shape, DType::kF32).value();
  std::copy(v.begin(), v.end(), t.data<float>());
  return t;
}

std::vector<double> to_double(const Tensor& t) {
  return std::vector<double>(t.data<float>(), t.data<float>() + t.numel());
}

// Relative L2 of a against the reference b.
double rel_l2(const std::vector<double>& a, const std::vector<double>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

// ---- Double-precision reference of the whole-sequence graph ([C][T][H][W] in a vector). ----
struct Act {
  int64_t c = 0, t = 0, h = 0, w = 0;
  std::vector<double> v;
  double& at(int64_t ci, int64_t ti, int64_t y, int64_t x) { return v[((ci * t + ti) * h + y) * w + x]; }
  double at(int64_t ci, int64_t ti, int64_t y, int64_t x) const { return v[((ci * t + ti) * h + y) * w + x]; }
};

Act make_act(int64_t c, int64_t t, int64_t h, int64_t w) { return {c, t, h, w, std::vector<double>(c * t * h * w, 0.0)}; }

struct RefDecoder {
  const VaeWeights& weights;

  const float* p(const std::string& name) const { return weights.data(name); }
  Shape shape(const std::string& name) const { return weights.get(name).value().shape(); }

  // Whole-sequence conv: causal in time with two zero frames in front when kt == 3.
  Act conv(const Act& x, const std::string& name, const Act* residual = nullptr) const {
    const Shape s = shape(name + ".weight");
    const int64_t out = s[0], in = s[1], kt = s.size() == 5 ? s[2] : 1, kh = s[s.size() - 2], kw = s[s.size() - 1];
    const float* w = p(name + ".weight");
    const float* b = p(name + ".bias");
    Act y = make_act(out, x.t, x.h, x.w);
    for (int64_t o = 0; o < out; ++o)
      for (int64_t t = 0; t < x.t; ++t)
        for (int64_t yy = 0; yy < x.h; ++yy)
          for (int64_t xx = 0; xx < x.w; ++xx) {
            double acc = b[o];
            for (int64_t ci = 0; ci < in; ++ci)
              for (int64_t dt = 0; dt < kt; ++dt) {
                const int64_t st = kt == 3 ? t + dt - 2 : t;
                if (st < 0) continue;
                for (int64_t dy = 0; dy < kh; ++dy)
                  for (int64_t dx = 0; dx < kw; ++dx) {
                    const int64_t sy = yy + dy - kh / 2, sx = xx + dx - kw / 2;
                    if (sy < 0 || sy >= x.h || sx < 0 || sx >= x.w) continue;
                    acc += static_cast<double>(w[(((o * in + ci) * kt + dt) * kh + dy) * kw + dx]) * x.at(ci, st, sy, sx);
                  }
              }
            y.at(o, t, yy, xx) = acc + (residual ? residual->at(o, t, yy, xx) : 0.0);
          }
    return y;
  }
  Act norm(const Act& x, const std::string& gamma, bool silu) const {
    Act y = x;
    const float* g = p(gamma);
    for (int64_t t = 0; t < x.t; ++t)
      for (int64_t yy = 0; yy < x.h; ++yy)
        for (int64_t xx = 0; xx < x.w; ++xx) {
          double ss = 0;
          for (int64_t c = 0; c < x.c; ++c) ss += x.at(c, t, yy, xx) * x.at(c, t, yy, xx);
          const double n = std::max(std::sqrt(ss), 1e-12);
          for (int64_t c = 0; c < x.c; ++c) {
            double v = x.at(c, t, yy, xx) / n * std::sqrt(static_cast<double>(x.c)) * g[c];
            if (silu) v = v / (1.0 + std::exp(-v));
            y.at(c, t, yy, xx) = v;
          }
        }
    return y;
  }
  Act residual(const std::string& pre, const Act& x) const {
    const Act h = weights.data(pre + ".conv_shortcut.weight") ? conv(x, pre + ".conv_shortcut") : x;
    const Act a = conv(norm(x, pre + ".norm1.gamma", true), pre + ".conv1");
    return conv(norm(a, pre + ".norm2.gamma", true), pre + ".conv2", &h);
  }
  Act attention(const std::string& pre, const Act& x) const {
    const Act qkv = conv(norm(x, pre + ".norm.gamma", false), pre + ".to_qkv");
    const int64_t c = x.c, n = x.h * x.w;
    Act o = make_act(c, x.t, x.h, x.w);
    for (int64_t t = 0; t < x.t; ++t)
      for (int64_t i = 0; i < n; ++i) {
        std::vector<double> s(n);
        double mx = -1e300;
        for (int64_t j = 0; j < n; ++j) {
          double d = 0;
          for (int64_t ch = 0; ch < c; ++ch) d += qkv.v[(ch * x.t + t) * n + i] * qkv.v[((c + ch) * x.t + t) * n + j];
          s[j] = d / std::sqrt(static_cast<double>(c));
          mx = std::max(mx, s[j]);
        }
        double l = 0;
        for (double& e : s) l += (e = std::exp(e - mx));
        for (int64_t ch = 0; ch < c; ++ch) {
          double acc = 0;
          for (int64_t j = 0; j < n; ++j) acc += s[j] * qkv.v[((2 * c + ch) * x.t + t) * n + j];
          o.v[(ch * x.t + t) * n + i] = acc / l;
        }
      }
    return conv(o, pre + ".proj", &x);
  }
  Act upsample(const Act& x) const {
    Act y = make_act(x.c, x.t, 2 * x.h, 2 * x.w);
    for (int64_t c = 0; c < x.c; ++c)
      for (int64_t t = 0; t < x.t; ++t)
        for (int64_t yy = 0; yy < y.h; ++yy)
          for (int64_t xx = 0; xx < y.w; ++xx) y.at(c, t, yy, xx) = x.at(c, t, yy / 2, xx / 2);
    return y;
  }
  // upsample3d's time step: frame 0 passes; frames 1.. are a causal sequence of their own.
  Act time_upsample(const Act& x, const std::string& name) const {
    Act rest = make_act(x.c, x.t - 1, x.h, x.w);
    for (int64_t c = 0; c < x.c; ++c)
      for (int64_t t = 1; t < x.t; ++t)
        for (int64_t yy = 0; yy < x.h; ++yy)
          for (int64_t xx = 0; xx < x.w; ++xx) rest.at(c, t - 1, yy, xx) = x.at(c, t, yy, xx);
    Act y = make_act(x.c, 1 + 2 * (x.t - 1), x.h, x.w);
    for (int64_t c = 0; c < x.c; ++c)
      for (int64_t yy = 0; yy < x.h; ++yy)
        for (int64_t xx = 0; xx < x.w; ++xx) y.at(c, 0, yy, xx) = x.at(c, 0, yy, xx);
    if (x.t == 1) return y;
    const Act d = conv(rest, name);  // [2C, T-1]
    for (int64_t c = 0; c < x.c; ++c)
      for (int64_t t = 0; t < x.t - 1; ++t)
        for (int64_t j = 0; j < 2; ++j)
          for (int64_t yy = 0; yy < x.h; ++yy)
            for (int64_t xx = 0; xx < x.w; ++xx) y.at(c, 1 + 2 * t + j, yy, xx) = d.at(j * x.c + c, t, yy, xx);
    return y;
  }
  Act decode(const Tensor& latents, bool clamp = true) const {
    const WanVaeConfig& cfg = weights.config();
    Act z = make_act(latents.size(0), latents.size(1), latents.size(2), latents.size(3));
    for (int64_t c = 0; c < z.c; ++c)
      for (int64_t i = 0; i < z.t * z.h * z.w; ++i)
        z.v[c * z.t * z.h * z.w + i] =
            static_cast<double>(latents.data<float>()[c * z.t * z.h * z.w + i]) * cfg.latents_std[c] + cfg.latents_mean[c];
    Act x = conv(conv(z, "post_quant_conv"), "decoder.conv_in");
    x = residual("decoder.mid_block.resnets.0", x);
    x = attention("decoder.mid_block.attentions.0", x);
    x = residual("decoder.mid_block.resnets.1", x);
    for (int64_t i = 0; i < cfg.up_blocks(); ++i) {
      const std::string b = "decoder.up_blocks." + std::to_string(i);
      for (int64_t j = 0; j <= cfg.num_res_blocks; ++j) x = residual(b + ".resnets." + std::to_string(j), x);
      const std::string mode = cfg.upsample_mode(i);
      if (mode.empty()) continue;
      if (mode == "upsample3d") x = time_upsample(x, b + ".upsamplers.0.time_conv");
      x = conv(upsample(x), b + ".upsamplers.0.resample.1");
    }
    x = conv(norm(x, "decoder.norm_out.gamma", true), "decoder.conv_out");
    if (clamp)
      for (double& v : x.v) v = std::min(1.0, std::max(-1.0, v));
    return x;
  }
};

WanVaeConfig tiny_config() { return vae_config_by_name("vae-tiny").value(); }

Tensor random_latents(const WanVaeConfig& c, int64_t t, int64_t h, int64_t w, uint64_t seed) {
  return tensor_of(random_values(c.z_dim * t * h * w, seed), {c.z_dim, t, h, w});
}

TEST(VaeConfig, Wan21Shapes) {
  const WanVaeConfig c = vae_config_by_name("wan2.1-vae").value();
  EXPECT_EQ(c.decoder_dims(), (std::vector<int64_t>{384, 384, 384, 192, 96}));
  EXPECT_EQ(c.upsample_mode(0), "upsample3d");
  EXPECT_EQ(c.upsample_mode(1), "upsample3d");
  EXPECT_EQ(c.upsample_mode(2), "upsample2d");
  EXPECT_EQ(c.upsample_mode(3), "");
  EXPECT_EQ(c.spatial_scale(), 8);
  EXPECT_EQ(c.video_frames(21), 81);
  EXPECT_EQ(c.video_frames(1), 1);
  // The Wan2.1 decoder's parameter count (diffusers: decoder + post_quant_conv).
  int64_t params = 0;
  for (const auto& s : vae_weight_specs(c)) params += shape_numel(s.shape);
  EXPECT_EQ(params, 73295603);  // diffusers: sum of p.numel() over decoder.* and post_quant_conv.*
}

// "name (d0, d1, ...)" lines after a comment line.
std::map<std::string, Shape> read_key_list(const std::string& file) {
  std::map<std::string, Shape> out;
  const std::string path = std::string(std::getenv("TEST_SRCDIR") ? std::getenv("TEST_SRCDIR") : ".") +
                           "/wan_repro/engine/vae/testdata/" + file;
  FILE* f = std::fopen(path.c_str(), "r");
  EXPECT_NE(f, nullptr) << path;
  if (!f) return out;
  char line[512];
  while (std::fgets(line, sizeof(line), f)) {
    if (line[0] == '#') continue;
    std::string s(line);
    const size_t space = s.find(' ');
    Shape shape;
    for (size_t i = space; i < s.size();) {
      if (std::isdigit(static_cast<unsigned char>(s[i]))) {
        size_t used = 0;
        shape.push_back(std::stoll(s.substr(i), &used));
        i += used;
      } else {
        ++i;
      }
    }
    out.emplace(s.substr(0, space), shape);
  }
  std::fclose(f);
  return out;
}

// Names and shapes as diffusers' and the original Wan code construct them (testdata lists).
TEST(VaeWeights, SpecsMatchDiffusersAndOriginalKeyLists) {
  const WanVaeConfig c = vae_config_by_name("wan2.1-vae").value();
  const auto diffusers = read_key_list("diffusers_decoder_keys.txt");
  const auto original = read_key_list("wan21_decoder_keys.txt");
  ASSERT_EQ(diffusers.size(), 108u);
  ASSERT_EQ(original.size(), 108u);
  std::map<std::string, Shape> ours;
  for (const auto& s : vae_weight_specs(c)) ours.emplace(s.name, s.shape);
  EXPECT_EQ(ours, diffusers);
  std::set<std::string> mapped;
  for (const auto& [key, shape] : original) {
    const std::string name = canonical_vae_weight_name(c, key);
    ASSERT_TRUE(diffusers.count(name)) << key << " -> '" << name << "'";
    EXPECT_EQ(diffusers.at(name), shape) << key << " -> " << name;
    mapped.insert(name);
  }
  EXPECT_EQ(mapped.size(), 108u);  // one to one
  EXPECT_EQ(canonical_vae_weight_name(c, "encoder.conv1.weight"), "");
  EXPECT_EQ(canonical_vae_weight_name(c, "conv1.weight"), "");
}

TEST(VaeConfig, JsonFileAndBadFields) {
  const std::string dir = ::testing::TempDir();
  const std::string good = dir + "/vae_config_good.json", bad = dir + "/vae_config_bad.json",
                    wan22 = dir + "/vae_config_22.json";
  auto write = [](const std::string& path, const std::string& text) {
    FILE* f = std::fopen(path.c_str(), "w");
    std::fputs(text.c_str(), f);
    std::fclose(f);
  };
  write(good, R"({"_class_name": "AutoencoderKLWan", "base_dim": 96, "z_dim": 16, "dim_mult": [1, 2, 4, 4],
                  "num_res_blocks": 2, "temperal_downsample": [false, true, true], "attn_scales": [], "dropout": 0.0})");
  write(bad, R"({"base_dim": 96, "num_res_block": 2})");
  write(wan22, R"({"base_dim": 160, "z_dim": 48, "is_residual": true})");
  auto c = resolve_vae_config(good);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->decoder_dims()[0], 384);
  auto b = resolve_vae_config(bad);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("num_res_block"), std::string::npos) << b.status().message();
  auto w = resolve_vae_config(wan22);
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.status().message().find("Wan2.2"), std::string::npos) << w.status().message();
}

// Causal 3x3x3 with history, 1x1x1, 2-D 3x3 and residual, against the double reference.
TEST(VaeOpsCpu, ConvMatchesDoubleReference) {
  const WanVaeConfig c = tiny_config();
  const VaeWeights w = VaeWeights::synthetic(c, 11).value();
  VaeOpsCpu ops(w, false);
  RefDecoder ref{w};
  struct Case {
    std::string weight;
    int64_t t, h, wd;
  };
  for (const Case& k : {Case{"decoder.conv_in", 3, 5, 7}, Case{"decoder.mid_block.resnets.0.conv1", 2, 4, 3},
                        Case{"decoder.up_blocks.1.resnets.0.conv_shortcut", 2, 3, 5},
                        Case{"decoder.up_blocks.0.upsamplers.0.resample.1", 1, 6, 4},
                        Case{"decoder.up_blocks.0.upsamplers.0.time_conv", 1, 3, 3}}) {
    const Shape ws = w.get(k.weight + ".weight").value().shape();
    const int64_t in = ws[1], out = ws[0];
    const bool causal = ws.size() == 5 && ws[2] == 3;
    // Whole sequence of 2 + t frames; the op sees the last t with the first 2 as history.
    const int64_t total = causal ? k.t + 2 : k.t;
    const std::vector<float> seq = random_values(in * total * k.h * k.wd, 7 + k.t);
    Act a = make_act(in, total, k.h, k.wd);
    for (size_t i = 0; i < seq.size(); ++i) a.v[i] = seq[i];
    const std::vector<float> res = random_values(out * total * k.h * k.wd, 99);
    Act r = make_act(out, total, k.h, k.wd);
    for (size_t i = 0; i < res.size(); ++i) r.v[i] = res[i];
    const Act expect = ref.conv(a, k.weight, &r);
    const int64_t first = causal ? 2 : 0, plane = k.h * k.wd;
    Tensor x = Tensor::empty({in, k.t, k.h, k.wd}, DType::kF32).value();
    Tensor hist = Tensor::empty({in, 2, k.h, k.wd}, DType::kF32).value();
    Tensor rt = Tensor::empty({out, k.t, k.h, k.wd}, DType::kF32).value();
    for (int64_t ci = 0; ci < in; ++ci)
      for (int64_t t = 0; t < total; ++t)
        for (int64_t i = 0; i < plane; ++i) {
          const float v = seq[(ci * total + t) * plane + i];
          if (t < first) hist.data<float>()[(ci * 2 + t) * plane + i] = v;
          else x.data<float>()[(ci * k.t + t - first) * plane + i] = v;
        }
    for (int64_t o = 0; o < out; ++o)
      for (int64_t t = first; t < total; ++t)
        for (int64_t i = 0; i < plane; ++i)
          rt.data<float>()[(o * k.t + t - first) * plane + i] = res[(o * total + t) * plane + i];
    auto y = ops.conv(x, causal ? hist : Tensor(), k.weight, rt);
    ASSERT_TRUE(y.ok()) << y.status().message();
    std::vector<double> got = to_double(y.value()), want;
    for (int64_t o = 0; o < out; ++o)
      for (int64_t t = first; t < total; ++t)
        for (int64_t i = 0; i < plane; ++i) want.push_back(expect.v[(o * total + t) * plane + i]);
    EXPECT_LT(rel_l2(got, want), 1e-6) << k.weight;
  }
}

TEST(VaeOpsCpu, NormAttentionUpsampleSplitMatchReference) {
  const WanVaeConfig c = tiny_config();
  const VaeWeights w = VaeWeights::synthetic(c, 12).value();
  VaeOpsCpu ops(w, false);
  RefDecoder ref{w};
  const int64_t ch = c.decoder_dims()[0], t = 2, h = 3, wd = 5;
  const std::vector<float> v = random_values(ch * t * h * wd, 3, 2.0);
  Act a = make_act(ch, t, h, wd);
  for (size_t i = 0; i < v.size(); ++i) a.v[i] = v[i];
  const Tensor x = tensor_of(v, {ch, t, h, wd});
  for (bool silu : {false, true}) {
    auto y = ops.rms_norm(x, "decoder.mid_block.resnets.0.norm1.gamma", silu);
    ASSERT_TRUE(y.ok());
    EXPECT_LT(rel_l2(to_double(y.value()), ref.norm(a, "decoder.mid_block.resnets.0.norm1.gamma", silu).v), 1e-6);
  }
  // The attention block (norm, to_qkv, attention, proj + identity) through the ops.
  auto n = ops.rms_norm(x, "decoder.mid_block.attentions.0.norm.gamma", false).value();
  auto qkv = ops.conv(n, Tensor(), "decoder.mid_block.attentions.0.to_qkv", Tensor()).value();
  auto att = ops.attention(qkv).value();
  auto out = ops.conv(att, Tensor(), "decoder.mid_block.attentions.0.proj", x).value();
  EXPECT_LT(rel_l2(to_double(out), ref.attention("decoder.mid_block.attentions.0", a).v), 1e-6);
  auto up = ops.upsample2x(x).value();
  EXPECT_EQ(to_double(up), ref.upsample(a).v);  // exact copy
  auto split = ops.split_time(x).value();
  ASSERT_EQ(split.shape(), (Shape{ch / 2, 2 * t, h, wd}));
  EXPECT_EQ(split.data<float>()[((1 * 2 * t) + 1) * h * wd], v[((ch / 2 + 1) * t + 0) * h * wd]);
}

// The frame-at-a-time decode with its caches equals the whole-sequence graph in double.
TEST(VaeDecoderCpu, FrameAtATimeEqualsWholeSequence) {
  const WanVaeConfig c = tiny_config();
  const VaeWeights w = VaeWeights::synthetic(c, 5).value();
  auto decoder = make_vae_decoder(w, Device::cpu(), "fp32").value();
  for (const auto& [t, h, wd] : {std::tuple<int64_t, int64_t, int64_t>{3, 2, 3}, {1, 3, 2}, {4, 2, 2}}) {
    const Tensor z = random_latents(c, t, h, wd, 100 + t);
    auto video = decoder->decode(z);
    ASSERT_TRUE(video.ok()) << video.status().message();
    EXPECT_EQ(video->shape(), (Shape{3, 1 + 4 * (t - 1), 8 * h, 8 * wd}));
    const Act want = RefDecoder{w}.decode(z);
    const double err = rel_l2(to_double(video.value()), want.v);
    std::printf("frame-at-a-time vs whole-sequence double (T=%lld, %lldx%lld): rel L2 %.3g\n",
                static_cast<long long>(t), static_cast<long long>(h), static_cast<long long>(wd), err);
    EXPECT_LT(err, 1e-5);
    // Not saturated: most output values lie inside the clamp.
    int64_t inside = 0;
    for (double v : want.v) inside += std::fabs(v) < 0.999;
    EXPECT_GT(inside, static_cast<int64_t>(want.v.size() * 0.5));
  }
}

// diffusers' tiled_decode, in double on the whole-sequence reference: tiles, in-place blends
// in row order, crop to the stride, stitch, clamp.
std::vector<double> reference_tiled(const VaeWeights& w, const Tensor& z, int64_t tile_px, int64_t stride_px) {
  const int64_t scale = 8, h = z.size(2), wd = z.size(3), tile = tile_px / scale, stride = stride_px / scale;
  const int64_t blend = tile_px - stride_px;
  std::vector<std::vector<Act>> rows;
  for (int64_t i = 0; i < h; i += stride) {
    rows.emplace_back();
    for (int64_t j = 0; j < wd; j += stride) {
      const int64_t th = std::min(h, i + tile) - i, tw = std::min(wd, j + tile) - j;
      Tensor sub = Tensor::empty({z.size(0), z.size(1), th, tw}, DType::kF32).value();
      for (int64_t c = 0; c < z.size(0); ++c)
        for (int64_t t = 0; t < z.size(1); ++t)
          for (int64_t y = 0; y < th; ++y)
            for (int64_t x = 0; x < tw; ++x)
              sub.data<float>()[((c * z.size(1) + t) * th + y) * tw + x] =
                  z.data<float>()[((c * z.size(1) + t) * h + i + y) * wd + j + x];
      rows.back().push_back(RefDecoder{w}.decode(sub, /*clamp=*/false));
    }
  }
  for (size_t r = 0; r < rows.size(); ++r)
    for (size_t c = 0; c < rows[r].size(); ++c) {
      Act& b = rows[r][c];
      if (r > 0) {  // blend_v
        const Act& a = rows[r - 1][c];
        const int64_t e = std::min({a.h, b.h, blend});
        for (int64_t y = 0; y < e; ++y)
          for (int64_t ch = 0; ch < 3; ++ch)
            for (int64_t t = 0; t < b.t; ++t)
              for (int64_t x = 0; x < b.w; ++x)
                b.at(ch, t, y, x) = a.at(ch, t, a.h - e + y, x) * (1.0 - double(y) / e) + b.at(ch, t, y, x) * (double(y) / e);
      }
      if (c > 0) {  // blend_h
        const Act& a = rows[r][c - 1];
        const int64_t e = std::min({a.w, b.w, blend});
        for (int64_t x = 0; x < e; ++x)
          for (int64_t ch = 0; ch < 3; ++ch)
            for (int64_t t = 0; t < b.t; ++t)
              for (int64_t y = 0; y < b.h; ++y)
                b.at(ch, t, y, x) = a.at(ch, t, y, a.w - e + x) * (1.0 - double(x) / e) + b.at(ch, t, y, x) * (double(x) / e);
      }
    }
  const int64_t frames = rows[0][0].t, out_h = h * scale, out_w = wd * scale;
  std::vector<double> out(3 * frames * out_h * out_w);
  for (size_t r = 0; r < rows.size(); ++r)
    for (size_t c = 0; c < rows[r].size(); ++c) {
      const Act& b = rows[r][c];
      for (int64_t ch = 0; ch < 3; ++ch)
        for (int64_t t = 0; t < frames; ++t)
          for (int64_t y = 0; y < std::min(b.h, stride_px); ++y)
            for (int64_t x = 0; x < std::min(b.w, stride_px); ++x) {
              const int64_t oy = r * stride_px + y, ox = c * stride_px + x;
              if (oy < out_h && ox < out_w)
                out[((ch * frames + t) * out_h + oy) * out_w + ox] = std::min(1.0, std::max(-1.0, b.at(ch, t, y, x)));
            }
    }
  return out;
}

// Tiles of 4x4 latents every 3 (32 and 24 pixels) over a 7x9 grid: 3 x 3 tiles, partial edges.
TEST(VaeDecoderCpu, TiledDecodeIsDiffusersTiledDecode) {
  const WanVaeConfig c = tiny_config();
  const VaeWeights w = VaeWeights::synthetic(c, 9).value();
  auto d = make_vae_decoder(w, Device::cpu(), "fp32").value();
  const Tensor z = random_latents(c, 2, 7, 9, 13);
  const Tensor tiled = d->decode(z, nullptr, nullptr, VaeTiling::parse("32,24").value()).value();
  const std::vector<double> want = reference_tiled(w, z, 32, 24);
  const double err = rel_l2(to_double(tiled), want);
  const double untiled = rel_l2(to_double(d->decode(z).value()), want);
  std::printf("tiled 32,24 vs the double tiled reference: rel L2 %.3g (the untiled decode differs by %.3g)\n", err,
              untiled);
  EXPECT_LT(err, 1e-5);
  EXPECT_GT(untiled, 1e-3);  // tiling changes the result: the test sees the tiles
}

TEST(VaeDecoderCpu, TilingAsLargeAsTheImageIsTheUntiledDecode) {
  const WanVaeConfig c = tiny_config();
  const VaeWeights w = VaeWeights::synthetic(c, 8).value();
  auto d = make_vae_decoder(w, Device::cpu(), "fp32").value();
  const Tensor z = random_latents(c, 2, 3, 4, 12);
  const Tensor plain = d->decode(z).value();
  const Tensor tiled = d->decode(z, nullptr, nullptr, VaeTiling::parse("32,24").value()).value();
  ASSERT_EQ(plain.shape(), tiled.shape());
  EXPECT_EQ(0, std::memcmp(plain.raw_data(), tiled.raw_data(), plain.nbytes()));
  EXPECT_FALSE(VaeTiling::parse("24,24").ok());
  EXPECT_FALSE(VaeTiling::parse("30,20").ok());
  EXPECT_FALSE(VaeTiling::parse("256").ok());
  EXPECT_EQ(VaeTiling::parse("256,192").value().to_string(), "256,192");
}

TEST(VaeDecoderCpu, Bf16RoundingPointsStayClose) {
  const WanVaeConfig c = tiny_config();
  const VaeWeights w = VaeWeights::synthetic(c, 6).value();
  const Tensor z = random_latents(c, 2, 3, 3, 9);
  const Tensor f32 = make_vae_decoder(w, Device::cpu(), "fp32").value()->decode(z).value();
  const Tensor bf16 = make_vae_decoder(w, Device::cpu(), "bf16").value()->decode(z).value();
  const double err = rel_l2(to_double(bf16), to_double(f32));
  std::printf("bf16 rounding points vs fp32: rel L2 %.3g\n", err);
  EXPECT_GT(err, 0.0);
  EXPECT_LT(err, 3e-2);
}

TEST(VaeDecoderCpu, RepeatedDecodesAreBitIdentical) {
  const WanVaeConfig c = tiny_config();
  const VaeWeights w = VaeWeights::synthetic(c, 7).value();
  const Tensor z = random_latents(c, 3, 2, 2, 1);
  for (const char* precision : {"fp32", "bf16"}) {
    auto d = make_vae_decoder(w, Device::cpu(), precision).value();
    const Tensor a = d->decode(z).value(), b = d->decode(z).value();
    ASSERT_EQ(a.nbytes(), b.nbytes());
    EXPECT_EQ(0, std::memcmp(a.raw_data(), b.raw_data(), a.nbytes())) << precision;
  }
}

TEST(VaeDecoderCpu, ObserverSeesEveryOpPerFrame) {
  struct Names : VaeObserver {
    std::vector<std::string> seen;
    void on_vae_op(int64_t t, std::string_view name, Tensor&) override {
      seen.push_back(std::to_string(t) + ":" + std::string(name));
    }
  } names;
  const WanVaeConfig c = tiny_config();
  const VaeWeights w = VaeWeights::synthetic(c, 7).value();
  auto d = make_vae_decoder(w, Device::cpu(), "fp32").value();
  ASSERT_TRUE(d->decode(random_latents(c, 2, 2, 2, 3), &names).ok());
  // Per latent frame: post_quant_conv, conv_in, 3 mid, 4 x 3 residuals, 3 upsamples, head;
  // the time_convs from frame 1 on.
  EXPECT_EQ(names.seen.front(), "0:post_quant_conv");
  EXPECT_EQ(std::count(names.seen.begin(), names.seen.end(), "0:up0.time_conv"), 0);
  EXPECT_EQ(std::count(names.seen.begin(), names.seen.end(), "1:up0.time_conv"), 1);
  EXPECT_EQ(names.seen.size(), 2 * (1 + 1 + 3 + 12 + 3 + 1) + 2u);
}

TEST(VaeDecoderCpu, WrongLatentsAreRefused) {
  const WanVaeConfig c = tiny_config();
  const VaeWeights w = VaeWeights::synthetic(c, 7).value();
  auto d = make_vae_decoder(w, Device::cpu(), "fp32").value();
  auto r = d->decode(tensor_of(random_values(8 * 2 * 2 * 2, 1), {8, 2, 2, 2}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("z_dim 16"), std::string::npos) << r.status().message();
}

// The original Wan2.1 VAE key for a diffusers decoder name (the inverse of the loader's map).
std::string original_name(const WanVaeConfig& c, const std::string& name) {
  auto replace = [](std::string s, const std::string& from, const std::string& to) {
    const size_t at = s.find(from);
    return at == std::string::npos ? s : s.replace(at, from.size(), to);
  };
  auto residual = [&](std::string rest) {
    for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
             {"norm1.", "residual.0."}, {"conv1.", "residual.2."}, {"norm2.", "residual.3."},
             {"conv2.", "residual.6."}, {"conv_shortcut.", "shortcut."}})
      if (rest.rfind(from, 0) == 0) return to + rest.substr(from.size());
    return rest;
  };
  if (name.rfind("post_quant_conv.", 0) == 0) return replace(name, "post_quant_conv.", "conv2.");
  if (name.rfind("decoder.conv_in.", 0) == 0) return replace(name, "conv_in.", "conv1.");
  if (name.rfind("decoder.norm_out.", 0) == 0) return replace(name, "norm_out.", "head.0.");
  if (name.rfind("decoder.conv_out.", 0) == 0) return replace(name, "conv_out.", "head.2.");
  if (name.rfind("decoder.mid_block.attentions.0.", 0) == 0) return replace(name, "mid_block.attentions.0.", "middle.1.");
  for (int r = 0; r < 2; ++r) {
    const std::string p = "decoder.mid_block.resnets." + std::to_string(r) + ".";
    if (name.rfind(p, 0) == 0) return "decoder.middle." + std::to_string(2 * r) + "." + residual(name.substr(p.size()));
  }
  int64_t flat = 0;
  for (int64_t b = 0; b < c.up_blocks(); ++b) {
    const std::string p = "decoder.up_blocks." + std::to_string(b) + ".";
    for (int64_t j = 0; j <= c.num_res_blocks; ++j) {
      const std::string q = p + "resnets." + std::to_string(j) + ".";
      if (name.rfind(q, 0) == 0) return "decoder.upsamples." + std::to_string(flat + j) + "." + residual(name.substr(q.size()));
    }
    const std::string u = p + "upsamplers.0.";
    if (name.rfind(u, 0) == 0) return "decoder.upsamples." + std::to_string(flat + c.num_res_blocks + 1) + "." + name.substr(u.size());
    flat += c.num_res_blocks + 1 + (c.upsample_mode(b).empty() ? 0 : 1);
  }
  return "?" + name;
}

TEST(VaeWeights, SaveLoadBothLayoutsAndErrors) {
  const WanVaeConfig c = tiny_config();
  const VaeWeights w = VaeWeights::synthetic(c, 21).value();
  const std::string dir = ::testing::TempDir() + "/vae_weights_test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir + "/pipeline/vae");
  const std::string diffusers = dir + "/pipeline/vae/diffusion_pytorch_model.safetensors";
  ASSERT_TRUE(w.save(diffusers).ok());
  // A diffusers pipeline folder is followed to vae/.
  auto loaded = VaeWeights::load(c, dir + "/pipeline");
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  // The original layout (with encoder keys beside, which are ignored).
  std::vector<std::pair<std::string, Tensor>> original;
  for (const auto& [name, t] : w.tensors()) {
    const std::string o = original_name(c, name);
    ASSERT_EQ(canonical_vae_weight_name(c, o), name) << o;
    original.emplace_back(o, t);
  }
  original.emplace_back("encoder.conv1.weight", w.get("decoder.conv_in.weight").value());
  original.emplace_back("conv1.weight", w.get("post_quant_conv.weight").value());
  const std::string wan = dir + "/Wan2.1_VAE.safetensors";
  ASSERT_TRUE(write_safetensors(wan, original).ok());
  auto from_wan = VaeWeights::load(c, wan);
  ASSERT_TRUE(from_wan.ok()) << from_wan.status().message();
  const Tensor z = random_latents(c, 2, 2, 2, 4);
  const Tensor a = make_vae_decoder(w, Device::cpu(), "fp32").value()->decode(z).value();
  for (const VaeWeights* other : {&loaded.value(), &from_wan.value()}) {
    const Tensor b = make_vae_decoder(*other, Device::cpu(), "fp32").value()->decode(z).value();
    EXPECT_EQ(0, std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()));
  }
  // Missing and mis-shaped tensors are named; the wrong config is named.
  std::vector<std::pair<std::string, Tensor>> missing, misshaped;
  for (const auto& [name, t] : w.tensors()) {
    if (name != "decoder.up_blocks.2.resnets.1.conv2.weight") missing.emplace_back(name, t);
    misshaped.emplace_back(name, name == "decoder.norm_out.gamma" ? w.get("decoder.conv_out.bias").value() : t);
  }
  ASSERT_TRUE(write_safetensors(dir + "/missing.safetensors", missing).ok());
  ASSERT_TRUE(write_safetensors(dir + "/misshaped.safetensors", misshaped).ok());
  auto m = VaeWeights::load(c, dir + "/missing.safetensors");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kNotFound);
  EXPECT_NE(m.status().message().find("decoder.up_blocks.2.resnets.1.conv2.weight"), std::string::npos);
  auto s = VaeWeights::load(c, dir + "/misshaped.safetensors");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("decoder.norm_out.gamma"), std::string::npos) << s.status().message();
  auto full = VaeWeights::load(vae_config_by_name("wan2.1-vae").value(), diffusers);
  ASSERT_FALSE(full.ok());
  EXPECT_NE(full.status().message().find("--vae-config"), std::string::npos) << full.status().message();
  // Pickles are refused with the conversion command, by extension or by content.
  for (const std::string& p : {dir + "/Wan2.1_VAE.pth", dir + "/renamed.safetensors"}) {
    FILE* f = std::fopen(p.c_str(), "wb");
    std::fputs("PK\x03\x04 zip of a torch.save", f);
    std::fclose(f);
    auto r = VaeWeights::load(c, p);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("safetensors.torch import save_file"), std::string::npos) << r.status().message();
  }
}

TEST(VideoFrames, FastVideoUint8Rule) {
  // x -> trunc(clamp(x / 2 + 0.5, 0, 1) * 255) per channel, THWC order.
  const std::vector<float> v = {-1.0f, 1.0f, 0.0f, -2.0f, 0.999f, std::nanf(""),  // R of 6 pixels
                                0.5f,  0.5f, 0.5f, 0.5f,  0.5f,   0.5f,           // G
                                -0.5f, -0.5f, -0.5f, -0.5f, -0.5f, -0.5f};        // B
  const Tensor video = tensor_of(v, {3, 2, 1, 3});
  auto f = video_to_frames(video);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->frames, 2);
  const std::vector<uint8_t> r = {f->rgb[0], f->rgb[3], f->rgb[6], f->rgb[9], f->rgb[12], f->rgb[15]};
  EXPECT_EQ(r, (std::vector<uint8_t>{0, 255, 127, 0, 254, 0}));
  EXPECT_EQ(f->rgb[1], 191);  // 0.75 * 255 = 191.25
  EXPECT_EQ(f->rgb[2], 63);   // 0.25 * 255 = 63.75
  EXPECT_EQ(canonical_frames_header(f.value()), "wan-frames/1 frames=2 height=1 width=3 channels=3 layout=THWC dtype=u8\n");
  EXPECT_FALSE(video_to_frames(tensor_of(v, {2, 3, 1, 3})).ok());
}

}  // namespace
}  // namespace wan
