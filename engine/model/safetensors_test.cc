// Safetensors reader, writer and Checkpoint: byte-exact round trips, byte-for-byte agreement
// with files built by hand in Python safetensors' layout, one test per corruption the reader
// must reject (code, file and tensor in the message), and sharded checkpoints via an index.
// Corrupt files are written by hand into a fresh directory under $TEST_TMPDIR (or /tmp).
#include "engine/model/safetensors.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace wan {
namespace {

namespace fs = std::filesystem;

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "tests build file bytes with memcpy");

// Fails the test (instead of asserting inside Result::value()) when `expr` is an error.
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL_(WAN_CONCAT_(result_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL_(tmp, lhs, expr)   \
  auto tmp = (expr);                                 \
  ASSERT_TRUE(tmp.ok()) << tmp.status().to_string(); \
  lhs = std::move(tmp).value()

std::string le64(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return out;
}

// A safetensors file from its header text (used as is: no padding) and data bytes.
std::string st_bytes(const std::string& header, const std::string& data = "") {
  return le64(header.size()) + header + data;
}

template <typename T>
std::string bytes_of(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

std::string tensor_bytes(const Tensor& t) {
  const Tensor packed = t.clone().value();
  return std::string(static_cast<const char*>(packed.raw_data()), packed.nbytes());
}

template <typename T>
Tensor make(const Shape& shape, const std::vector<T>& values) {
  Tensor t = Tensor::empty(shape, DTypeOf<T>::value).value();
  EXPECT_EQ(static_cast<size_t>(t.numel()), values.size());
  if (!values.empty()) std::memcpy(t.raw_data(), values.data(), t.nbytes());
  return t;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Code plus every fragment (file path, tensor name, what is wrong) present in the message.
void expect_status(const Status& status, StatusCode code, const std::vector<std::string>& parts) {
  EXPECT_EQ(status.code(), code) << status.to_string();
  for (const std::string& part : parts) {
    EXPECT_NE(status.message().find(part), std::string::npos)
        << "'" << part << "' missing from: " << status.to_string();
  }
}

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = std::getenv("TEST_TMPDIR");
    std::string pattern =
        (base != nullptr ? std::string(base) : fs::temp_directory_path().string()) +
        "/safetensors_test.XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (fs::path(dir_) / name).string(); }
  std::string write(const std::string& name, const std::string& bytes) const {
    const std::string p = path(name);
    fs::create_directories(fs::path(p).parent_path());
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }
  // Opens `bytes` written as `name`; the status it fails with.
  Status open_error(const std::string& name, const std::string& bytes) const {
    const Result<std::shared_ptr<SafetensorsFile>> file = SafetensorsFile::open(write(name, bytes));
    EXPECT_FALSE(file.ok()) << name << " opened but should not";
    return file.ok() ? Status() : file.status();
  }
  bool has_temp_files() const {
    for (const auto& e : fs::recursive_directory_iterator(dir_)) {
      if (e.path().filename().string().find(".tmp.") != std::string::npos) return true;
    }
    return false;
  }

  std::string dir_;
};

// ---- Round trips and layout ----

TEST_F(SafetensorsTest, RoundTripIsByteExact) {
  const Tensor square = make<float>({2, 3}, {0.5f, -1.f, 2.25f, 3.f, -4.5f, 1e-20f});
  const std::vector<std::pair<std::string, Tensor>> tensors = {
      {"f32", square},
      {"bf16",
       make<BFloat16>({4}, {BFloat16(1.f), BFloat16(-2.5f), BFloat16(3e10f), BFloat16(0.f)})},
      {"f16", make<Float16>({3, 2}, {Float16(1.f), Float16(-0.5f), Float16(65504.f), Float16(6e-8f),
                                     Float16(2.f), Float16(-3.f)})},
      {"i64", make<int64_t>({2}, {-(int64_t{1} << 40), 1234567890123})},
      {"i32", make<int32_t>({3}, {-7, 0, 7})},
      {"u8", make<uint8_t>({5}, {0, 1, 127, 128, 255})},
      {"scalar", make<float>({}, {3.25f})},
      {"transposed", square.permute({1, 0}).value()},  // non-contiguous: strides [1, 3]
      {"empty", make<float>({0, 4}, {})},
  };
  ASSERT_FALSE(tensors[7].second.is_contiguous());
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"note", "ünïcödé \"q\""}};
  const std::string p = path("model.safetensors");
  ASSERT_TRUE(write_safetensors(p, tensors, metadata).ok());
  EXPECT_FALSE(has_temp_files());

  ASSERT_OK_AND_ASSIGN(const auto file, SafetensorsFile::open(p));
  EXPECT_EQ(file->names(), (std::vector<std::string>{"bf16", "empty", "f16", "f32", "i32", "i64",
                                                     "scalar", "transposed", "u8"}));
  EXPECT_EQ(file->metadata(), metadata);
  for (const auto& [name, original] : tensors) {
    SCOPED_TRACE(name);
    ASSERT_OK_AND_ASSIGN(const TensorInfo info, file->info(name));
    EXPECT_EQ(info.dtype, original.dtype());
    EXPECT_EQ(info.shape, original.shape());
    EXPECT_EQ(info.nbytes, original.nbytes());
    ASSERT_OK_AND_ASSIGN(const Tensor loaded, file->tensor(name));
    EXPECT_EQ(loaded.dtype(), original.dtype());
    EXPECT_EQ(loaded.shape(), original.shape());
    EXPECT_TRUE(loaded.is_contiguous());
    EXPECT_EQ(tensor_bytes(loaded), tensor_bytes(original));
  }
  EXPECT_EQ(file->tensor("transposed").value().data<float>()[1], 3.f);  // [0][1] = square[1][0]
  EXPECT_EQ(file->tensor("scalar").value().dim(), 0);
}

TEST_F(SafetensorsTest, WriterKeepsGivenOrderContiguousOffsetsAndPadsTheHeader) {
  const std::string p = path("order.safetensors");
  ASSERT_TRUE(write_safetensors(p, {{"zeta", make<uint8_t>({3}, {1, 2, 3})},
                                    {"alpha", make<float>({1}, {7.f})},
                                    {"mid", make<int64_t>({1}, {-1})}})
                  .ok());
  const std::string bytes = read_all(p);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  const std::string header = bytes.substr(8, n);
  EXPECT_EQ(header.find("\"zeta\""), 1u);  // first, as given, not sorted
  EXPECT_LT(header.find("\"alpha\""), header.find("\"mid\""));
  const nlohmann::json j = nlohmann::json::parse(header);
  EXPECT_EQ(j["zeta"]["data_offsets"], nlohmann::json({0, 3}));
  EXPECT_EQ(j["alpha"]["data_offsets"], nlohmann::json({3, 7}));
  EXPECT_EQ(j["mid"]["data_offsets"], nlohmann::json({7, 15}));
  EXPECT_EQ(bytes.size(), 8 + n + 15);
  // alpha sits at data offset 3: unaligned for f32, so it comes back as an aligned copy.
  ASSERT_OK_AND_ASSIGN(const auto file, SafetensorsFile::open(p));
  ASSERT_OK_AND_ASSIGN(const Tensor alpha, file->tensor("alpha"));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(alpha.raw_data()) % 4, 0u);
  EXPECT_EQ(alpha.data<float>()[0], 7.f);
}

