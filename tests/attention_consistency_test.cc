// Every attention backend of the table, on every device of this machine (the CPU always, CUDA
// when a GPU is usable), against a masked-dense reference with double accumulation, in the
// spirit of ggml's test-backend-ops. Inputs are fresh bf16-valued random q, k, v in raster
// order, permuted into each backend's declared token order and the output permuted back, on
// several grids including partial tiles. Bound for exact-class backends: relative L2 < 1e-2
// against the reference over the backend's own mask (bf16 rounding of P and of the output,
// 2^-9 each, plus exp2 approximations on the GPU); for the error-bounded class (sage) relative
// L2 < 5e-2 against dense (its INT8 and FP8 quantisation, kernels/cpu/attention_sage.h). The
// mask: full for dense, sage and for video_sparse at sparsity 0 and sliding_tile's full window; video_sparse otherwise the top-k
// tiles chosen by the CPU reference (the CUDA selection is bit-identical to it, checked in
// video_sparse_attention_test); sliding_tile the spec's clamped window (sliding_tile_allows);
// block_sparse the CPU reference's kept rows and kv tiles (bit-identical to the CUDA kernels',
// bsa_attention_test), each pruned row compared with its nearest kept row's masked attention;
// sparse_linear (no proj_l here, so its linear branch is zero) the CPU reference's key blocks
// (bit-identical to the CUDA selection, sla_attention_test).
#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "engine/attention/attention_backend.h"
#include "engine/attention/attention_runner.h"
#include "engine/attention/sliding_tile_strategy.h"
#include "engine/core/device.h"
#include "kernels/attention/video_sparse/video_sparse_numerics.h"
#include "kernels/common/float16.h"
#include "kernels/cpu/attention_bsa.h"
#include "kernels/cpu/attention_sla.h"
#include "kernels/cpu/attention_vmoba.h"
#include "kernels/cpu/attention_video_sparse.h"

namespace wan {
namespace {

struct Grid {
  int64_t frames, height, width;
};

std::vector<float> random_bf16_values(size_t n, uint32_t seed, float stddev) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, stddev);
  std::vector<float> v(n);
  for (float& x : v) x = round_to_bf16(dist(gen));
  return v;
}

// out[i] = sum over keys j allowed(i, j) of softmax(scale q_i . k_j) v_j in double; raster order.
// source(h, i): the query row whose attention row i carries (i itself except for block_sparse's
// pruned rows, which copy their nearest kept row).
std::vector<float> masked_dense(const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v,
                                int64_t tokens, int64_t heads, int64_t d, float scale,
                                const std::function<bool(int64_t, int64_t, int64_t)>& allowed,
                                const std::function<int64_t(int64_t, int64_t)>& source) {
  std::vector<float> out(q.size());
  std::vector<double> s(static_cast<size_t>(tokens)), acc(static_cast<size_t>(d));
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t i = 0; i < tokens; ++i) {
      double m = -INFINITY;
      for (int64_t j = 0; j < tokens; ++j) {
        if (!allowed(h, i, j)) {
          s[j] = -INFINITY;
          continue;
        }
        double dot = 0;
        const int64_t qi = source(h, i);
        for (int64_t c = 0; c < d; ++c) dot += double(q[(qi * heads + h) * d + c]) * k[(j * heads + h) * d + c];
        s[j] = dot * scale;
        m = std::max(m, s[j]);
      }
      double l = 0;
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t j = 0; j < tokens; ++j) {
        if (s[j] == -INFINITY) continue;
        const double p = std::exp(s[j] - m);
        l += p;
        for (int64_t c = 0; c < d; ++c) acc[c] += p * v[(j * heads + h) * d + c];
      }
      for (int64_t c = 0; c < d; ++c) out[(i * heads + h) * d + c] = static_cast<float>(acc[c] / l);
    }
  return out;
}

double rel_l2(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return std::sqrt(num / den);
}

// Runs one backend through the interface (attention_runner) on raster-order inputs.
Result<std::vector<float>> run_backend(const AttentionConfig& config, Device device, const Grid& g, int64_t heads,
                                       int64_t d, const std::vector<float>& q, const std::vector<float>& k,
                                       const std::vector<float>& v, float scale) {
  const int64_t tokens = g.frames * g.height * g.width;
  const Shape s = {1, tokens, heads, d};
  auto wrap = [&](const std::vector<float>& x) {
    return Tensor::wrap(const_cast<float*>(x.data()), s, DType::kF32, Device::cpu());
  };
  const AttentionShape shape{1, heads, d, tokens, tokens, g.frames, g.height, g.width, device,
                             AttentionPrecision::kBf16};
  WAN_ASSIGN_OR_RETURN(AttentionRun run,
                       run_attention_on_raster_tokens(config, shape, wrap(q), wrap(k), wrap(v), nullptr, scale));
  return std::vector<float>(run.out.data<float>(), run.out.data<float>() + run.out.numel());
}

