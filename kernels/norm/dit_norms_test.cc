// Fused DiT norm kernels against compositions of the CPU reference ops (same rounding
// points) on fresh random inputs. Bound: relative L2 < 4e-3 per output (bf16 rounding of
// values whose fp32 statistics differ in the last bits); bit-identical run to run. Every kernel
// at each count of vector slots per thread (dims 256 and 1536: 1, 2056 and 2560: 2 (2056 with
// one thread holding the second), 5120: 3, 8192: 4). q and k in one launch give the bits of two
// single launches. The warp-per-row layout gives the block-per-row layout's bits.
#include "kernels/norm/dit_norms.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "kernels/common/float16.h"
#include "kernels/common/testing/device_buffer.h"
#include "kernels/common/testing/gpu_test.h"
#include "kernels/common/testing/random_bf16.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/rope.h"

namespace wan {
namespace {

using testing::DeviceBuffer;
constexpr float kEps = 1e-6f;
constexpr double kBound = 4e-3;
constexpr int64_t kDims[] = {256, 1536, 2056, 2560, 5120, 8192};

std::vector<float> rounded(std::vector<float> v) {
  cpu::round_to_bf16_inplace(v.data(), static_cast<int64_t>(v.size()));
  return v;
}

void check_layer_norm_modulate(int64_t dim) {
  SCOPED_TRACE("dim " + std::to_string(dim));
  const int64_t rows = 77;
  const auto x = testing::random_bf16(rows * dim, 1, 2.0f, 0.5f);
  std::vector<float> shift(dim), scale(dim);
  for (int64_t i = 0; i < dim; ++i) shift[i] = 0.01f * (i % 13), scale[i] = 0.02f * (i % 7) - 0.05f;
  DeviceBuffer dx = DeviceBuffer::from(x.bits), ds = DeviceBuffer::from(shift), dc = DeviceBuffer::from(scale);
  DeviceBuffer out(rows * dim * 2);
  launch_layer_norm_modulate(dx.as<uint16_t>(), ds.as<float>(), dc.as<float>(), out.as<uint16_t>(), rows, dim, kEps, nullptr);
  const auto got = out.to_host<uint16_t>();
  launch_layer_norm_modulate(dx.as<uint16_t>(), ds.as<float>(), dc.as<float>(), out.as<uint16_t>(), rows, dim, kEps, nullptr);
  EXPECT_EQ(got, out.to_host<uint16_t>());
  std::vector<float> ref(rows * dim);
  cpu::layer_norm_rows(x.values.data(), ref.data(), rows, dim, kEps, nullptr, nullptr);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < dim; ++i) ref[r * dim + i] = ref[r * dim + i] * (1 + scale[i]) + shift[i];
  EXPECT_LT(testing::rel_l2(testing::bf16_to_f32(got), rounded(ref)), kBound);
}

TEST(DitNorms, LayerNormModulate) {
  WAN_SKIP_WITHOUT_GPU();
  for (const int64_t dim : kDims) check_layer_norm_modulate(dim);
}

void check_residual_norms(int64_t dim) {
  SCOPED_TRACE("dim " + std::to_string(dim));
  const int64_t rows = 50;
  const auto x = testing::random_bf16(rows * dim, 2), a = testing::random_bf16(rows * dim, 3);
  const auto w = testing::random_bf16(dim, 4, 0.1f, 1.0f), b = testing::random_bf16(dim, 5, 0.1f);
  std::vector<float> gate(dim);
  for (int64_t i = 0; i < dim; ++i) gate[i] = 0.3f - 0.001f * i;
  DeviceBuffer dx = DeviceBuffer::from(x.bits), da = DeviceBuffer::from(a.bits), dw = DeviceBuffer::from(w.bits),
               db = DeviceBuffer::from(b.bits), dg = DeviceBuffer::from(gate);
  DeviceBuffer h(rows * dim * 2), n(rows * dim * 2), out(rows * dim * 2);
  launch_gated_residual_layer_norm(dx.as<uint16_t>(), da.as<uint16_t>(), dg.as<float>(), dw.as<uint16_t>(),
                                   db.as<uint16_t>(), h.as<uint16_t>(), n.as<uint16_t>(), rows, dim, kEps, nullptr);
  std::vector<float> h_ref(rows * dim), n_ref(rows * dim);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < dim; ++i) h_ref[r * dim + i] = x.values[r * dim + i] + a.values[r * dim + i] * gate[i];
  cpu::layer_norm_rows(h_ref.data(), n_ref.data(), rows, dim, kEps, w.values.data(), b.values.data());
  EXPECT_LT(testing::rel_l2(testing::bf16_to_f32(h.to_host<uint16_t>()), rounded(h_ref)), kBound);
  EXPECT_LT(testing::rel_l2(testing::bf16_to_f32(n.to_host<uint16_t>()), rounded(n_ref)), kBound);