// The bytes Python's safetensors writes for {"attn0": f32[1, 1, 2, 3] = 0..5}, built by hand:
// header length 72 = 65 bytes of compact JSON (dtype, shape, data_offsets) + 7 spaces.
TEST_F(SafetensorsTest, WriterMatchesHandBuiltFileByteForByte) {
  const std::string expected =
      std::string("\x48\0\0\0\0\0\0\0", 8) +
      R"({"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}})" + "       " +
      std::string(
          "\x00\x00\x00\x00"
          "\x00\x00\x80\x3f"
          "\x00\x00\x00\x40"
          "\x00\x00\x40\x40"
          "\x00\x00\x80\x40"
          "\x00\x00\xa0\x40",
          24);
  const std::string p = path("attn0.safetensors");
  ASSERT_TRUE(
      write_safetensors(p, {{"attn0", make<float>({1, 1, 2, 3}, {0, 1, 2, 3, 4, 5})}}).ok());
  EXPECT_EQ(read_all(p), expected);

  ASSERT_OK_AND_ASSIGN(const auto file, SafetensorsFile::open(write("hand.safetensors", expected)));
  ASSERT_OK_AND_ASSIGN(const Tensor t, file->tensor("attn0"));
  EXPECT_EQ(t.shape(), (Shape{1, 1, 2, 3}));
  EXPECT_EQ(t.data<float>()[5], 5.f);
}