// block_sparse's selections by the CPU reference (bit-identical to the CUDA kernels', checked
// in bsa_attention_test): per head and tile the kv tiles, per raster token its source token.
struct BsaReference {
  int64_t tiles = 0;
  std::shared_ptr<std::vector<int32_t>> tile_of, selected, count, source;  // source: [heads, raster tokens]
};
BsaReference bsa_reference(const AttentionConfig& config, const Grid& g, int64_t heads, int64_t d,
                           const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v,
                           float scale) {
  TileLayout layout;
  EXPECT_EQ(make_tile_layout(g.frames, g.height, g.width, {4, 4, 4}, &layout), "");
  const int64_t tokens = layout.tokens, nt = layout.tile_count;
  auto tiled = [&](const std::vector<float>& x) {
    std::vector<float> y(x.size());
    for (int64_t t = 0; t < tokens; ++t)
      std::copy_n(x.begin() + layout.raster_of_tiled[t] * heads * d, heads * d, y.begin() + t * heads * d);
    return y;
  };
  const std::vector<float> tq = tiled(q), tk = tiled(k), tv = tiled(v);
  std::vector<float> out(q.size());
  std::vector<int32_t> kept(heads * nt * 64), kept_count(heads * nt), source_pos(heads * tokens);
  BsaReference r;
  r.tiles = nt;
  r.selected = std::make_shared<std::vector<int32_t>>(heads * nt * nt);
  r.count = std::make_shared<std::vector<int32_t>>(heads * nt);
  cpu::BsaAttentionParams p;
  p.q = tq.data();
  p.k = tk.data();
  p.v = tv.data();
  p.out = out.data();
  p.tile_start = layout.tile_start.data();
  p.tile_tokens = layout.tile_tokens.data();
  p.heads = heads;
  p.head_dim = d;
  p.tiles = nt;
  p.scale = scale;
  p.select = {config.number("keep"), config.number("threshold"), static_cast<int64_t>(config.number("min_tiles"))};
  p.kept = kept.data();
  p.kept_count = kept_count.data();
  p.selected = r.selected->data();
  p.selected_count = r.count->data();
  p.source_position = source_pos.data();
  cpu::attention_bsa_f32(p);
  r.tile_of = std::make_shared<std::vector<int32_t>>(static_cast<size_t>(tokens));
  r.source = std::make_shared<std::vector<int32_t>>(static_cast<size_t>(heads * tokens));
  for (int64_t t = 0; t < nt; ++t)
    for (int32_t pos = layout.tile_start[t]; pos < layout.tile_start[t + 1]; ++pos) {
      (*r.tile_of)[layout.raster_of_tiled[pos]] = static_cast<int32_t>(t);
      for (int64_t h = 0; h < heads; ++h)
        (*r.source)[h * tokens + layout.raster_of_tiled[pos]] =
            layout.raster_of_tiled[layout.tile_start[t] + source_pos[h * tokens + pos]];
    }
  return r;
}

// The source row function of a backend config (identity except block_sparse's pruned rows).
std::function<int64_t(int64_t, int64_t)> source_of(const AttentionConfig& config, const Grid& g, int64_t heads,
                                                   int64_t d, const std::vector<float>& q, const std::vector<float>& k,
                                                   const std::vector<float>& v, float scale) {
  if (config.kind != AttentionBackendKind::kBlockSparse) return [](int64_t, int64_t i) { return i; };
  const BsaReference r = bsa_reference(config, g, heads, d, q, k, v, scale);
  const int64_t tokens = g.frames * g.height * g.width;
  return [=](int64_t h, int64_t i) { return static_cast<int64_t>((*r.source)[h * tokens + i]); };
}