  // h = bf16(h + a); n3 = bf16(LN(h)); out = bf16(n3 * (1 + gate) + gate)
  launch_residual_add_layer_norm_modulate(h.as<uint16_t>(), da.as<uint16_t>(), dg.as<float>(), dg.as<float>(),
                                          out.as<uint16_t>(), rows, dim, kEps, nullptr);
  std::vector<float> h2 = rounded(h_ref);
  for (int64_t i = 0; i < rows * dim; ++i) h2[i] = h2[i] + a.values[i];
  h2 = rounded(h2);
  std::vector<float> n3(rows * dim);
  cpu::layer_norm_rows(h2.data(), n3.data(), rows, dim, kEps, nullptr, nullptr);
  n3 = rounded(n3);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < dim; ++i) n3[r * dim + i] = n3[r * dim + i] * (1 + gate[i]) + gate[i];
  EXPECT_LT(testing::rel_l2(testing::bf16_to_f32(h.to_host<uint16_t>()), h2), kBound);
  EXPECT_LT(testing::rel_l2(testing::bf16_to_f32(out.to_host<uint16_t>()), rounded(n3)), kBound);

  launch_gated_residual(dx.as<uint16_t>(), da.as<uint16_t>(), dg.as<float>(), out.as<uint16_t>(), rows, dim, nullptr);
  EXPECT_LT(testing::rel_l2(testing::bf16_to_f32(out.to_host<uint16_t>()), rounded(h_ref)), kBound);
}

TEST(DitNorms, GatedResidualLayerNormAndResidualAddModulate) {
  WAN_SKIP_WITHOUT_GPU();
  for (const int64_t dim : kDims) check_residual_norms(dim);
}

// q and k of a fused QKV buffer [rows, 3 * dim]: k through a single launch against the CPU
// reference; q and k through the pair launch bit for bit against two single launches; v untouched.
void check_qk_norm_rope(int64_t heads) {
  const int64_t frames = 2, height = 3, width = 5, rows = frames * height * width, head_dim = 128;
  const int64_t dim = heads * head_dim, ld = 3 * dim;
  SCOPED_TRACE("dim " + std::to_string(dim));
  const auto qkv = testing::random_bf16(rows * ld, 6, 3.0f);
  const auto wq = testing::random_bf16(dim, 8, 0.2f, 1.0f), wk = testing::random_bf16(dim, 7, 0.2f, 1.0f);
  const cpu::RopeTable table = cpu::make_rope_table(frames, height, width, head_dim);
  DeviceBuffer singles = DeviceBuffer::from(qkv.bits), pair = DeviceBuffer::from(qkv.bits),
               dwq = DeviceBuffer::from(wq.bits), dwk = DeviceBuffer::from(wk.bits),
               dcos = DeviceBuffer::from(table.cos), dsin = DeviceBuffer::from(table.sin);
  launch_qk_norm_rope(singles.as<uint16_t>() + dim, ld, dwk.as<uint16_t>(), dcos.as<float>(), dsin.as<float>(), rows,
                      dim, head_dim, kEps, nullptr);
  const auto got = singles.to_host<uint16_t>();
  std::vector<float> k(rows * dim), got_k(rows * dim);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < dim; ++i) {
      k[r * dim + i] = qkv.values[r * ld + dim + i];
      got_k[r * dim + i] = bf16_bits_to_f32(got[r * ld + dim + i]);
      // q and v columns untouched
      ASSERT_EQ(got[r * ld + i], qkv.bits[r * ld + i]);
      ASSERT_EQ(got[r * ld + 2 * dim + i], qkv.bits[r * ld + 2 * dim + i]);
    }
  cpu::rms_norm_rows(k.data(), k.data(), rows, dim, kEps, wk.values.data(), true);
  k = rounded(k);
  cpu::apply_rope_inplace(k.data(), rows, heads, head_dim, table);
  EXPECT_LT(testing::rel_l2(got_k, rounded(k)), kBound);

  launch_qk_norm_rope(singles.as<uint16_t>(), ld, dwq.as<uint16_t>(), dcos.as<float>(), dsin.as<float>(), rows, dim,
                      head_dim, kEps, nullptr);
  launch_qk_norm_rope_pair(pair.as<uint16_t>(), pair.as<uint16_t>() + dim, ld, dwq.as<uint16_t>(), dwk.as<uint16_t>(),
                           dcos.as<float>(), dsin.as<float>(), rows, dim, head_dim, kEps, nullptr);
  const auto from_singles = singles.to_host<uint16_t>(), from_pair = pair.to_host<uint16_t>();
  EXPECT_EQ(from_pair, from_singles);
  int64_t changed_q = 0;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < dim; ++i) changed_q += from_pair[r * ld + i] != qkv.bits[r * ld + i];
  EXPECT_GT(changed_q, rows * dim / 2);  // the pair really normalised q
  launch_qk_norm_rope_pair(pair.as<uint16_t>(), pair.as<uint16_t>() + dim, ld, dwq.as<uint16_t>(), dwk.as<uint16_t>(),
                           nullptr, nullptr, rows, dim, head_dim, kEps, nullptr);  // no RoPE (cross-attention)
  launch_qk_norm_rope(singles.as<uint16_t>(), ld, dwq.as<uint16_t>(), nullptr, nullptr, rows, dim, head_dim, kEps,
                      nullptr);
  launch_qk_norm_rope(singles.as<uint16_t>() + dim, ld, dwk.as<uint16_t>(), nullptr, nullptr, rows, dim, head_dim,
                      kEps, nullptr);
  EXPECT_EQ(pair.to_host<uint16_t>(), singles.to_host<uint16_t>());
}