// Several dtypes and metadata, in Python's order (dtype I64 > F32 > BF16 > F16 > U8, then
// name): 306 bytes of JSON + 6 spaces = 312 = 0x138.
TEST_F(SafetensorsTest, WriterMatchesHandBuiltMultiDtypeFileWithMetadata) {
  const std::string expected = std::string("\x38\x01\0\0\0\0\0\0", 8) +
                               R"({"__metadata__":{"format":"pt"},)"
                               R"("step":{"dtype":"I64","shape":[],"data_offsets":[0,8]},)"
                               R"("w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},)"
                               R"("x":{"dtype":"BF16","shape":[1],"data_offsets":[16,18]},)"
                               R"("y":{"dtype":"F16","shape":[1],"data_offsets":[18,20]},)"
                               R"("z":{"dtype":"U8","shape":[3],"data_offsets":[20,23]}})" +
                               "      " +
                               std::string(
                                   "\xe8\x03\0\0\0\0\0\0"  // i64 1000
                                   "\x00\x00\x80\x3f"
                                   "\x00\x00\x00\xc0"  // f32 1, -2
                                   "\xc0\x3f"          // bf16 1.5 = 0x3fc0
                                   "\x00\x3e"          // f16 1.5 = 0x3e00
                                   "\x01\x02\x03",
                                   23);
  const std::string p = path("multi.safetensors");
  ASSERT_TRUE(write_safetensors(p,
                                {{"step", make<int64_t>({}, {1000})},
                                 {"w", make<float>({2}, {1.f, -2.f})},
                                 {"x", make<BFloat16>({1}, {BFloat16(1.5f)})},
                                 {"y", make<Float16>({1}, {Float16(1.5f)})},
                                 {"z", make<uint8_t>({3}, {1, 2, 3})}},
                                {{"format", "pt"}})
                  .ok());
  EXPECT_EQ(read_all(p), expected);
}

TEST_F(SafetensorsTest, EmptyAndMetadataOnlyFilesMatchHandBuiltBytes) {
  ASSERT_TRUE(write_safetensors(path("empty.safetensors"), {}).ok());
  EXPECT_EQ(read_all(path("empty.safetensors")), std::string("\x08\0\0\0\0\0\0\0{}      ", 16));
  ASSERT_TRUE(write_safetensors(path("meta.safetensors"), {}, {{"framework", "pt"}}).ok());
  EXPECT_EQ(
      read_all(path("meta.safetensors")),
      std::string("\x28\0\0\0\0\0\0\0", 8) + R"({"__metadata__":{"framework":"pt"}})" + "     ");
  ASSERT_OK_AND_ASSIGN(const auto file, SafetensorsFile::open(path("meta.safetensors")));
  EXPECT_TRUE(file->names().empty());
  EXPECT_EQ(file->metadata().at("framework"), "pt");
}