// The mask of a backend config: full, or VSA's top-k tiles from the CPU reference.
std::function<bool(int64_t, int64_t, int64_t)> mask_of(const AttentionConfig& config, const Grid& g, int64_t heads,
                                                        int64_t d, const std::vector<float>& q,
                                                        const std::vector<float>& k, const std::vector<float>& v,
                                                        float scale) {
  if (config.kind == AttentionBackendKind::kSlidingTile) {
    const TileWindow tile = parse_tile_window(config.option("tile")).value();
    const TileWindow window = parse_tile_window(config.option("window")).value();
    auto layout = std::make_shared<TileLayout>();
    EXPECT_EQ(make_tile_layout(g.frames, g.height, g.width, {tile.t, tile.h, tile.w}, layout.get()), "");
    auto tile_of = std::make_shared<std::vector<int32_t>>(static_cast<size_t>(layout->tokens));
    for (int64_t t = 0; t < layout->tile_count; ++t)
      for (int32_t pos = layout->tile_start[t]; pos < layout->tile_start[t + 1]; ++pos)
        (*tile_of)[layout->raster_of_tiled[pos]] = static_cast<int32_t>(t);
    return [=](int64_t, int64_t i, int64_t j) { return sliding_tile_allows(*layout, window, (*tile_of)[i], (*tile_of)[j]); };
  }
  if (config.kind == AttentionBackendKind::kVideoMoba) {
    // Layer 0 (the runner's call): temporal chunks; each query's own chunk plus its selection.
    cpu::VmobaParams p;
    p.q = q.data();
    p.k = k.data();
    p.v = v.data();
    p.heads = heads;
    p.head_dim = d;
    p.frames = g.frames;
    p.height = g.height;
    p.width = g.width;
    p.temporal_chunk = static_cast<int64_t>(config.number("temporal_chunk"));
    p.threshold = config.number("threshold");
    p.round_to_bf16 = true;
    int64_t chunks = 0;
    auto chunk_of = std::make_shared<std::vector<int32_t>>(cpu::vmoba_chunk_of_tokens(p, &chunks));
    const int64_t tokens = g.frames * g.height * g.width;
    auto selected = std::make_shared<std::vector<std::vector<int32_t>>>(static_cast<size_t>(heads * tokens));
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < tokens; ++i) (*selected)[h * tokens + i] = cpu::vmoba_select(p, *chunk_of, chunks, 0, h, i);
    return [=](int64_t h, int64_t i, int64_t j) {
      const int32_t cj = (*chunk_of)[j];
      const auto& list = (*selected)[h * tokens + i];
      return cj == (*chunk_of)[i] || std::binary_search(list.begin(), list.end(), cj);
    };
  }
  if (config.kind == AttentionBackendKind::kSparseLinear) {
    // Without proj_l the linear branch vanishes: SLA is block-sparse attention over the key
    // blocks its pooled scores select (raster order, 128-row query and 64-row key blocks).
    cpu::SlaAttentionParams p;
    p.q = q.data();
    p.k = k.data();
    p.v = v.data();
    p.heads = heads;
    p.head_dim = d;
    p.tokens = g.frames * g.height * g.width;
    p.ratio = config.number("ratio");
    p.round_to_bf16 = true;  // the backends run in bf16 precision here
    auto keep = std::make_shared<std::vector<std::vector<std::vector<int64_t>>>>();
    for (int64_t h = 0; h < heads; ++h) keep->push_back(cpu::sla_select_blocks(p, 0, h));
    return [=](int64_t h, int64_t i, int64_t j) {
      const std::vector<int64_t>& list = (*keep)[h][i / p.block_q];
      return std::binary_search(list.begin(), list.end(), j / p.block_k);
    };
  }
  if (config.kind == AttentionBackendKind::kBlockSparse) {
    const BsaReference r = bsa_reference(config, g, heads, d, q, k, v, scale);
    return [=](int64_t h, int64_t i, int64_t j) {
      const int32_t qt = (*r.tile_of)[i], kt = (*r.tile_of)[j];
      const int32_t* list = r.selected->data() + (h * r.tiles + qt) * r.tiles;
      return std::binary_search(list, list + (*r.count)[h * r.tiles + qt], kt);
    };
  }
  if (config.kind != AttentionBackendKind::kVideoSparse || config.number("sparsity") == 0.0)
    return [](int64_t, int64_t, int64_t) { return true; };
  auto layout = std::make_shared<TileLayout>();
  EXPECT_EQ(make_tile_layout(g.frames, g.height, g.width, {4, 4, 4}, layout.get()), "");
  const int64_t tokens = layout->tokens, nt = layout->tile_count, topk = vsa::topk_count(nt, config.number("sparsity"));
  auto tiled = [&](const std::vector<float>& x) {
    std::vector<float> y(x.size());
    for (int64_t t = 0; t < tokens; ++t)
      std::copy_n(x.begin() + layout->raster_of_tiled[t] * heads * d, heads * d, y.begin() + t * heads * d);
    return y;
  };
  const std::vector<float> tq = tiled(q), tk = tiled(k), tv = tiled(v);
  std::vector<float> out(q.size());
  auto selected = std::make_shared<std::vector<int32_t>>(static_cast<size_t>(heads * nt * topk));
  cpu::VideoSparseAttentionParams p;
  p.q = tq.data();
  p.k = tk.data();
  p.v = tv.data();
  p.out = out.data();
  p.selected = selected->data();
  p.tile_start = layout->tile_start.data();
  p.tile_tokens = layout->tile_tokens.data();
  p.heads = heads;
  p.head_dim = d;
  p.tiles = nt;
  p.topk = topk;
  p.scale = scale;
  cpu::attention_video_sparse_f32(p);
  // tile of each raster token
  auto tile_of = std::make_shared<std::vector<int32_t>>(static_cast<size_t>(tokens));
  for (int64_t t = 0; t < nt; ++t)
    for (int32_t pos = layout->tile_start[t]; pos < layout->tile_start[t + 1]; ++pos)
      (*tile_of)[layout->raster_of_tiled[pos]] = static_cast<int32_t>(t);
  return [=](int64_t h, int64_t i, int64_t j) {
    const int32_t qt = (*tile_of)[i], kt = (*tile_of)[j];
    const int32_t* list = selected->data() + (h * nt + qt) * topk;
    return std::binary_search(list, list + topk, kt);
  };
}

