// cuBLASLt linear layers against the CPU reference GEMM on fresh random bf16 inputs.
// Bound: relative L2 < 4e-3 (bf16 output rounding 2^-9 plus summation order); GELU epilogue
// within 6e-3 of gelu_tanh(acc + bias). Bit-identical across repeated runs with one plan.
#include "kernels/gemm/cublaslt_gemm.h"

#include <gtest/gtest.h>

#include "kernels/common/testing/device_buffer.h"
#include "kernels/common/testing/gpu_test.h"
#include "kernels/common/testing/random_bf16.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/linear.h"

namespace wan {
namespace {

using testing::DeviceBuffer;

void check(int64_t m, int64_t n, int64_t k, GemmEpilogue epilogue, uint32_t seed) {
  cublasLtHandle_t handle;
  WAN_CUBLAS_CHECK(cublasLtCreate(&handle));
  const auto x = testing::random_bf16(m * k, seed), w = testing::random_bf16(n * k, seed + 1, 0.05f);
  const auto b = testing::random_bf16(n, seed + 2, 0.1f);
  DeviceBuffer dx = DeviceBuffer::from(x.bits), dw = DeviceBuffer::from(w.bits), db = DeviceBuffer::from(b.bits);
  DeviceBuffer dy(m * n * 2), ws(32 << 20);
  CublasLtGemm gemm;
  ASSERT_EQ(gemm.plan(handle, {m, n, k, epilogue}, ws.bytes()), "");
  EXPECT_FALSE(gemm.algorithm_description().empty());
  gemm.run(dx.as<void>(), k, dw.as<void>(), epilogue == GemmEpilogue::kNone ? nullptr : db.as<void>(),
           dy.as<void>(), n, ws.as<void>(), nullptr);
  const auto first = dy.to_host<uint16_t>();
  gemm.run(dx.as<void>(), k, dw.as<void>(), epilogue == GemmEpilogue::kNone ? nullptr : db.as<void>(),
           dy.as<void>(), n, ws.as<void>(), nullptr);
  EXPECT_EQ(first, dy.to_host<uint16_t>()) << "not bit-identical run to run";
  std::vector<float> ref(m * n);
  cpu::linear_f32(x.values.data(), cpu::pack_linear_weight(w.values.data(), n, k).data(),
                  epilogue == GemmEpilogue::kNone ? nullptr : b.values.data(), ref.data(), m, k, n);
  if (epilogue == GemmEpilogue::kBiasGeluTanh) cpu::gelu_tanh_inplace(ref.data(), m * n);
  const double err = testing::rel_l2(testing::bf16_to_f32(first), ref);
  std::printf("gemm m=%lld n=%lld k=%lld epilogue %d: rel L2 %.3g, %s\n", (long long)m, (long long)n,
              (long long)k, static_cast<int>(epilogue), err, gemm.algorithm_description().c_str());
  EXPECT_LT(err, epilogue == GemmEpilogue::kBiasGeluTanh ? 6e-3 : 4e-3);
  cublasLtDestroy(handle);
}

TEST(CublasLtGemm, BiasMatchesCpu) {
  WAN_SKIP_WITHOUT_GPU();
  check(333, 256, 128, GemmEpilogue::kBias, 1);
  check(1, 1536, 256, GemmEpilogue::kBias, 2);  // timestep embedding (m = 1)
}

TEST(CublasLtGemm, NoEpilogueAndGeluMatchCpu) {
  WAN_SKIP_WITHOUT_GPU();
  check(128, 64, 64, GemmEpilogue::kNone, 3);
  check(257, 768, 256, GemmEpilogue::kBiasGeluTanh, 4);
}

TEST(CublasLtGemm, RejectsUnalignedShapes) {
  WAN_SKIP_WITHOUT_GPU();
  cublasLtHandle_t handle;
  WAN_CUBLAS_CHECK(cublasLtCreate(&handle));
  CublasLtGemm gemm;
  EXPECT_NE(gemm.plan(handle, {4, 10, 16, GemmEpilogue::kBias}, 0).find("multiples of 8"), std::string::npos);
  cublasLtDestroy(handle);
}

}  // namespace
}  // namespace wan