TEST_F(SafetensorsTest, ReaderAcceptsAnyKeyOrderAndWhitespace) {
  const std::string header =
      "{ \"b\" : {\"data_offsets\": [8, 16], \"shape\": [2], \"dtype\": \"F32\"},\n"
      "  \"a\" : {\"shape\": [2], \"dtype\": \"I32\", \"data_offsets\": [0, 8]} }";
  const std::string padded = header + std::string((8 - header.size() % 8) % 8, ' ');
  const std::string data = bytes_of<int32_t>({4, 5}) + bytes_of<float>({1.5f, 2.5f});
  ASSERT_OK_AND_ASSIGN(const auto file,
                       SafetensorsFile::open(write("loose.safetensors", st_bytes(padded, data))));
  EXPECT_EQ(file->names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(file->tensor("a").value().data<int32_t>()[1], 5);
  EXPECT_EQ(file->tensor("b").value().data<float>()[0], 1.5f);
}

TEST_F(SafetensorsTest, TensorsAreZeroCopyAndOutliveTheFile) {
  const std::string p = path("w.safetensors");
  ASSERT_TRUE(write_safetensors(p, {{"w", make<float>({4}, {1, 2, 3, 4})}}).ok());
  ASSERT_OK_AND_ASSIGN(auto file, SafetensorsFile::open(p));
  ASSERT_OK_AND_ASSIGN(const Tensor first, file->tensor("w"));
  ASSERT_OK_AND_ASSIGN(const Tensor second, file->tensor("w"));
  EXPECT_EQ(first.raw_data(), second.raw_data());  // both views of the one mapping
  file.reset();
  EXPECT_EQ(first.data<float>()[3], 4.f);  // the storage keeps the mapping alive
}

TEST_F(SafetensorsTest, UnsupportedDtypeIsListedButNotLoadable) {
  const std::string p =
      write("f64.safetensors", st_bytes(R"({"d":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},)"
                                        R"("f":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                                        bytes_of<double>({1.0}) + bytes_of<float>({2.f})));
  ASSERT_OK_AND_ASSIGN(const auto file, SafetensorsFile::open(p));
  EXPECT_TRUE(file->has("d"));
  expect_status(file->tensor("d").status(), StatusCode::kUnimplemented,
                {p, "'d'", "F64", "F32, BF16"});
  EXPECT_EQ(file->tensor("f").value().data<float>()[0], 2.f);
}

// ---- Writer errors and atomicity ----

TEST_F(SafetensorsTest, WriterRefusesDuplicateNamesAndLeavesTheOldFile) {
  const std::string p = path("dup.safetensors");
  ASSERT_TRUE(write_safetensors(p, {{"keep", make<float>({1}, {1.f})}}).ok());
  const std::string before = read_all(p);
  const Tensor t = make<float>({1}, {2.f});
  expect_status(write_safetensors(p, {{"x", t}, {"y", t}, {"x", t}}), StatusCode::kInvalidArgument,
                {p, "'x'", "twice"});
  EXPECT_EQ(read_all(p), before);
  EXPECT_FALSE(has_temp_files());
}

TEST_F(SafetensorsTest, WriterRefusesNonCpuUndefinedAndReservedTensors) {
  const std::string p = path("bad.safetensors");
  float host = 0.f;  // never touched: the device check comes before any data access
  expect_status(
      write_safetensors(p, {{"gpu", Tensor::wrap(&host, {1}, DType::kF32, Device::cuda(0))}}),
      StatusCode::kInvalidArgument, {p, "'gpu'", "cuda:0", "CPU"});
  expect_status(write_safetensors(p, {{"none", Tensor()}}), StatusCode::kInvalidArgument,
                {p, "'none'", "undefined"});
  expect_status(write_safetensors(p, {{"__metadata__", make<float>({1}, {1.f})}}),
                StatusCode::kInvalidArgument, {p, "__metadata__", "reserved"});
  EXPECT_FALSE(fs::exists(p));
}

TEST_F(SafetensorsTest, FailedRenameRemovesTheTemporaryFile) {
  const std::string target = path("occupied");
  fs::create_directories(fs::path(target) / "child");  // rename onto a non-empty directory fails
  const Status status = write_safetensors(target, {{"w", make<float>({1}, {1.f})}});
  expect_status(status, StatusCode::kFailedPrecondition, {target, "rename"});
  EXPECT_FALSE(has_temp_files());
  EXPECT_TRUE(fs::is_directory(fs::path(target) / "child"));
}

TEST_F(SafetensorsTest, WriterIntoMissingDirectoryIsNotFound) {
  const std::string p = path("no/such/dir/w.safetensors");
  expect_status(write_safetensors(p, {{"w", make<float>({1}, {1.f})}}), StatusCode::kNotFound,
                {p, "No such file or directory"});
}

TEST_F(SafetensorsTest, WriterOverwritesAtomically) {
  const std::string p = path("w.safetensors");
  ASSERT_TRUE(write_safetensors(p, {{"w", make<float>({1}, {1.f})}}).ok());
  ASSERT_TRUE(write_safetensors(p, {{"w", make<float>({2}, {5.f, 6.f})}}).ok());
  ASSERT_OK_AND_ASSIGN(const auto file, SafetensorsFile::open(p));
  EXPECT_EQ(file->tensor("w").value().data<float>()[1], 6.f);
  EXPECT_FALSE(has_temp_files());
}

// ---- Corrupt and missing files: one test per case ----

TEST_F(SafetensorsTest, FileShorterThanEightBytes) {
  expect_status(open_error("short.safetensors", "abcde"), StatusCode::kDataLoss,
                {path("short.safetensors"), "5 bytes", "shorter than the 8-byte header length"});
  expect_status(open_error("zero.safetensors", ""), StatusCode::kDataLoss,
                {path("zero.safetensors"), "0 bytes"});
}

TEST_F(SafetensorsTest, HeaderLengthPastTheEndOfTheFile) {
  expect_status(
      open_error("long.safetensors", le64(9999) + "{}"), StatusCode::kDataLoss,
      {path("long.safetensors"), "header length 9999", "past the end of the file (10 bytes)"});
  expect_status(open_error("huge.safetensors", le64(~uint64_t{0}) + "{}"), StatusCode::kDataLoss,
                {"past the end of the file"});
}

TEST_F(SafetensorsTest, TruncatedFile) {
  const std::string p = path("cut.safetensors");
  ASSERT_TRUE(
      write_safetensors(p, {{"blocks.0.w", make<float>({16}, std::vector<float>(16, 1.f))}}).ok());
  const std::string bytes = read_all(p);
  expect_status(
      open_error("cut.safetensors", bytes.substr(0, bytes.size() - 10)), StatusCode::kDataLoss,
      {p, "'blocks.0.w'", "data_offsets [0,64]", "54 bytes after the header", "truncated"});
}

TEST_F(SafetensorsTest, HeaderNotValidJson) {
  expect_status(open_error("json.safetensors", st_bytes("{\"w\": {\"dtype\": ")),
                StatusCode::kDataLoss,
                {path("json.safetensors"), "header is not valid JSON", "parse error"});
  expect_status(open_error("utf8.safetensors", st_bytes("{\"\xff\": 1}")), StatusCode::kDataLoss,
                {path("utf8.safetensors"), "not valid JSON", "UTF-8"});
}

TEST_F(SafetensorsTest, HeaderNotAnObject) {
  expect_status(open_error("array.safetensors", st_bytes("[1, 2]")), StatusCode::kDataLoss,
                {path("array.safetensors"), "header is a JSON array, not an object"});
}

TEST_F(SafetensorsTest, EntryNotAnObject) {
  expect_status(open_error("entry.safetensors", st_bytes(R"({"w": 5})")), StatusCode::kDataLoss,
                {path("entry.safetensors"), "tensor 'w'", "JSON number, not an object"});
}

TEST_F(SafetensorsTest, EntryMissingAField) {
  const std::string dtype = R"("dtype":"F32")", shape = R"("shape":[1])",
                    offsets = R"("data_offsets":[0,4])";
  const std::string data = bytes_of<float>({1.f});
  expect_status(
      open_error("a.safetensors", st_bytes("{\"w\":{" + shape + "," + offsets + "}}", data)),
      StatusCode::kDataLoss, {path("a.safetensors"), "tensor 'w'", "no \"dtype\""});
  expect_status(
      open_error("b.safetensors", st_bytes("{\"w\":{" + dtype + "," + offsets + "}}", data)),
      StatusCode::kDataLoss, {path("b.safetensors"), "tensor 'w'", "no \"shape\""});
  expect_status(
      open_error("c.safetensors", st_bytes("{\"w\":{" + dtype + "," + shape + "}}", data)),
      StatusCode::kDataLoss, {path("c.safetensors"), "tensor 'w'", "no \"data_offsets\""});
}

TEST_F(SafetensorsTest, UnknownDtypeListsSupportedOnes) {
  expect_status(
      open_error("dt.safetensors",
                 st_bytes(R"({"w":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}})", "abcd")),
      StatusCode::kDataLoss,
      {path("dt.safetensors"), "tensor 'w'", "unknown dtype \"F33\"",
       "F32, BF16, F16, I32, I64, U8"});
}

TEST_F(SafetensorsTest, ShapeNotNonNegativeIntegers) {
  expect_status(open_error("shape.safetensors",
                           st_bytes(R"({"w":{"dtype":"U8","shape":[2,-1],"data_offsets":[0,0]}})")),
                StatusCode::kDataLoss,
                {path("shape.safetensors"), "tensor 'w'", "non-negative integers"});
}

TEST_F(SafetensorsTest, DataOffsetsOutOfRange) {
  expect_status(
      open_error("range.safetensors",
                 st_bytes(R"({"w":{"dtype":"F32","shape":[1000],"data_offsets":[0,4000]}})",
                          std::string(16, '\0'))),
      StatusCode::kDataLoss,
      {path("range.safetensors"), "tensor 'w'", "[0,4000]",
       "past the end of the data section (16 bytes"});
}

TEST_F(SafetensorsTest, DataOffsetsEndBeforeBegin) {
  expect_status(open_error("order.safetensors",
                           st_bytes(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})",
                                    std::string(8, '\0'))),
                StatusCode::kDataLoss,
                {path("order.safetensors"), "tensor 'w'", "[8,0]", "end before"});
}

TEST_F(SafetensorsTest, ByteSizeDisagreesWithShapeAndDtype) {
  expect_status(open_error("size.safetensors",
                           st_bytes(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,16]}})",
                                    std::string(16, '\0'))),
                StatusCode::kDataLoss,
                {path("size.safetensors"), "tensor 'w'", "hold 16 bytes", "F32[2, 3] needs 24"});
}

