// Status/Result: codes, messages with context, early-return macros; and the error messages
// users see for common bad input (they must name the problem and the fix).
#include "engine/core/status.h"

#include <gtest/gtest.h>

#include "engine/core/device.h"
#include "engine/core/dtype.h"
#include "engine/core/tensor.h"

namespace wan {
namespace {

Status fails() { return invalid_argument("--steps must be >= 1 (got 0)"); }
Status propagates() {
  WAN_RETURN_IF_ERROR(fails());
  return internal_error("not reached");
}
Result<int> half_of(int x) {
  if (x % 2) return invalid_argument(std::to_string(x) + " is odd");
  return x / 2;
}
Result<int> quarter_of(int x) {
  WAN_ASSIGN_OR_RETURN(int h, half_of(x));
  WAN_ASSIGN_OR_RETURN(int q, half_of(h));
  return q;
}

TEST(Status, OkAndToString) {
  EXPECT_TRUE(Status().ok());
  EXPECT_EQ(Status().to_string(), "OK");
  EXPECT_EQ(fails().to_string(), "INVALID_ARGUMENT: --steps must be >= 1 (got 0)");
}

TEST(Status, ContextIsPrepended) {
  const Status s = data_loss("header length 9999 is past the end of the file (120 bytes)")
                       .with_context("model.safetensors");
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_EQ(s.message(), "model.safetensors: header length 9999 is past the end of the file (120 bytes)");
  EXPECT_TRUE(Status().with_context("x").ok());
}

TEST(Status, MacrosPropagate) {
  EXPECT_EQ(propagates().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(quarter_of(8).value(), 2);
  EXPECT_EQ(quarter_of(6).status().message(), "3 is odd");
  EXPECT_EQ(quarter_of(5).status().message(), "5 is odd");
}

TEST(ErrorMessages, NameTheProblemAndTheFix) {
  const Result<DType> d = parse_dtype("F64");
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("unknown dtype 'F64'"), std::string::npos);
  EXPECT_NE(d.status().message().find("supported: f32, bf16"), std::string::npos);

  const Result<Device> dev = parse_device("tpu");
  ASSERT_FALSE(dev.ok());
  EXPECT_EQ(dev.status().message(), "unknown device 'tpu'; use cpu, cuda or cuda:N");

  const Result<Tensor> neg = Tensor::empty({2, -1}, DType::kF32);
  ASSERT_FALSE(neg.ok());
  EXPECT_EQ(neg.status().to_string(), "INVALID_ARGUMENT: negative dimension in shape [2, -1]");

  Tensor t = Tensor::empty({4, 6}, DType::kBF16).value();
  const Result<Tensor> bad = t.reshape({5, 5});
  EXPECT_EQ(bad.status().message(), "cannot reshape bf16[4, 6] cpu to [5, 5]");
  const Tensor tt = t.permute({1, 0}).value();
  EXPECT_NE(tt.reshape({24}).status().message().find("call clone() first"), std::string::npos);
}

TEST(ErrorMessages, CudaAllocationWithoutGpuIsUnavailableNotACrash) {
  if (discover_devices().has_gpu()) GTEST_SKIP() << "a GPU is present";
  const Result<Tensor> t = Tensor::empty({16}, DType::kF32, Device::cuda(0));
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(t.status().message().find("--device cpu"), std::string::npos) << t.status().message();
}

}  // namespace
}  // namespace wan
