// The CUDA VAE ops against the CPU reference in its bf16 rounding-points mode (VaeOpsCpu with
// round_bf16), op by op on fresh random bf16 inputs, then whole decodes. Bounds:
// - denormalize, rms_norm (+SiLU), upsample2x, split_time, next_history, finish: bit-identical
//   (the same f32/f64 operations in the same order, one RNE rounding);
// - conv: max |cuda - cpu| <= 1e-2 * max |cpu| and rel L2 < 4e-3 (one bf16 rounding, 2^-9, of
//   sums taken in another order);
// - attention: max |diff| <= 2e-2 * max |cpu|, rel L2 < 1e-2 (also p rounded to bf16 on both
//   sides from scores that differ in the last bits);
// - decode (vae-tiny, synthetic weights): rel L2 < 2e-2 against the CPU bf16 decode (1 ulp
//   differences grow through the graph; seen on an H200: 9.4e-4 at T = 1, 1.4e-2 at T = 3) and
//   < 3e-2 against the CPU fp32 decode (the CPU test's bound for its own bf16 mode); two CUDA
//   decodes bit-identical, from host or device latents.
// Seen on an H200: conv, rms_norm and data movement bit-identical at these widths; attention
// within 1 bf16 ulp (rel L2 9e-5).
#include "engine/vae/vae_ops_cuda.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "engine/vae/vae_decoder.h"
#include "engine/vae/vae_ops_cpu.h"
#include "kernels/common/float16.h"
#include "kernels/common/testing/gpu_test.h"