TEST_F(SafetensorsTest, OverlappingTensors) {
  expect_status(open_error("overlap.safetensors",
                           st_bytes(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                                    R"("b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})",
                                    std::string(24, '\0'))),
                StatusCode::kDataLoss,
                {path("overlap.safetensors"), "'a' [0, 16)", "'b' [8, 24)", "overlap"});
}

TEST_F(SafetensorsTest, DuplicateTensorNameInHeader) {
  expect_status(open_error("twice.safetensors",
                           st_bytes(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                                    R"("w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})",
                                    "ab")),
                StatusCode::kDataLoss, {path("twice.safetensors"), "'w'", "more than once"});
}

TEST_F(SafetensorsTest, MetadataNotAStringMap) {
  expect_status(open_error("meta.safetensors", st_bytes(R"({"__metadata__":{"step":1}})")),
                StatusCode::kDataLoss,
                {path("meta.safetensors"), "__metadata__", "'step'", "not a string"});
}

TEST_F(SafetensorsTest, MissingTensorSuggestsClosestNames) {
  const std::string p = path("names.safetensors");
  const Tensor t = make<float>({1}, {0.f});
  ASSERT_TRUE(write_safetensors(p, {{"blocks.0.attn1.to_q.weight", t},
                                    {"blocks.0.attn1.to_k.weight", t},
                                    {"blocks.0.attn2.to_q.weight", t},
                                    {"proj_out.weight", t},
                                    {"scale_shift_table", t}})
                  .ok());
  ASSERT_OK_AND_ASSIGN(const auto file, SafetensorsFile::open(p));
  const Status status = file->tensor("blocks.0.attn1.to_q.weigth").status();
  expect_status(status, StatusCode::kNotFound,
                {p, "no tensor 'blocks.0.attn1.to_q.weigth' among 5",
                 "closest: 'blocks.0.attn1.to_q.weight'"});
  expect_status(file->info("head.head.weight").status(), StatusCode::kNotFound,
                {p, "'head.head.weight'"});
}