TEST(DitNorms, QkNormRopeMatchesCpuAndThePairLaunchEqualsTwoSingleOnes) {
  WAN_SKIP_WITHOUT_GPU();
  for (const int64_t heads : {2, 12, 20, 40, 64}) check_qk_norm_rope(heads);  // dims 256 .. 8192
}

// The warp-per-row layout (dim <= 2048) against the block-per-row one, bit for bit, for every
// row kernel: dims at each count of a lane's slots (256: 1, 264: 2 with one lane's second,
// 1000, 1536: 6, 2048: 8) and a row count that leaves the last block's warps partly idle; and
// the scalar-load paths for column vectors and RoPE tables that are not 16-byte aligned.
template <typename Run>
std::vector<uint16_t> run_in_layout(NormRowLayout layout, Run&& run) {
  const NormRowLayout previous = set_norm_row_layout(layout);
  std::vector<uint16_t> out = run();
  set_norm_row_layout(previous);
  return out;
}

void check_layouts_agree(int64_t dim) {
  SCOPED_TRACE("dim " + std::to_string(dim));
  const int64_t rows = 77, head_dim = dim % 128 == 0 ? 128 : 8, ld = 3 * dim;
  const auto x = testing::random_bf16(rows * ld, 11, 2.0f, 0.5f), a = testing::random_bf16(rows * dim, 12);
  const auto w = testing::random_bf16(dim, 13, 0.1f, 1.0f), b = testing::random_bf16(dim, 14, 0.1f);
  const auto rope = testing::random_bf16(2 * rows * head_dim / 2, 15);  // cos then sin, [rows, head_dim / 2] each
  std::vector<float> shift(dim), scale(dim);
  for (int64_t i = 0; i < dim; ++i) shift[i] = 0.01f * (i % 13), scale[i] = 0.02f * (i % 7) - 0.05f;
  DeviceBuffer dx = DeviceBuffer::from(x.bits), da = DeviceBuffer::from(a.bits), dw = DeviceBuffer::from(w.bits),
               db = DeviceBuffer::from(b.bits), ds = DeviceBuffer::from(shift), dc = DeviceBuffer::from(scale),
               dr = DeviceBuffer::from(rope.values);
  const float* cos = dr.as<float>();
  const float* sin = cos + rows * head_dim / 2;
  const auto both = [&](auto&& run) {
    const auto warp = run_in_layout(NormRowLayout::kAuto, run), block = run_in_layout(NormRowLayout::kBlockPerRow, run);
    EXPECT_EQ(warp, block);
    EXPECT_FALSE(warp.empty());
  };
  both([&] {
    DeviceBuffer out(rows * dim * 2);
    launch_layer_norm_modulate(dx.as<uint16_t>(), ds.as<float>(), dc.as<float>(), out.as<uint16_t>(), rows, dim, kEps,
                               nullptr);
    return out.to_host<uint16_t>();
  });
  both([&] {
    DeviceBuffer h(rows * dim * 2), n(rows * dim * 2);
    launch_gated_residual_layer_norm(dx.as<uint16_t>(), da.as<uint16_t>(), dc.as<float>(), dw.as<uint16_t>(),
                                     db.as<uint16_t>(), h.as<uint16_t>(), n.as<uint16_t>(), rows, dim, kEps, nullptr);
    std::vector<uint16_t> out = h.to_host<uint16_t>(), more = n.to_host<uint16_t>();
    out.insert(out.end(), more.begin(), more.end());
    return out;
  });
  both([&] {
    DeviceBuffer h = DeviceBuffer::from(a.bits), out(rows * dim * 2);
    launch_residual_add_layer_norm_modulate(h.as<uint16_t>(), dx.as<uint16_t>(), ds.as<float>(), dc.as<float>(),
                                            out.as<uint16_t>(), rows, dim, kEps, nullptr);
    std::vector<uint16_t> got = h.to_host<uint16_t>(), more = out.to_host<uint16_t>();
    got.insert(got.end(), more.begin(), more.end());
    return got;
  });
  // Column vectors and RoPE tables that are not 16-byte aligned take the scalar loads: the same bits.
  std::vector<float> shifted_scale(dim + 1), shifted_rope(rope.values.size() + 1);
  std::copy(scale.begin(), scale.end(), shifted_scale.begin() + 1);
  std::copy(rope.values.begin(), rope.values.end(), shifted_rope.begin() + 1);
  DeviceBuffer dc1 = DeviceBuffer::from(shifted_scale), dr1 = DeviceBuffer::from(shifted_rope);
  const auto modulate_with = [&](const float* scale_vector) {
    DeviceBuffer out(rows * dim * 2);
    launch_layer_norm_modulate(dx.as<uint16_t>(), ds.as<float>(), scale_vector, out.as<uint16_t>(), rows, dim, kEps,
                               nullptr);
    return out.to_host<uint16_t>();
  };
  EXPECT_EQ(modulate_with(dc1.as<float>() + 1), modulate_with(dc.as<float>()));
  const auto rope_with = [&](const float* table) {
    DeviceBuffer qkv = DeviceBuffer::from(x.bits);
    launch_qk_norm_rope(qkv.as<uint16_t>(), ld, dw.as<uint16_t>(), table, table + rows * head_dim / 2, rows, dim,
                        head_dim, kEps, nullptr);
    return qkv.to_host<uint16_t>();
  };
  EXPECT_EQ(rope_with(dr1.as<float>() + 1), rope_with(cos));
  for (const bool with_rope : {true, false}) {
    SCOPED_TRACE(with_rope ? "RoPE" : "no RoPE");
    both([&] {
      DeviceBuffer qkv = DeviceBuffer::from(x.bits);
      launch_qk_norm_rope(qkv.as<uint16_t>() + 2 * dim, ld, dw.as<uint16_t>(), with_rope ? cos : nullptr,
                          with_rope ? sin : nullptr, rows, dim, head_dim, kEps, nullptr);
      launch_qk_norm_rope_pair(qkv.as<uint16_t>(), qkv.as<uint16_t>() + dim, ld, dw.as<uint16_t>(), db.as<uint16_t>(),
                               with_rope ? cos : nullptr, with_rope ? sin : nullptr, rows, dim, head_dim, kEps, nullptr);
      return qkv.to_host<uint16_t>();
    });
  }
}

TEST(DitNorms, TheWarpPerRowLayoutGivesTheBlockPerRowBits) {
  WAN_SKIP_WITHOUT_GPU();
  for (const int64_t dim : {256, 264, 1000, 1536, 2048}) check_layouts_agree(dim);
}

}  // namespace
}  // namespace wan
