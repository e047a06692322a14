// Fused DiT norm kernels against compositions of the CPU reference ops (same rounding
// points) on fresh random inputs. Bound: relative L2 < 4e-3 per output (bf16 rounding of
// values whose fp32 statistics differ in the last bits); bit-identical run to run.
#include "kernels/norm/dit_norms.h"

#include <gtest/gtest.h>

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

std::vector<float> rounded(std::vector<float> v) {
  cpu::round_to_bf16_inplace(v.data(), static_cast<int64_t>(v.size()));
  return v;
}

TEST(DitNorms, LayerNormModulate) {
  WAN_SKIP_WITHOUT_GPU();
  const int64_t rows = 77, dim = 1536;
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

TEST(DitNorms, GatedResidualLayerNormAndResidualAddModulate) {
  WAN_SKIP_WITHOUT_GPU();
  const int64_t rows = 50, dim = 256;
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

TEST(DitNorms, QkNormRopeMatchesCpu) {
  WAN_SKIP_WITHOUT_GPU();
  const int64_t frames = 2, height = 3, width = 5, rows = frames * height * width, heads = 2, head_dim = 128;
  const int64_t dim = heads * head_dim, ld = 3 * dim;  // rows of a fused QKV buffer
  const auto qkv = testing::random_bf16(rows * ld, 6, 3.0f);
  const auto w = testing::random_bf16(dim, 7, 0.2f, 1.0f);
  const cpu::RopeTable table = cpu::make_rope_table(frames, height, width, head_dim);
  DeviceBuffer dx = DeviceBuffer::from(qkv.bits), dw = DeviceBuffer::from(w.bits),
               dcos = DeviceBuffer::from(table.cos), dsin = DeviceBuffer::from(table.sin);
  launch_qk_norm_rope(dx.as<uint16_t>() + dim, ld, dw.as<uint16_t>(), dcos.as<float>(), dsin.as<float>(), rows, dim,
                      head_dim, kEps, nullptr);
  const auto got = dx.to_host<uint16_t>();
  std::vector<float> k(rows * dim), got_k(rows * dim);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < dim; ++i) {
      k[r * dim + i] = qkv.values[r * ld + dim + i];
      got_k[r * dim + i] = bf16_bits_to_f32(got[r * ld + dim + i]);
      // q and v columns untouched
      ASSERT_EQ(got[r * ld + i], qkv.bits[r * ld + i]);
      ASSERT_EQ(got[r * ld + 2 * dim + i], qkv.bits[r * ld + 2 * dim + i]);
    }
  cpu::rms_norm_rows(k.data(), k.data(), rows, dim, kEps, w.values.data(), true);
  k = rounded(k);
  cpu::apply_rope_inplace(k.data(), rows, heads, head_dim, table);
  EXPECT_LT(testing::rel_l2(got_k, rounded(k)), kBound);
}

}  // namespace
}  // namespace wan