TEST_F(SafetensorsTest, FileNotFound) {
  const std::string p = path("absent.safetensors");
  expect_status(SafetensorsFile::open(p).status(), StatusCode::kNotFound,
                {p, "No such file or directory"});
}

TEST_F(SafetensorsTest, DirectoryIsNotAFile) {
  expect_status(SafetensorsFile::open(dir_).status(), StatusCode::kInvalidArgument,
                {dir_, "is a directory"});
}

TEST_F(SafetensorsTest, UnreadableFile) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads files whatever their mode";
  const std::string p = write("locked.safetensors", st_bytes("{}"));
  ASSERT_EQ(::chmod(p.c_str(), 0), 0);
  expect_status(SafetensorsFile::open(p).status(), StatusCode::kFailedPrecondition,
                {p, "Permission denied"});
}

// ---- Checkpoint: file, directory, index, diffusers layout ----

class CheckpointTest : public SafetensorsTest {
 protected:
  // transformer/ with two shards and diffusers' index name.
  void write_sharded(const std::string& index_json) {
    fs::create_directories(path("transformer"));
    ASSERT_TRUE(
        write_safetensors(path("transformer/diffusion_pytorch_model-00001-of-00002.safetensors"),
                          {{"blocks.0.attn1.to_q.weight", make<float>({2}, {1.f, 2.f})},
                           {"patch_embedding.weight", make<float>({1}, {3.f})}})
            .ok());
    ASSERT_TRUE(
        write_safetensors(path("transformer/diffusion_pytorch_model-00002-of-00002.safetensors"),
                          {{"proj_out.weight", make<BFloat16>({1}, {BFloat16(4.f)})}})
            .ok());
    write("transformer/diffusion_pytorch_model.safetensors.index.json", index_json);
  }
  static constexpr char kIndex[] = R"({
    "metadata": {"total_size": 14},
    "weight_map": {
      "blocks.0.attn1.to_q.weight": "diffusion_pytorch_model-00001-of-00002.safetensors",
      "patch_embedding.weight": "diffusion_pytorch_model-00001-of-00002.safetensors",
      "proj_out.weight": "diffusion_pytorch_model-00002-of-00002.safetensors"
    }})";
};

TEST_F(CheckpointTest, SingleFileAndDirectoryHoldingIt) {
  const std::string p = path("model/diffusion_pytorch_model.safetensors");
  fs::create_directories(path("model"));
  ASSERT_TRUE(write_safetensors(p, {{"head.head.weight", make<float>({2}, {1.f, 2.f})}}).ok());
  for (const std::string& where : {p, path("model")}) {
    SCOPED_TRACE(where);
    ASSERT_OK_AND_ASSIGN(const Checkpoint checkpoint, Checkpoint::open(where));
    EXPECT_EQ(checkpoint.path(), p);
    EXPECT_EQ(checkpoint.names(), std::vector<std::string>{"head.head.weight"});
    EXPECT_TRUE(checkpoint.has("head.head.weight"));
    EXPECT_EQ(checkpoint.info("head.head.weight").value().shape, Shape{2});
    EXPECT_EQ(checkpoint.tensor("head.head.weight").value().data<float>()[1], 2.f);
  }
}

TEST_F(CheckpointTest, ShardedThroughIndexFromEveryEntryPoint) {
  write_sharded(kIndex);
  const std::string index = path("transformer/diffusion_pytorch_model.safetensors.index.json");
  for (const std::string& where : {dir_, path("transformer"), index}) {
    SCOPED_TRACE(where);
    ASSERT_OK_AND_ASSIGN(const Checkpoint checkpoint, Checkpoint::open(where));
    EXPECT_EQ(checkpoint.path(), index);
    EXPECT_EQ(checkpoint.names(),
              (std::vector<std::string>{"blocks.0.attn1.to_q.weight", "patch_embedding.weight",
                                        "proj_out.weight"}));
    EXPECT_EQ(checkpoint.tensor("blocks.0.attn1.to_q.weight").value().data<float>()[1], 2.f);
    EXPECT_EQ(checkpoint.tensor("proj_out.weight").value().data<BFloat16>()[0].to_float(), 4.f);
    EXPECT_EQ(checkpoint.info("proj_out.weight").value().dtype, DType::kBF16);
    expect_status(checkpoint.tensor("proj_out.wieght").status(), StatusCode::kNotFound,
                  {index, "'proj_out.wieght'", "closest: 'proj_out.weight'"});
  }
}

