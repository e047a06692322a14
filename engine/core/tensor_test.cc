// Tensor views and strides: slice, select, permute, reshape, clone, strided copies; shapes
// whose element count, byte count or strides overflow int64 are refused, never allocated small.
#include "engine/core/tensor.h"

#include <cstdint>
#include <numeric>

#include <gtest/gtest.h>

namespace wan {
namespace {

Tensor iota(const Shape& shape) {
  Tensor t = Tensor::empty(shape, DType::kI32).value();
  std::iota(t.data<int32_t>(), t.data<int32_t>() + t.numel(), 0);
  return t;
}

// Reads element at a multi-index through the strides.
int32_t at(const Tensor& t, const std::vector<int64_t>& idx) {
  int64_t off = 0;
  for (size_t d = 0; d < idx.size(); ++d) off += idx[d] * t.stride(d);
  return t.data<int32_t>()[off];
}

TEST(Tensor, ContiguousStridesAndSizes) {
  const Tensor t = iota({2, 3, 4});
  EXPECT_EQ(t.strides(), (Shape{12, 4, 1}));
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.nbytes(), 96u);
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(t.size(-1), 4);
  EXPECT_EQ(t.describe(), "i32[2, 3, 4] cpu");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw_data()) % 64, 0u);
}

TEST(Tensor, SliceSharesStorageWithOffset) {
  Tensor t = iota({2, 3, 4});
  const Tensor s = t.slice(1, 1, 3).value();
  EXPECT_EQ(s.shape(), (Shape{2, 2, 4}));
  EXPECT_EQ(s.strides(), (Shape{12, 4, 1}));
  EXPECT_FALSE(s.is_contiguous());
  EXPECT_EQ(at(s, {1, 0, 2}), 12 + 4 + 2);
  t.data<int32_t>()[12 + 4 + 2] = -7;  // shared
  EXPECT_EQ(at(s, {1, 0, 2}), -7);
  EXPECT_FALSE(t.slice(1, 2, 4).ok());
  EXPECT_FALSE(t.slice(3, 0, 1).ok());
}

TEST(Tensor, SelectDropsDimension) {
  const Tensor t = iota({2, 3, 4});
  const Tensor s = t.select(2, 3).value();
  EXPECT_EQ(s.shape(), (Shape{2, 3}));
  EXPECT_EQ(s.strides(), (Shape{12, 4}));
  EXPECT_EQ(at(s, {1, 2}), 12 + 8 + 3);
  EXPECT_EQ(t.select(-3, 1).value().shape(), (Shape{3, 4}));
}

TEST(Tensor, PermuteThenCloneGivesTransposedContiguous) {
  const Tensor t = iota({2, 3, 4});
  const Tensor p = t.permute({2, 0, 1}).value();
  EXPECT_EQ(p.shape(), (Shape{4, 2, 3}));
  EXPECT_EQ(p.strides(), (Shape{1, 12, 4}));
  const Tensor c = p.clone().value();
  EXPECT_TRUE(c.is_contiguous());
  for (int64_t a = 0; a < 4; ++a)
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t d = 0; d < 3; ++d) EXPECT_EQ(at(c, {a, b, d}), b * 12 + d * 4 + a);
  EXPECT_FALSE(t.permute({0, 0, 1}).ok());
}

TEST(Tensor, ReshapeInfersOneDimension) {
  const Tensor t = iota({2, 3, 4});
  const Tensor r = t.reshape({6, -1}).value();
  EXPECT_EQ(r.shape(), (Shape{6, 4}));
  EXPECT_EQ(r.raw_data(), t.raw_data());
  EXPECT_FALSE(t.reshape({-1, -1}).ok());
}