TEST(AttentionConsistency, EveryBackendOnEveryDeviceMatchesMaskedDense) {
  const std::vector<Grid> grids = {{4, 8, 8}, {5, 6, 7}, {3, 9, 13}};
  std::vector<Device> devices = {Device::cpu()};
  if (discover_devices().has_gpu()) devices.push_back(Device::cuda(0));
  else std::printf("no GPU: CUDA backends not checked here (%s)\n", discover_devices().no_gpu_reason.c_str());
  int checked = 0;
  for (const AttentionBackendInfo& info : attention_backend_table()) {
    std::vector<std::string> configs = {std::string(info.name)};
    if (info.kind == AttentionBackendKind::kVideoSparse)
      configs = {"video_sparse:sparsity=0", "video_sparse:sparsity=0.5", "video_sparse:sparsity=0.9"};
    if (info.kind == AttentionBackendKind::kBlockSparse)
      configs = {"block_sparse:keep=1,threshold=1", "block_sparse", "block_sparse:keep=0.25,min_tiles=2,threshold=0.5"};
    if (info.kind == AttentionBackendKind::kVideoMoba)
      configs = {"video_moba:spatial_chunk=1x1,st_chunk=1x1x1,threshold=1", "video_moba:spatial_chunk=1x1,st_chunk=1x1x1",
                 "video_moba:spatial_chunk=1x1,st_chunk=1x1x1,temporal_chunk=1,threshold=0.1"};
    if (info.kind == AttentionBackendKind::kSparseLinear)
      configs = {"sparse_linear:ratio=1", "sparse_linear", "sparse_linear:feature_map=relu,ratio=0.5"};
    if (info.kind == AttentionBackendKind::kSlidingTile)
      configs = {"sliding_tile:window=full", "sliding_tile:tile=4x4x4,window=1x1x1",
                 "sliding_tile:tile=2x4x4,window=2x1x3", "sliding_tile:tile=3x5x6,window=1x2x1"};
    for (const std::string& text : configs) {
      const AttentionConfig config = parse_attention_config(text).value();
      for (const int64_t d : {64, 128}) {
        for (size_t gi = 0; gi < grids.size(); ++gi) {
          const Grid& g = grids[gi];
          const int64_t heads = 2, tokens = g.frames * g.height * g.width;
          const uint32_t seed = static_cast<uint32_t>(1000 * gi + d);
          const auto q = random_bf16_values(tokens * heads * d, seed, 1.0f);
          const auto k = random_bf16_values(tokens * heads * d, seed + 1, 1.0f);
          const auto v = random_bf16_values(tokens * heads * d, seed + 2, 1.0f);
          const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d)));
          const auto allowed = mask_of(config, g, heads, d, q, k, v, scale);
          const auto want =
              masked_dense(q, k, v, tokens, heads, d, scale, allowed, source_of(config, g, heads, d, q, k, v, scale));
          for (const Device device : devices) {
            if (device.is_cuda() && !info.has_cuda) {
              if (gi == 0 && d == 64) std::printf("%-26s has no CUDA kernel yet: CPU only\n", text.c_str());
              continue;
            }
            auto got = run_backend(config, device, g, heads, d, q, k, v, scale);
            ASSERT_TRUE(got.ok()) << text << " on " << device.to_string() << ": " << got.status().message();
            // Error-bounded backends (sage: INT8 q k^T, FP8 P V) against dense: their own bound.
            const double err = rel_l2(got.value(), want);
            const double bound = info.exactness == AttentionExactness::kErrorBounded ? 5e-2 : 1e-2;
            EXPECT_LT(err, bound) << text << " on " << device.to_string() << " grid " << g.frames << "x" << g.height
                                 << "x" << g.width << " head_dim " << d;
            std::printf("%-26s %-7s grid %2lldx%2lldx%2lld d %3lld: rel L2 %.2e\n", text.c_str(),
                        device.to_string().c_str(), (long long)g.frames, (long long)g.height, (long long)g.width,
                        (long long)d, err);
            ++checked;
          }
        }
      }
    }
  }
  EXPECT_GE(checked, 66);
}

}  // namespace
}  // namespace wan