TEST_F(CheckpointTest, IndexReferencingAMissingShard) {
  write_sharded(R"({"weight_map": {"proj_out.weight": "gone.safetensors"}})");
  const std::string index = path("transformer/diffusion_pytorch_model.safetensors.index.json");
  expect_status(
      Checkpoint::open(index).status(), StatusCode::kNotFound,
      {index, "shard 'gone.safetensors'", "'proj_out.weight'", "No such file or directory"});
}

TEST_F(CheckpointTest, TensorInTwoShards) {
  write_sharded(kIndex);
  ASSERT_TRUE(
      write_safetensors(path("transformer/diffusion_pytorch_model-00002-of-00002.safetensors"),
                        {{"proj_out.weight", make<float>({1}, {4.f})},
                         {"patch_embedding.weight", make<float>({1}, {3.f})}})
          .ok());
  expect_status(
      Checkpoint::open(dir_).status(), StatusCode::kDataLoss,
      {"index.json", "'patch_embedding.weight'", "two shards", "00001-of-00002", "00002-of-00002"});
}

TEST_F(CheckpointTest, IndexEntryItsShardLacks) {
  write_sharded(
      R"({"weight_map": {"head.modulation": "diffusion_pytorch_model-00002-of-00002.safetensors"}})");
  expect_status(Checkpoint::open(dir_).status(), StatusCode::kDataLoss,
                {"index.json", "'head.modulation'", "does not contain it"});
}

TEST_F(CheckpointTest, CorruptIndex) {
  const std::string bad_json = write("a/model.safetensors.index.json", "{\"weight_map\": ");
  expect_status(Checkpoint::open(bad_json).status(), StatusCode::kDataLoss,
                {bad_json, "not valid JSON"});
  const std::string no_map = write("b/model.safetensors.index.json", R"({"metadata": {}})");
  expect_status(Checkpoint::open(no_map).status(), StatusCode::kDataLoss, {no_map, "weight_map"});
}

TEST_F(CheckpointTest, CorruptShardNamesIndexAndShard) {
  write_sharded(kIndex);
  write("transformer/diffusion_pytorch_model-00002-of-00002.safetensors", "abc");
  expect_status(Checkpoint::open(dir_).status(), StatusCode::kDataLoss,
                {"index.json", "00002-of-00002.safetensors", "shorter than the 8-byte"});
}

TEST_F(CheckpointTest, DirectoriesWithoutOneClearCheckpoint) {
  fs::create_directories(path("empty"));
  expect_status(Checkpoint::open(path("empty")).status(), StatusCode::kNotFound,
                {path("empty"), "no .safetensors file"});
  expect_status(Checkpoint::open(path("absent")).status(), StatusCode::kNotFound,
                {path("absent"), "does not exist"});
  fs::create_directories(path("two"));
  ASSERT_TRUE(write_safetensors(path("two/a.safetensors"), {}).ok());
  ASSERT_TRUE(write_safetensors(path("two/b.safetensors"), {}).ok());
  expect_status(Checkpoint::open(path("two")).status(), StatusCode::kInvalidArgument,
                {path("two"), "a.safetensors, b.safetensors", "no *.safetensors.index.json"});
}

TEST_F(CheckpointTest, DirectoryPrefersIndexOverItsShards) {
  write_sharded(
      R"({"weight_map": {"proj_out.weight": "diffusion_pytorch_model-00002-of-00002.safetensors"}})");
  ASSERT_OK_AND_ASSIGN(const Checkpoint checkpoint, Checkpoint::open(path("transformer")));
  EXPECT_EQ(checkpoint.names(), std::vector<std::string>{"proj_out.weight"});
}

// ---- Hardening (issue 16): inputs that aborted, hung or were accepted silently ----

TEST_F(SafetensorsTest, NumberBeyondADoubleInTheHeader) {
  // json::out_of_range escaped a catch of parse_error only: std::terminate.
  expect_status(open_error("inf.safetensors", st_bytes(R"({"w":{"dtype":"U8","shape":[1e400],"data_offsets":[0,1]}})", "a")),
                StatusCode::kDataLoss, {path("inf.safetensors"), "header is not valid JSON", "1e400"});
}

