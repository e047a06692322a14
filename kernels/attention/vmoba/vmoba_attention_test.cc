// VMoBA on the GPU against the CPU reference (kernels/cpu/attention_vmoba, bf16 rounding points
// on) on fresh random bf16 inputs: all three layer chunkings (temporal with a partial last
// chunk, spatial, spatio-temporal), head_dim 64 and 128, batch 2, up to 384 chunks (12 mask
// words), thresholds 0 / 0.25 / 0.5 / 1, and identical keys (every gate ties). Checks: (a) each
// row's chunks equal the CPU selection exactly (its own chunk plus vmoba_select's); (b) output
// relative L2 < 1e-2 and max abs < 5e-2 against the CPU reference (bf16 P; the CPU sums in
// double); (c) a second launch is bit-identical; (d) threshold 1 selects every chunk: relative
// L2 < 8e-3 against the CPU dense reference.
#include "kernels/attention/vmoba/vmoba_attention.h"

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/attention/block_sparse/block_sparse_attention_sm90.h"
#include "kernels/common/cuda_check.h"
#include "kernels/common/testing/device_buffer.h"
#include "kernels/common/testing/gpu_test.h"
#include "kernels/common/testing/random_bf16.h"
#include "kernels/cpu/attention_dense.h"

namespace wan {
namespace {

using testing::DeviceBuffer;

struct Case {
  int frames, height, width, head_dim, layer;
  double threshold = 0.25;
  int batch = 1, heads = 2;
  int temporal = 2, spatial[2] = {3, 4}, st[3] = {2, 6, 4};
  bool identical_keys = false;
};

std::string describe(const Case& c, int64_t chunks) {
  static const char* const kTypes[] = {"temporal", "spatial", "spatio-temporal"};
  char buf[256];
  std::snprintf(buf, sizeof(buf), "grid %dx%dx%d batch %d heads %d d %d layer %d (%s, %lld chunks) threshold %.2f%s",
                c.frames, c.height, c.width, c.batch, c.heads, c.head_dim, c.layer, kTypes[c.layer % 3],
                static_cast<long long>(chunks), c.threshold, c.identical_keys ? " identical-keys" : "");
  return buf;
}

std::string unavailable_reason() {
  BlockSparseAttentionParams probe;
  probe.attn = packed_attention_params(1, 1, 64, 128, 128, reinterpret_cast<uint16_t*>(256),
                                       reinterpret_cast<uint16_t*>(256), reinterpret_cast<uint16_t*>(256),
                                       reinterpret_cast<uint16_t*>(256), 0.125f);
  probe.schedule = all_blocks_schedule(128, 128, BlockSparseTiling::kRows128Keys64);
  return block_sparse_attention_sm90_unsupported_reason(probe);
}

cpu::VmobaParams reference_params(const Case& c) {
  cpu::VmobaParams r;
  r.batch = c.batch;
  r.heads = c.heads;
  r.head_dim = c.head_dim;
  r.frames = c.frames;
  r.height = c.height;
  r.width = c.width;
  r.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  r.layer = c.layer;
  r.temporal_chunk = c.temporal;
  r.spatial_chunk[0] = c.spatial[0];
  r.spatial_chunk[1] = c.spatial[1];
  for (int i = 0; i < 3; ++i) r.st_chunk[i] = c.st[i];
  r.threshold = c.threshold;
  r.round_to_bf16 = true;
  return r;
}

void check_case(const Case& c, uint32_t seed) {
  cpu::VmobaParams r = reference_params(c);
  const VmobaLayout layout = vmoba_layout(r);
  ASSERT_GT(layout.chunks, 0);
  SCOPED_TRACE(describe(c, layout.chunks));
  const int tokens = c.frames * c.height * c.width, d = c.head_dim;
  const size_t row = static_cast<size_t>(c.heads) * d, n = static_cast<size_t>(c.batch) * tokens * row;
  const testing::Bf16Data q = testing::random_bf16(n, seed, 1.5f);
  testing::Bf16Data k = testing::random_bf16(n, seed + 1, 1.5f, 0.2f);
  const testing::Bf16Data v = testing::random_bf16(n, seed + 2);
  if (c.identical_keys)
    for (int b = 0; b < c.batch; ++b)
      for (int t = 1; t < tokens; ++t)
        for (size_t x = 0; x < row; ++x) {
          const size_t src = b * tokens * row + x, dst = (b * tokens + t) * row + x;
          k.bits[dst] = k.bits[src];
          k.values[dst] = k.values[src];
        }
  std::vector<float> ref(n);
  r.q = q.values.data();
  r.k = k.values.data();
  r.v = v.values.data();
  r.out = ref.data();
  ASSERT_TRUE(cpu::attention_vmoba_f32(r));

  DeviceBuffer tables(vmoba_tables_bytes(layout));
  DeviceBuffer dq = DeviceBuffer::from(q.bits), dk = DeviceBuffer::from(k.bits), dv = DeviceBuffer::from(v.bits);
  DeviceBuffer dout(n * 2);
  VmobaAttentionParams p;
  p.attn = packed_attention_params(c.batch, c.heads, d, tokens, tokens, dq.as<uint16_t>(), dk.as<uint16_t>(),
                                   dv.as<uint16_t>(), dout.as<uint16_t>(), r.scale);
  p.tables = upload_vmoba_tables(layout, tables.as<void>());
  p.threshold = c.threshold;
  ASSERT_EQ(vmoba_attention_unsupported_reason(p), "");
  EXPECT_EQ(p.tables.raster_of_pos == nullptr, c.layer % 3 == 0) << "only the temporal chunking is raster order";
  DeviceBuffer workspace(vmoba_attention_workspace_bytes(p));
  auto launch = [&] {
    WAN_CUDA_CHECK(cudaMemset(dout.as<void>(), 0xff, dout.bytes()));  // NaN: an unwritten row shows
    launch_vmoba_attention(p, workspace.as<void>(), nullptr);
    WAN_CUDA_CHECK(cudaDeviceSynchronize());
    return dout.to_host<uint16_t>();
  };
  const std::vector<uint16_t> first = launch();
  const int words = vmoba_mask_words(static_cast<int>(layout.chunks));
  std::vector<uint32_t> masks(static_cast<size_t>(c.batch) * c.heads * tokens * words);
  WAN_CUDA_CHECK(cudaMemcpy(masks.data(), vmoba_row_masks(p, workspace.as<void>()), masks.size() * 4,
                            cudaMemcpyDeviceToHost));
  const std::vector<uint16_t> second = launch();
  EXPECT_EQ(testing::first_difference(first, second), -1) << "not bit-identical run to run";

  // (a) The selection, exactly; and the density of keys each row attends.
  int64_t chunks = 0;
  const std::vector<int32_t> chunk_of = cpu::vmoba_chunk_of_tokens(r, &chunks);
  double attended = 0;
  for (int b = 0; b < c.batch; ++b)
    for (int h = 0; h < c.heads; ++h) {
      const std::vector<std::vector<int32_t>> want = cpu::vmoba_select_all(r, chunk_of, chunks, b, h);
      for (int pos = 0; pos < tokens; ++pos) {
        const int t = layout.raster_of_pos[pos];
        std::vector<uint32_t> expect(static_cast<size_t>(words), 0u);
        expect[chunk_of[t] / 32] |= 1u << (chunk_of[t] % 32);
        for (int32_t ch : want[t]) expect[ch / 32] |= 1u << (ch % 32);
        const uint32_t* got = &masks[((static_cast<size_t>(b) * c.heads + h) * tokens + pos) * words];
        for (int w = 0; w < words; ++w)
          ASSERT_EQ(got[w], expect[w]) << "chunk mask word " << w << " of token " << t << " (batch " << b
                                       << ", head " << h << ") differs from the CPU selection";
        for (int ch = 0; ch < chunks; ++ch) {
          if ((expect[ch / 32] >> (ch % 32)) & 1u) attended += layout.chunk_start[ch + 1] - layout.chunk_start[ch];
        }
      }
    }
  const double density = attended / (static_cast<double>(c.batch) * c.heads * tokens * tokens);
  if (c.threshold == 1.0) {
    EXPECT_EQ(density, 1.0) << "threshold 1 attends every chunk";
  }

  // (b) The output against the CPU reference.
  const std::vector<float> got = testing::bf16_to_f32(first);
  const testing::ErrorNorms e = testing::error_norms(got, ref);
  std::printf("VMoBA GPU vs CPU reference: %s: density %.3f, mean abs %.3g, max abs %.3g, rel L2 %.3g\n",
              describe(c, layout.chunks).c_str(), density, e.mean_abs, e.max_abs, e.rel_l2);
  EXPECT_LT(e.rel_l2, 1e-2);
  EXPECT_LT(e.max_abs, 5e-2);
  // (d) Threshold 1: dense attention.
  if (c.threshold == 1.0) {
    std::vector<float> dense(n);
    for (int b = 0; b < c.batch; ++b) {
      cpu::DenseAttentionParams dp;
      dp.q = q.values.data() + b * tokens * row;
      dp.k = k.values.data() + b * tokens * row;
      dp.v = v.values.data() + b * tokens * row;
      dp.out = dense.data() + b * tokens * row;
      dp.heads = c.heads;
      dp.head_dim = d;
      dp.q_tokens = dp.kv_tokens = tokens;
      dp.scale = r.scale;
      dp.round_p_to_bf16 = true;
      cpu::attention_dense_f32(dp);
    }
    const double vs_dense = testing::rel_l2(got, dense);
    std::printf("  threshold 1 vs CPU dense: rel L2 %.3g\n", vs_dense);
    EXPECT_LT(vs_dense, 8e-3);
  }
}

// A chunking that does not divide the grid, or too many chunks, is refused with the reason.
TEST(VmobaAttention, RefusesChunkingsItCannotServe) {
  cpu::VmobaParams r;
  r.frames = 4;
  r.height = 10;
  r.width = 12;
  r.layer = 1;
  r.spatial_chunk[0] = 3;  // 10 % 3 != 0
  EXPECT_EQ(vmoba_layout(r).chunks, 0);
  VmobaAttentionParams p;
  p.attn = packed_attention_params(1, 1, 64, 480, 480, reinterpret_cast<uint16_t*>(256),
                                   reinterpret_cast<uint16_t*>(256), reinterpret_cast<uint16_t*>(256),
                                   reinterpret_cast<uint16_t*>(256), 0.125f);
  EXPECT_NE(vmoba_attention_unsupported_reason(p).find("does not divide"), std::string::npos);
  p.tables.chunks = kVmobaMaxChunks + 1;
  EXPECT_NE(vmoba_attention_unsupported_reason(p).find("at most 512"), std::string::npos)
      << vmoba_attention_unsupported_reason(p);
}

// Small shapes (also what compute-sanitizer runs): every chunking, partial last temporal chunk.
TEST(VmobaAttention, SmallGridsEveryChunking) {
  WAN_SKIP_WITHOUT_GPU();
  const std::string reason = unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  Case small{5, 6, 8, 64, 0};  // temporal: 3 chunks (2, 2, 1 frames); spatial 3x4: 4; st 1x3x4: 20
  small.st[0] = 1;
  small.st[1] = 3;
  small.st[2] = 4;
  for (small.layer = 0; small.layer < 3; ++small.layer) check_case(small, 10 + small.layer);
}

TEST(VmobaAttention, KernelsMatchTheCpuReference) {
  WAN_SKIP_WITHOUT_GPU();
  const std::string reason = unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  for (int layer = 0; layer < 3; ++layer) check_case({6, 12, 16, 64, layer}, 1 + layer);
  Case b2{7, 8, 20, 128, 0};
  b2.batch = 2;
  b2.temporal = 3;
  b2.spatial[0] = 2;
  b2.st[0] = 7;
  b2.st[1] = 4;
  b2.st[2] = 4;
  for (int layer = 3; layer < 6; ++layer) {
    b2.layer = layer;
    check_case(b2, 20 + layer);
  }
  Case many{3, 32, 48, 128, 1};  // spatial 2x2: 16 x 24 = 384 chunks, 12 mask words
  many.spatial[0] = many.spatial[1] = 2;
  check_case(many, 30);
  Case t0{6, 12, 16, 128, 2, 0.0};  // remain 0: the top other chunk only
  check_case(t0, 31);
  Case t5{6, 12, 16, 128, 1, 0.5};
  check_case(t5, 32);
  Case dense{6, 12, 16, 128, 1, 1.0};
  check_case(dense, 33);
  Case ties{6, 12, 16, 64, 2};
  ties.identical_keys = true;
  check_case(ties, 34);
}

}  // namespace
}  // namespace wan