TEST(Tensor, CopyFromStridedIntoStrided) {
  const Tensor src = iota({3, 4});
  Tensor dst = Tensor::zeros({4, 3}, DType::kI32).value();
  Tensor dst_t = dst.permute({1, 0}).value();  // [3, 4] view, strides {1, 3}
  ASSERT_TRUE(dst_t.copy_from(src).ok());
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 4; ++j) EXPECT_EQ(dst.data<int32_t>()[j * 3 + i], i * 4 + j);
  Tensor wrong = Tensor::zeros({3, 4}, DType::kF32).value();
  EXPECT_EQ(wrong.copy_from(src).code(), StatusCode::kInvalidArgument);
}

TEST(Tensor, WrapBorrowsForeignMemory) {
  float buf[6] = {0, 1, 2, 3, 4, 5};
  const Tensor t = Tensor::wrap(buf, {2, 3}, DType::kF32, Device::cpu());
  EXPECT_EQ(t.data<float>(), buf);
  const Tensor col = t.select(1, 2).value();
  EXPECT_EQ(col.data<float>()[col.stride(0)], 5.0f);
}

TEST(Tensor, ZeroSizedTensorsAreValid) {
  const Tensor t = Tensor::zeros({0, 5}, DType::kBF16).value();
  EXPECT_EQ(t.numel(), 0);
  EXPECT_TRUE(t.clone().ok());
}

TEST(CheckedShape, CountsAndRefusesOverflow) {
  EXPECT_EQ(checked_shape_numel({}).value(), 1);
  EXPECT_EQ(checked_shape_numel({2, 3, 4}).value(), 24);
  EXPECT_EQ(checked_shape_numel({2, 0, 4}).value(), 0);
  EXPECT_EQ(checked_shape_numel({-1, 2}).status().code(), StatusCode::kInvalidArgument);
  // 2^32 * 2^32 wrapped to 0 in shape_numel: a 1-byte allocation backed a huge shape.
  EXPECT_EQ(checked_shape_numel({int64_t{1} << 32, int64_t{1} << 32}).status().code(), StatusCode::kInvalidArgument);
  // Zero elements, but the strides of the other dimensions overflow.
  EXPECT_EQ(checked_shape_numel({0, int64_t{1} << 40, int64_t{1} << 40}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(checked_shape_bytes({int64_t{1} << 61}, DType::kBF16).value(), size_t{1} << 62);
  EXPECT_EQ(checked_shape_bytes({int64_t{1} << 62}, DType::kF32).status().code(), StatusCode::kInvalidArgument);
}

TEST(CheckedShape, EmptyViewAndReshapeRefuseOverflowingShapes) {
  auto huge = Tensor::empty({int64_t{1} << 32, int64_t{1} << 32}, DType::kF32);
  EXPECT_EQ(huge.status().code(), StatusCode::kInvalidArgument) << huge.status().to_string();
  EXPECT_EQ(Tensor::empty({0, int64_t{1} << 40, int64_t{1} << 40}, DType::kF32).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Tensor::empty({int64_t{1} << 61}, DType::kF32).status().code(), StatusCode::kInvalidArgument);
  auto storage = Storage::allocate(64, Device::cpu()).value();
  EXPECT_TRUE(Tensor::view_of(storage, {4, 4}, DType::kF32, 0).ok());
  EXPECT_FALSE(Tensor::view_of(storage, {4, 4}, DType::kF32, 1).ok());
  // offset * element size wrapped around in size_t, and numel wrapped to 0: both accepted.
  EXPECT_FALSE(Tensor::view_of(storage, {1}, DType::kF32, int64_t{1} << 62).ok());
  EXPECT_FALSE(Tensor::view_of(storage, {int64_t{1} << 32, int64_t{1} << 32}, DType::kF32, 0).ok());
  const Tensor t = iota({2, 8});
  EXPECT_EQ(t.reshape({-1, 4}).value().shape(), (Shape{4, 4}));
  EXPECT_FALSE(t.reshape({int64_t{1} << 32, int64_t{1} << 32, -1}).ok());
}

}  // namespace
}  // namespace wan