TEST_F(SafetensorsTest, HeaderNestedTooDeep) {
  const std::string deep = "{\"__metadata__\":" + std::string(100, '[') + std::string(100, ']') + "}";
  expect_status(open_error("deep.safetensors", st_bytes(deep)), StatusCode::kDataLoss,
                {path("deep.safetensors"), "deeper than"});
}

TEST_F(SafetensorsTest, HeaderLengthAboveTheCap) {
  // A sparse file large enough that the old check (past the end of the file) passed.
  const std::string p = path("big.safetensors");
  write("big.safetensors", le64(100'000'001));
  fs::resize_file(p, 100'000'001 + 8);
  expect_status(SafetensorsFile::open(p).status(), StatusCode::kDataLoss,
                {p, "header length 100000001", "above the 100000000"});
}

TEST_F(SafetensorsTest, DataSectionGapsAndTrailingBytes) {
  expect_status(open_error("gap.safetensors",
                           st_bytes(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                                    R"("b":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}})",
                                    "abcdef")),
                StatusCode::kDataLoss, {path("gap.safetensors"), "bytes [2, 4)", "belong to no tensor", "'b'"});
  expect_status(open_error("trail.safetensors",
                           st_bytes(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})", "abXYZ")),
                StatusCode::kDataLoss, {path("trail.safetensors"), "3 bytes after the last tensor"});
  expect_status(open_error("leading.safetensors",
                           st_bytes(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}})", "xab")),
                StatusCode::kDataLoss, {"bytes [0, 1)"});
  // Zero-size tensors anywhere are fine; so is an empty data section.
  ASSERT_TRUE(SafetensorsFile::open(write("ok.safetensors",
                                          st_bytes(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                                                   R"("z":{"dtype":"F32","shape":[0,3],"data_offsets":[2,2]}})",
                                                   "ab")))
                  .ok());
}

TEST_F(SafetensorsTest, ZeroElementTensorWithHugeDimensions) {
  // numel 0 passed, but the strides of [0, 2^40, 2^40] overflow int64.
  expect_status(open_error("zero.safetensors",
                           st_bytes(R"({"w":{"dtype":"F32","shape":[0,1099511627776,1099511627776],"data_offsets":[0,0]}})")),
                StatusCode::kDataLoss, {path("zero.safetensors"), "'w'", "more elements than fit"});
}

TEST_F(SafetensorsTest, FifoIsRefusedWithoutBlocking) {
  const std::string p = path("fifo.safetensors");
  ASSERT_EQ(::mkfifo(p.c_str(), 0600), 0);
  // open() without O_NONBLOCK waited for a writer forever.
  expect_status(SafetensorsFile::open(p).status(), StatusCode::kInvalidArgument, {p, "not a regular file"});
}

TEST_F(CheckpointTest, FifoIndexIsRefusedWithoutBlocking) {
  fs::create_directories(path("f"));
  const std::string index = path("f/model.safetensors.index.json");
  ASSERT_EQ(::mkfifo(index.c_str(), 0600), 0);
  expect_status(Checkpoint::open(index).status(), StatusCode::kInvalidArgument, {index, "not a regular file"});
}

TEST_F(CheckpointTest, NumberBeyondADoubleInTheIndex) {
  const std::string index = write("x/model.safetensors.index.json", R"({"weight_map": {}, "metadata": {"total_size": 1e400}})");
  expect_status(Checkpoint::open(index).status(), StatusCode::kDataLoss, {index, "not valid JSON"});
}

TEST_F(CheckpointTest, ShardPathsMustStayBesideTheIndex) {
  ASSERT_TRUE(write_safetensors(path("outside.safetensors"), {{"w", make<float>({1}, {1.f})}}).ok());
  for (const std::string& shard : {std::string("../outside.safetensors"), path("outside.safetensors"),
                                   std::string("sub/../../outside.safetensors")}) {
    const std::string index =
        write("in/model.safetensors.index.json", "{\"weight_map\": {\"w\": \"" + shard + "\"}}");
    expect_status(Checkpoint::open(index).status(), StatusCode::kDataLoss,
                  {index, "'" + shard + "'", "plain file names"});
  }
}

TEST_F(CheckpointTest, DanglingSymlinkInACheckpointDirectory) {
  fs::create_directories(path("ckpt"));
  fs::create_symlink(path("gone.safetensors"), path("ckpt/model.safetensors"));
  // Was "cannot list <dir>: No such file or directory" (the entry's error taken for the listing's).
  expect_status(Checkpoint::open(path("ckpt")).status(), StatusCode::kNotFound,
                {path("ckpt/model.safetensors"), "symbolic link to a missing file"});
}

}  // namespace
}  // namespace wan