namespace wan {
namespace {

// Normal values rounded to bf16 (so CPU and GPU see the same inputs).
std::vector<float> random_bf16_values(int64_t n, uint64_t seed, double scale = 1.0) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> d(0.0, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = round_to_bf16(static_cast<float>(d(gen)));
  return v;
}

Tensor host_f32(const std::vector<float>& v, const Shape& shape) {
  Tensor t = Tensor::empty(shape, DType::kF32).value();
  std::copy(v.begin(), v.end(), t.data<float>());
  return t;
}

Tensor device_bf16(const std::vector<float>& v, const Shape& shape) {
  Tensor h = Tensor::empty(shape, DType::kBF16).value();
  uint16_t* b = static_cast<uint16_t*>(h.raw_data());
  for (size_t i = 0; i < v.size(); ++i) b[i] = f32_to_bf16_bits(v[i]);
  return h.to(Device::cuda()).value();
}

std::vector<float> values_of(const Tensor& t) {
  if (t.dtype() == DType::kF32) {
    const Tensor h = t.to(Device::cpu()).value();
    return std::vector<float>(h.data<float>(), h.data<float>() + h.numel());
  }
  EXPECT_EQ(t.dtype(), DType::kBF16) << t.describe();
  const Tensor h = t.to(Device::cpu()).value();
  const uint16_t* b = static_cast<const uint16_t*>(h.raw_data());
  std::vector<float> v(static_cast<size_t>(h.numel()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = bf16_bits_to_f32(b[i]);
  return v;
}

struct Diff {
  double max_abs = 0, max_ref = 0, rel_l2 = 0;
  int64_t mismatches = 0;
};

Diff compare(const std::vector<float>& got, const std::vector<float>& ref) {
  Diff d;
  EXPECT_EQ(got.size(), ref.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < std::min(got.size(), ref.size()); ++i) {
    const double e = static_cast<double>(got[i]) - ref[i];
    d.max_abs = std::max(d.max_abs, std::fabs(e));
    d.max_ref = std::max(d.max_ref, std::fabs(static_cast<double>(ref[i])));
    d.mismatches += got[i] != ref[i] ? 1 : 0;
    num += e * e;
    den += static_cast<double>(ref[i]) * ref[i];
  }
  d.rel_l2 = std::sqrt(num / std::max(den, 1e-300));
  return d;
}

WanVaeConfig tiny() { return vae_config_by_name("vae-tiny").value(); }

std::unique_ptr<VaeOpsCuda> cuda_ops(const VaeWeights& w, const VaeOpsCudaOptions& options = {}) {
  auto ops = VaeOpsCuda::create(w, Device::cuda(0), options);
  EXPECT_TRUE(ops.ok()) << ops.status().message();
  return ops.ok() ? std::move(ops).value() : nullptr;
}

// Causal 3x3x3 (with and without history), 1x1x1, 2-D 3x3, the 3-channel head, with and
// without a residual; a small column budget forces several panels and a ragged last one.
TEST(VaeOpsCuda, ConvMatchesCpuBf16) {
  WAN_SKIP_WITHOUT_GPU();
  const VaeWeights w = VaeWeights::synthetic(tiny(), 11).value();
  VaeOpsCpu cpu(w, /*round_bf16=*/true);
  // im2col with two panel budgets, then cuDNN (its own bf16 output rounded once more after
  // bias and residual: the same bounds hold).
  for (const auto& [engine, column_bytes] : {std::pair<VaeConvEngine, size_t>{VaeConvEngine::kIm2col, size_t{256} << 20},
                                             {VaeConvEngine::kIm2col, size_t{40} << 10},
                                             {VaeConvEngine::kCudnn, size_t{256} << 20}}) {
    VaeOpsCudaOptions options;
    options.conv_engine = engine;
    options.max_column_bytes = column_bytes;
    auto gpu = cuda_ops(w, options);
    ASSERT_TRUE(gpu);
    struct Case {
      std::string weight;
      int64_t t, h, wd;
      bool history, residual;
    };
    for (const Case& k : {Case{"decoder.conv_in", 3, 5, 7, true, false},
                          Case{"decoder.conv_in", 1, 4, 4, false, false},
                          Case{"decoder.mid_block.resnets.0.conv1", 2, 6, 5, true, true},
                          Case{"decoder.up_blocks.1.resnets.0.conv_shortcut", 2, 3, 5, false, false},
                          Case{"decoder.up_blocks.0.upsamplers.0.resample.1", 1, 12, 10, false, false},
                          Case{"decoder.up_blocks.0.upsamplers.0.time_conv", 1, 3, 3, true, false},
                          Case{"decoder.mid_block.attentions.0.proj", 2, 4, 6, false, true},
                          Case{"decoder.conv_out", 2, 9, 11, true, false},
                          Case{"post_quant_conv", 3, 4, 5, false, false}}) {
      const Shape ws = w.get(k.weight + ".weight").value().shape();
      const int64_t in = ws[1], out = ws[0];
      const Shape xs{in, k.t, k.h, k.wd}, hs{in, 2, k.h, k.wd}, rs{out, k.t, k.h, k.wd};
      const auto x = random_bf16_values(shape_numel(xs), 1 + k.t);
      const auto hist = random_bf16_values(shape_numel(hs), 2 + k.t);
      const auto res = random_bf16_values(shape_numel(rs), 3 + k.t);
      auto want = cpu.conv(host_f32(x, xs), k.history ? host_f32(hist, hs) : Tensor(), k.weight,
                           k.residual ? host_f32(res, rs) : Tensor());
      ASSERT_TRUE(want.ok()) << want.status().message();
      auto got = gpu->conv(device_bf16(x, xs), k.history ? device_bf16(hist, hs) : Tensor(), k.weight,
                           k.residual ? device_bf16(res, rs) : Tensor());
      ASSERT_TRUE(got.ok()) << got.status().message();
      ASSERT_EQ(got.value().shape(), rs);
      const Diff d = compare(values_of(got.value()), values_of(want.value()));
      std::printf("conv [%s] %-46s panel budget %7zu B: max |diff| %.3g of max %.3g, rel L2 %.3g, %lld of %zu differ\n",
                  engine == VaeConvEngine::kCudnn ? "cudnn" : "im2col", k.weight.c_str(), column_bytes, d.max_abs, d.max_ref, d.rel_l2, (long long)d.mismatches,
                  static_cast<size_t>(shape_numel(rs)));
      EXPECT_LE(d.max_abs, 1e-2 * d.max_ref) << k.weight;
      EXPECT_LT(d.rel_l2, 4e-3) << k.weight;
    }
  }
}

TEST(VaeOpsCuda, RmsNormIsBitIdenticalToCpuBf16) {
  WAN_SKIP_WITHOUT_GPU();
  const VaeWeights w = VaeWeights::synthetic(tiny(), 12).value();
  VaeOpsCpu cpu(w, true);
  auto gpu = cuda_ops(w);
  ASSERT_TRUE(gpu);
  const int64_t ch = tiny().decoder_dims()[0];
  const Shape s{ch, 2, 7, 9};
  const auto x = random_bf16_values(shape_numel(s), 3, 2.0);
  for (bool silu : {false, true}) {
    const std::string g = "decoder.mid_block.resnets.0.norm1.gamma";
    auto want = cpu.rms_norm(host_f32(x, s), g, silu).value();
    auto got = gpu->rms_norm(device_bf16(x, s), g, silu);
    ASSERT_TRUE(got.ok()) << got.status().message();
    const Diff d = compare(values_of(got.value()), values_of(want));
    EXPECT_EQ(d.mismatches, 0) << "silu " << silu << ": max |diff| " << d.max_abs;
  }
  // A gamma of another width is refused (norm_out has decoder_dims().back() channels).
  std::vector<float> zeros(static_cast<size_t>(shape_numel(s)), 0.0f);
  EXPECT_FALSE(gpu->rms_norm(device_bf16(zeros, s), "decoder.norm_out.gamma", true).ok());
  // Zero pixels: the norm's 1e-12 floor, no NaN.
  auto y = gpu->rms_norm(device_bf16(zeros, s), "decoder.mid_block.resnets.0.norm1.gamma", true).value();
  for (float v : values_of(y)) ASSERT_EQ(v, 0.0f);
}

TEST(VaeOpsCuda, AttentionMatchesCpuBf16) {
  WAN_SKIP_WITHOUT_GPU();
  const VaeWeights w = VaeWeights::synthetic(tiny(), 13).value();
  VaeOpsCpu cpu(w, true);
  auto gpu = cuda_ops(w);
  ASSERT_TRUE(gpu);
  const int64_t c = tiny().decoder_dims()[0];
  struct Case {
    int64_t t, h, wd;
  };
  for (const Case& k : {Case{2, 5, 7}, Case{1, 16, 16}, Case{1, 1, 1}, Case{3, 9, 13}}) {
    const Shape s{3 * c, k.t, k.h, k.wd};
    const auto qkv = random_bf16_values(shape_numel(s), 5 + k.h, 1.5);
    auto want = cpu.attention(host_f32(qkv, s)).value();
    auto got = gpu->attention(device_bf16(qkv, s));
    ASSERT_TRUE(got.ok()) << got.status().message();
    ASSERT_EQ(got.value().shape(), (Shape{c, k.t, k.h, k.wd}));
    const Diff d = compare(values_of(got.value()), values_of(want));
    std::printf("attention t=%lld %lldx%lld: max |diff| %.3g of max %.3g, rel L2 %.3g\n", (long long)k.t,
                (long long)k.h, (long long)k.wd, d.max_abs, d.max_ref, d.rel_l2);
    EXPECT_LE(d.max_abs, 2e-2 * d.max_ref);
    EXPECT_LT(d.rel_l2, 1e-2);
  }
}

TEST(VaeOpsCuda, DataMovementIsExact) {
  WAN_SKIP_WITHOUT_GPU();
  const VaeWeights w = VaeWeights::synthetic(tiny(), 14).value();
  VaeOpsCpu cpu(w, true);
  auto gpu = cuda_ops(w);
  ASSERT_TRUE(gpu);
  const Shape s{6, 3, 5, 7};
  const auto x = random_bf16_values(shape_numel(s), 21);
  {
    auto got = gpu->upsample2x(device_bf16(x, s)).value();
    EXPECT_EQ(values_of(got), values_of(cpu.upsample2x(host_f32(x, s)).value()));
  }
  {
    auto got = gpu->split_time(device_bf16(x, s)).value();
    EXPECT_EQ(got.shape(), (Shape{3, 6, 5, 7}));
    EXPECT_EQ(values_of(got), values_of(cpu.split_time(host_f32(x, s)).value()));
  }
  {
    // Pre-rounded input: finish is the clamp alone.
    const auto big = random_bf16_values(shape_numel(s), 22, 3.0);
    auto got = gpu->finish(device_bf16(big, s), true).value();
    EXPECT_TRUE(got.device().is_cpu());
    EXPECT_EQ(values_of(got), values_of(cpu.finish(host_f32(big, s), true).value()));
  }
  // next_history against the CPU's (the base class's) for T = 1 and 3, with and without history.
  for (const int64_t t : {int64_t{1}, int64_t{3}}) {
    const Shape xs{6, t, 5, 7}, hs{6, 2, 5, 7};
    const auto xv = random_bf16_values(shape_numel(xs), 30 + t), hv = random_bf16_values(shape_numel(hs), 40 + t);
    for (bool with_history : {false, true}) {
      auto want = cpu.next_history(with_history ? host_f32(hv, hs) : Tensor(), host_f32(xv, xs)).value();
      auto got = gpu->next_history(with_history ? device_bf16(hv, hs) : Tensor(), device_bf16(xv, xs));
      ASSERT_TRUE(got.ok()) << got.status().message();
      EXPECT_EQ(values_of(got.value()), values_of(want)) << "t " << t << " history " << with_history;
    }
  }
}

TEST(VaeOpsCuda, DenormalizeIsBitIdenticalFromHostOrDevice) {
  WAN_SKIP_WITHOUT_GPU();
  const VaeWeights w = VaeWeights::synthetic(tiny(), 15).value();
  VaeOpsCpu cpu(w, true);
  auto gpu = cuda_ops(w);
  ASSERT_TRUE(gpu);
  const Shape s{tiny().z_dim, 2, 3, 5};
  std::mt19937_64 gen(5);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> z(static_cast<size_t>(shape_numel(s)));
  for (float& v : z) v = d(gen);  // f32, not pre-rounded: denormalize rounds
  const Tensor host = host_f32(z, s);
  const auto want = values_of(cpu.denormalize(host).value());
  auto from_host = gpu->denormalize(host);
  ASSERT_TRUE(from_host.ok()) << from_host.status().message();
  EXPECT_EQ(values_of(from_host.value()), want);
  auto from_device = gpu->denormalize(host.to(Device::cuda()).value());
  ASSERT_TRUE(from_device.ok());
  EXPECT_EQ(values_of(from_device.value()), want);
}

TEST(VaeOpsCuda, BadInputIsRefused) {
  WAN_SKIP_WITHOUT_GPU();
  const VaeWeights w = VaeWeights::synthetic(tiny(), 16).value();
  auto gpu = cuda_ops(w);
  ASSERT_TRUE(gpu);
  const auto host = host_f32(std::vector<float>(16 * 4, 0.0f), {16, 1, 2, 2});
  auto r = gpu->conv(host, Tensor(), "decoder.conv_in", Tensor());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("bf16"), std::string::npos) << r.status().message();
  auto wrong = gpu->conv(device_bf16(std::vector<float>(8 * 4, 0.0f), {8, 1, 2, 2}), Tensor(), "decoder.conv_in",
                         Tensor());
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("channels"), std::string::npos) << wrong.status().message();
  EXPECT_FALSE(gpu->conv(device_bf16(std::vector<float>(16 * 4, 0.0f), {16, 1, 2, 2}), Tensor(), "no.such", Tensor())
                   .ok());
  EXPECT_FALSE(VaeOpsCuda::create(w, Device::cpu()).ok());
}

Tensor random_latents(const WanVaeConfig& c, int64_t t, int64_t h, int64_t w, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(c.z_dim * t * h * w));
  for (float& x : v) x = d(gen);
  return host_f32(v, {c.z_dim, t, h, w});
}

// The whole decode through VaeDecoder: CUDA ops against the CPU bf16 ops, and run to run.
// T = 3 exercises the caches and both temporal upsamplers (frames 1.. double twice).
TEST(VaeDecoderCuda, MatchesCpuBf16AndIsBitIdenticalRunToRun) {
  WAN_SKIP_WITHOUT_GPU();
  const WanVaeConfig c = tiny();
  const auto w = std::make_shared<const VaeWeights>(VaeWeights::synthetic(c, 6).value());
  VaeDecoder cpu(w, std::make_unique<VaeOpsCpu>(*w, true));
  VaeDecoder cpu_f32(w, std::make_unique<VaeOpsCpu>(*w, false));
  for (const VaeConvEngine engine : {VaeConvEngine::kIm2col, VaeConvEngine::kCudnn}) {
  VaeOpsCudaOptions options;
  options.conv_engine = engine;
  auto ops = VaeOpsCuda::create(*w, Device::cuda(0), options);
  ASSERT_TRUE(ops.ok()) << ops.status().message();
  VaeDecoder gpu(w, std::move(ops).value());
  std::printf("%s\n", gpu.describe().c_str());
  EXPECT_NE(gpu.describe().find(engine == VaeConvEngine::kCudnn ? "cuDNN" : "im2col"), std::string::npos);
  for (const int64_t t : {int64_t{1}, int64_t{3}}) {
    const Tensor z = random_latents(c, t, 4, 6, 70 + t);
    auto want = cpu.decode(z);
    ASSERT_TRUE(want.ok()) << want.status().message();
    auto first = gpu.decode(z);
    ASSERT_TRUE(first.ok()) << first.status().message();
    ASSERT_EQ(first.value().shape(), want.value().shape());
    EXPECT_TRUE(first.value().device().is_cpu());
    const Diff d = compare(values_of(first.value()), values_of(want.value()));
    // The bf16 noise floor of this graph: the CPU's bf16 rounding points against all-fp32.
    const auto f32 = values_of(cpu_f32.decode(z).value());
    const Diff floor = compare(values_of(want.value()), f32), to_f32 = compare(values_of(first.value()), f32);
    std::printf("decode T=%lld: rel L2 %.3g (max |diff| %.3g) against cpu bf16; "
                "against cpu fp32 %.3g (cpu bf16: %.3g)\n",
                (long long)t, d.rel_l2, d.max_abs, to_f32.rel_l2, floor.rel_l2);
    EXPECT_LT(d.rel_l2, 2e-2);
    EXPECT_LT(to_f32.rel_l2, 3e-2);  // the CPU test's bound for bf16 rounding points vs fp32
    // From device-resident latents too (the DiT's output), and bit-identical to the first.
    auto second = gpu.decode(z.to(Device::cuda()).value());
    ASSERT_TRUE(second.ok()) << second.status().message();
    EXPECT_EQ(0, std::memcmp(first.value().raw_data(), second.value().raw_data(), first.value().nbytes()))
        << "two CUDA decodes differ";
  }
  }
}

// The pipeline's decode stage runs on the DiT's stream (a non-blocking one): the same frames
// as on the legacy default stream, and an observer (repro trace) reading each activation on
// the host sees the finished values (the decoder synchronises the stream before it calls one).
class ActivationRecorder : public VaeObserver {
 public:
  void on_vae_op(int64_t latent_frame, std::string_view name, Tensor& x) override {
    seen.emplace_back(std::to_string(latent_frame) + "/" + std::string(name), values_of(x));
  }
  std::vector<std::pair<std::string, std::vector<float>>> seen;
};

TEST(VaeDecoderCuda, OnTheModelStreamGivesTheSameBitsAndObservedActivations) {
  WAN_SKIP_WITHOUT_GPU();
  const WanVaeConfig c = tiny();
  const auto w = std::make_shared<const VaeWeights>(VaeWeights::synthetic(c, 9).value());
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  for (const VaeConvEngine engine : {VaeConvEngine::kIm2col, VaeConvEngine::kCudnn}) {
    VaeOpsCudaOptions legacy_options, stream_options;
    legacy_options.conv_engine = stream_options.conv_engine = engine;
    stream_options.stream = stream;
    VaeDecoder legacy(w, cuda_ops(*w, legacy_options));
    VaeDecoder shared(w, cuda_ops(*w, stream_options));
    const Tensor z = random_latents(c, 3, 4, 6, 91);
    ActivationRecorder want_seen, got_seen;
    const Tensor want = legacy.decode(z, &want_seen).value();
    const Tensor got = shared.decode(z.to(Device::cuda()).value(), &got_seen).value();
    ASSERT_EQ(got.shape(), want.shape());
    EXPECT_EQ(0, std::memcmp(got.raw_data(), want.raw_data(), want.nbytes())) << "frames differ on another stream";
    ASSERT_EQ(got_seen.seen.size(), want_seen.seen.size());
    ASSERT_GT(want_seen.seen.size(), 10u);
    for (size_t i = 0; i < want_seen.seen.size(); ++i) {
      EXPECT_EQ(got_seen.seen[i].first, want_seen.seen[i].first);
      EXPECT_TRUE(got_seen.seen[i].second == want_seen.seen[i].second)
          << "the observer read " << got_seen.seen[i].first << " before the stream had finished it";
    }
    // Without an observer the decode issues no synchronisation until finish(): still the same.
    EXPECT_EQ(0, std::memcmp(shared.decode(z).value().raw_data(), want.raw_data(), want.nbytes()));
  }
  cudaStreamDestroy(stream);
}

}  // namespace
}  // namespace wan
