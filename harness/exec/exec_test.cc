// `repro exec` without a GPU: the trace reader (paths, correlation, truncated files, capture
// windows, several processes) and the canonical output hashes (safetensors tensors equal to
// the engine's latents hash, Y4M and PNG pixels independent of container metadata).
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include <gtest/gtest.h>

#include "engine/model/safetensors.h"
#include "harness/exec/exec_trace.h"
#include "harness/exec/output_hashing.h"
#include "harness/hashing.h"
#include "harness/video_writer.h"

namespace wan {
namespace {

std::string temp_dir(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  const std::string dir = std::string(base ? base : "/tmp") + "/exec_test_" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

const char kProcess[] =
    "# repro-exec-trace 1\n"
    "I\t100\t1\n"
    "N\t1\n"
    "P\t1\tdenoise\n"
    "P\t2\tdenoise/step/0\n"
    "P\t3\tdenoise/step/0/layer/2\n"
    "C\t130001\n"
    "X\t7\t3\n"
    "X\t8\t2\n"
    "K\t7\t1000\t1500\t4\t1\t1\t128\t1\t1\t96\t0\t4096\t0\t7\tgemm_kernel\n"
    "K\t8\t2000\t2100\t1\t1\t1\t32\t1\t1\t16\t0\t0\t0\t7\tnorm kernel with spaces\n"
    "K\t9\t3000\t3300\t1\t1\t1\t32\t1\t1\t16\t0\t0\t0\t7\toutside\n"
    "R\t1\t2500000\n"
    "Q\tunknown tag\n"
    "K\t10\tnot-a-number\n"
    "E\t0\n";

TEST(ExecTrace, ResolvesRangesThroughExternalCorrelation) {
  std::vector<KernelRecord> kernels;
  std::map<std::string, std::vector<double>> timed;
  auto p = parse_exec_trace(kProcess, "proc-100.trace", &kernels, &timed);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->pid, 100);
  EXPECT_EQ(p->ppid, 1);
  EXPECT_TRUE(p->cupti);
  EXPECT_TRUE(p->nvtx);
  EXPECT_TRUE(p->clean_exit);
  EXPECT_EQ(p->kernels, 3);
  EXPECT_EQ(p->malformed_lines, 2);  // the unknown tag and the bad K line
  ASSERT_EQ(kernels.size(), 3u);
  EXPECT_EQ(kernels[0].range, "denoise/step/0/layer/2");
  EXPECT_EQ(kernels[0].grid[0], 4);
  EXPECT_EQ(kernels[0].block[0], 128);
  EXPECT_EQ(kernels[0].registers, 96);
  EXPECT_EQ(kernels[0].dynamic_smem, 4096);
  EXPECT_EQ(kernels[1].name, "norm kernel with spaces");
  EXPECT_EQ(kernels[1].range, "denoise/step/0");
  EXPECT_EQ(kernels[2].range, "");  // no external id: outside every range
  ASSERT_EQ(timed["denoise"].size(), 1u);
  EXPECT_DOUBLE_EQ(timed["denoise"][0], 0.0025);
  EXPECT_EQ(range_group(kernels[0].range), "denoise/layer/2");
}

TEST(ExecTrace, EmitNvtxNamesGroupAcrossCalls) {
  EXPECT_EQ(normalize_range_name("step/2/aten::linear, seq = 1234, op_id = 99, sizes = [[1, 8], [8, 8]]"),
            "step/2/aten::linear, sizes = [[1, 8], [8, 8]]");
  EXPECT_EQ(normalize_range_name("a/aten::mm, seq = 7, op_id = 3, input_op_ids = [(1,0), (2,0)]/inner"), "a/aten::mm/inner");
  EXPECT_EQ(normalize_range_name("denoise/step/0/layer/2"), "denoise/step/0/layer/2");
  std::vector<KernelRecord> kernels;
  auto p = parse_exec_trace(
      "# repro-exec-trace 1\nI\t1\t0\nC\t1\nP\t1\taten::mm, seq = 5\nP\t2\taten::mm, seq = 6\nX\t1\t1\nX\t2\t2\n"
      "K\t1\t5\t6\t1\t1\t1\t1\t1\t1\t1\t0\t0\t0\t0\tgemm\nK\t2\t2\t3\t1\t1\t1\t1\t1\t1\t1\t0\t0\t0\t0\tgemm\n",
      "f", &kernels, nullptr);
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(kernels.size(), 2u);
  EXPECT_EQ(kernels[0].range, "aten::mm");
  EXPECT_EQ(kernels[1].range, "aten::mm");
}

TEST(ExecTrace, StopBeforeStartIsMalformed) {  // found by tests/fuzz/exec_trace_fuzz.cc
  auto p = parse_exec_trace("# repro-exec-trace 1\nS\t1000\nT\t10\n", "f", nullptr, nullptr);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->malformed_lines, 1);
  ASSERT_EQ(p->capture_windows.size(), 1u);  // the window stays open to the end
  EXPECT_EQ(p->capture_windows[0].first, 1000u);
}

TEST(ExecTrace, TruncatedLastLineIsCountedNotFatal) {
  std::string text = kProcess;
  text = text.substr(0, text.find("E\t0"));  // killed before the exit flush...
  text += "K\t11\t4000\t41";                  // ...in the middle of a line
  std::vector<KernelRecord> kernels;
  auto p = parse_exec_trace(text, "f", &kernels, nullptr);
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->clean_exit);
  EXPECT_EQ(p->malformed_lines, 3);
  EXPECT_EQ(kernels.size(), 3u);
}

TEST(ExecTrace, RejectsAFileThatIsNotATrace) {
  auto p = parse_exec_trace("hello\n", "x.trace", nullptr, nullptr);
  EXPECT_EQ(p.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(p.status().message().find("x.trace"), std::string::npos);
}

TEST(ExecTrace, MergesProcessesAndFiltersToProfilerWindows) {
  const std::string dir = temp_dir("merge");
  write_text(dir + "/proc-100.trace", kProcess);
  // A spawned worker: only its kernels between cuProfilerStart and cuProfilerStop count
  // under --capture-range cudaProfilerApi; the parent never called cuProfilerStart.
  write_text(dir + "/proc-200.trace",
             "# repro-exec-trace 1\nI\t200\t100\nC\t130001\nP\t1\tworker\nX\t1\t1\nX\t2\t1\n"
             "K\t1\t500\t600\t1\t1\t1\t1\t1\t1\t8\t0\t0\t0\t1\tbefore\n"
             "S\t1000\n"
             "K\t2\t1200\t1300\t1\t1\t1\t1\t1\t1\t8\t0\t0\t0\t1\tinside\n"
             "T\t2000\nD\t3\nE\t3\n");
  write_text(dir + "/unrelated.txt", "not a trace");
  auto all = read_exec_traces(dir, false);
  ASSERT_TRUE(all.ok()) << all.status().message();
  ASSERT_EQ(all->processes.size(), 2u);
  EXPECT_EQ(all->processes[1].ppid, 100);
  EXPECT_EQ(all->processes[1].dropped, 3u);
  EXPECT_EQ(all->kernels.size(), 5u);
  EXPECT_EQ(all->kernels[0].name, "before");  // sorted by start time across processes
  auto captured = read_exec_traces(dir, true);
  ASSERT_TRUE(captured.ok());
  ASSERT_EQ(captured->kernels.size(), 1u);
  EXPECT_EQ(captured->kernels[0].name, "inside");
  EXPECT_EQ(captured->kernels[0].range, "worker");
  EXPECT_TRUE(captured->any_cupti());
}

TEST(ExecTrace, SaysWhyThereAreNoKernels) {
  const std::string dir = temp_dir("held");
  write_text(dir + "/proc-5.trace", "# repro-exec-trace 1\nI\t5\t1\nU\tCUPTI is held by Nsight Compute\nE\t0\n");
  auto t = read_exec_traces(dir, false);
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE(t->any_cupti());
  EXPECT_EQ(t->unavailable_reason(), "CUPTI is held by Nsight Compute");
  auto none = read_exec_traces(dir + "/missing", false);
  ASSERT_TRUE(none.ok());
  EXPECT_NE(none->unavailable_reason().find("no process"), std::string::npos);
}

Tensor random_tensor(const Shape& shape, uint32_t seed) {
  Tensor t = Tensor::empty(shape, DType::kF32).value();
  std::mt19937 rng(seed);
  std::normal_distribution<float> n;
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = n(rng);
  return t;
}

TEST(OutputHashing, SafetensorsLatentsHashLikeTheEngine) {
  const std::string dir = temp_dir("safetensors");
  const Tensor latents = random_tensor({16, 2, 4, 6}, 1);  // the engine's [C, F, H, W]
  const std::string engine_sha1 = sha1_tensor(latents).value();
  // Saved as a program would: batch of one, with metadata.
  ASSERT_TRUE(write_safetensors(dir + "/a.safetensors", {{"latents", latents.reshape({1, 16, 2, 4, 6}).value()}},
                                {{"producer", "one"}})
                  .ok());
  ASSERT_TRUE(write_safetensors(dir + "/b.safetensors", {{"latents", latents}}, {{"producer", "two"}, {"t", "123"}}).ok());
  auto a = hash_output_file(dir + "/a.safetensors", "a.safetensors", HashMode::kAuto);
  auto b = hash_output_file(dir + "/b.safetensors", "b.safetensors", HashMode::kAuto);
  ASSERT_TRUE(a.ok()) << a.status().message();
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->kind, "safetensors");
  EXPECT_EQ(a->sha1, engine_sha1);  // metadata and the batch dimension do not count
  EXPECT_EQ(b->sha1, engine_sha1);
  EXPECT_NE(a->detail.find("latents f32 [1,16,2,4,6]"), std::string::npos) << a->detail;
  // Raw mode hashes bytes: the two files differ.
  auto ra = hash_output_file(dir + "/a.safetensors", "a", HashMode::kRaw);
  auto rb = hash_output_file(dir + "/b.safetensors", "b", HashMode::kRaw);
  EXPECT_NE(ra->sha1, rb->sha1);
  EXPECT_EQ(ra->kind, "raw");
  // One element changed: a different hash.
  Tensor changed = latents.clone().value();
  changed.data<float>()[17] += 1e-6f;
  ASSERT_TRUE(write_safetensors(dir + "/c.safetensors", {{"latents", changed}}).ok());
  EXPECT_NE(hash_output_file(dir + "/c.safetensors", "c", HashMode::kAuto)->sha1, engine_sha1);
  // Several tensors: name order, independent of the file's order.
  const Tensor other = random_tensor({3, 5}, 2);
  ASSERT_TRUE(write_safetensors(dir + "/two.safetensors", {{"x", other}, {"latents", latents}}).ok());
  const std::string lines = "latents\t" + engine_sha1 + "\nx\t" + sha1_tensor(other).value() + "\n";
  EXPECT_EQ(hash_output_file(dir + "/two.safetensors", "two", HashMode::kAuto)->sha1, sha1_hex(lines.data(), lines.size()));
  // Truncated: DATA_LOSS naming the file, not a raw hash of garbage.
  std::string bytes;
  {
    std::ifstream in(dir + "/b.safetensors", std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  write_text(dir + "/cut.safetensors", bytes.substr(0, bytes.size() - 10));
  auto cut = hash_output_file(dir + "/cut.safetensors", "cut", HashMode::kAuto);
  EXPECT_EQ(cut.status().code(), StatusCode::kDataLoss);
}

VideoFrames test_frames() {
  VideoFrames f;
  f.frames = 2;
  f.height = 6;
  f.width = 10;
  f.rgb.resize(static_cast<size_t>(f.frames * f.frame_bytes()));
  std::mt19937 rng(3);
  for (auto& b : f.rgb) b = static_cast<uint8_t>(rng());
  return f;
}

TEST(OutputHashing, Y4mHashesPixelsNotHeaderTags) {
  const std::string dir = temp_dir("y4m");
  const VideoFrames frames = test_frames();
  const std::string y4m = encode_y4m(frames, 16);
  write_text(dir + "/a.y4m", y4m);
  // The same pixels with another frame rate, a comment tag and FRAME parameters.
  std::string other = y4m;
  const size_t eol = other.find('\n');
  std::string header = other.substr(0, eol);
  const size_t f = header.find(" F16:1");
  ASSERT_NE(f, std::string::npos) << header;
  header.replace(f, 6, " F30:1 XCOMMENT=made-by-another-tool");
  other = header + other.substr(eol);
  other.replace(other.find("FRAME\n"), 6, "FRAME Ixyz\n");
  write_text(dir + "/b.y4m", other);
  auto a = hash_output_file(dir + "/a.y4m", "a.y4m", HashMode::kAuto);
  auto b = hash_output_file(dir + "/b.y4m", "b.y4m", HashMode::kAuto);
  ASSERT_TRUE(a.ok()) << a.status().message();
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(a->kind, "y4m");
  EXPECT_EQ(a->sha1, b->sha1);
  EXPECT_NE(a->detail.find("2 frames 10x6"), std::string::npos) << a->detail;
  std::string pixel = y4m;
  pixel[pixel.size() - 1] ^= 1;
  write_text(dir + "/c.y4m", pixel);
  EXPECT_NE(hash_output_file(dir + "/c.y4m", "c", HashMode::kAuto)->sha1, a->sha1);
  write_text(dir + "/cut.y4m", y4m.substr(0, y4m.size() - 3));
  EXPECT_EQ(hash_output_file(dir + "/cut.y4m", "cut", HashMode::kAuto).status().code(), StatusCode::kDataLoss);
}

void put_be32(std::string& s, uint32_t v) {
  for (int i = 3; i >= 0; --i) s += static_cast<char>((v >> (8 * i)) & 255);
}
void chunk(std::string& png, const std::string& type, const std::string& data) {
  put_be32(png, static_cast<uint32_t>(data.size()));
  const std::string body = type + data;
  png += body;
  put_be32(png, static_cast<uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size()))));
}

// The same RGB pixels as another encoder would write them: zlib level 9, Sub filter on every
// row, a tEXt chunk.
std::string other_encoder_png(const uint8_t* rgb, int height, int width) {
  std::string raw;
  for (int y = 0; y < height; ++y) {
    raw += '\x01';  // Sub
    for (int x = 0; x < width * 3; ++x) {
      const uint8_t left = x >= 3 ? rgb[(y * width) * 3 + x - 3] : 0;
      raw += static_cast<char>(rgb[(y * width) * 3 + x] - left);
    }
  }
  uLongf len = compressBound(static_cast<uLong>(raw.size()));
  std::string z(len, '\0');
  compress2(reinterpret_cast<Bytef*>(z.data()), &len, reinterpret_cast<const Bytef*>(raw.data()), static_cast<uLong>(raw.size()), 9);
  z.resize(len);
  std::string png = "\x89PNG\r\n\x1a\n";
  std::string ihdr;
  put_be32(ihdr, static_cast<uint32_t>(width));
  put_be32(ihdr, static_cast<uint32_t>(height));
  ihdr += std::string("\x08\x02\x00\x00\x00", 5);
  chunk(png, "IHDR", ihdr);
  chunk(png, "tEXt", std::string("Software\0other", 14));
  chunk(png, "IDAT", z);
  chunk(png, "IEND", "");
  return png;
}

TEST(OutputHashing, PngHashesDecodedPixels) {
  const std::string dir = temp_dir("png");
  const VideoFrames frames = test_frames();
  write_text(dir + "/ours.png", encode_png(frames.frame(0), frames.height, frames.width));
  write_text(dir + "/theirs.png", other_encoder_png(frames.frame(0), static_cast<int>(frames.height), static_cast<int>(frames.width)));
  auto ours = hash_output_file(dir + "/ours.png", "ours.png", HashMode::kAuto);
  auto theirs = hash_output_file(dir + "/theirs.png", "theirs.png", HashMode::kAuto);
  ASSERT_TRUE(ours.ok()) << ours.status().message();
  ASSERT_TRUE(theirs.ok()) << theirs.status().message();
  EXPECT_EQ(ours->kind, "png");
  EXPECT_EQ(ours->sha1, theirs->sha1);
  EXPECT_NE(hash_output_file(dir + "/ours.png", "o", HashMode::kRaw)->sha1,
            hash_output_file(dir + "/theirs.png", "t", HashMode::kRaw)->sha1);
  write_text(dir + "/next.png", encode_png(frames.frame(1), frames.height, frames.width));
  EXPECT_NE(hash_output_file(dir + "/next.png", "n", HashMode::kAuto)->sha1, ours->sha1);
  std::string corrupt = encode_png(frames.frame(0), frames.height, frames.width);
  corrupt[corrupt.size() / 2] ^= 0x40;  // inside IDAT: its CRC no longer matches
  write_text(dir + "/corrupt.png", corrupt);
  auto bad = hash_output_file(dir + "/corrupt.png", "corrupt.png", HashMode::kAuto);
  EXPECT_EQ(bad.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(bad.status().message().find("CRC"), std::string::npos) << bad.status().message();
}

// A PNG from raw scanlines (filter byte + row bytes each).
std::string png_of(uint32_t width, uint32_t height, int depth, int color, const std::string& scanlines) {
  uLongf len = compressBound(static_cast<uLong>(scanlines.size()));
  std::string z(len, '\0');
  compress2(reinterpret_cast<Bytef*>(z.data()), &len, reinterpret_cast<const Bytef*>(scanlines.data()),
            static_cast<uLong>(scanlines.size()), 6);
  z.resize(len);
  std::string png = "\x89PNG\r\n\x1a\n", ihdr;
  put_be32(ihdr, width);
  put_be32(ihdr, height);
  ihdr += static_cast<char>(depth);
  ihdr += static_cast<char>(color);
  ihdr += std::string(3, '\0');
  chunk(png, "IHDR", ihdr);
  chunk(png, "IDAT", z);
  chunk(png, "IEND", "");
  return png;
}

TEST(OutputHashing, PngPaddingBitsBelowEightBitsDoNotCount) {
  const std::string dir = temp_dir("png1bit");
  // 3 pixels of 1-bit grey per row: 3 bits used, 5 padding bits that encoders fill as they like.
  write_text(dir + "/a.png", png_of(3, 2, 1, 0, std::string("\x00\xa0\x00\x40", 4)));
  write_text(dir + "/b.png", png_of(3, 2, 1, 0, std::string("\x00\xbf\x00\x5f", 4)));
  write_text(dir + "/c.png", png_of(3, 2, 1, 0, std::string("\x00\xe0\x00\x40", 4)));  // one pixel differs
  auto a = hash_output_file(dir + "/a.png", "a", HashMode::kAuto);
  auto b = hash_output_file(dir + "/b.png", "b", HashMode::kAuto);
  auto c = hash_output_file(dir + "/c.png", "c", HashMode::kAuto);
  ASSERT_TRUE(a.ok()) << a.status().message();
  ASSERT_TRUE(b.ok() && c.ok());
  EXPECT_EQ(a->sha1, b->sha1);
  EXPECT_NE(a->sha1, c->sha1);
}

TEST(OutputHashing, GlobsOverTheRunDirectory) {
  const std::string dir = temp_dir("globs");
  std::filesystem::create_directories(dir + "/frames");
  write_text(dir + "/frames/0001.bin", "one");
  write_text(dir + "/frames/0002.bin", "two");
  write_text(dir + "/log.txt", "not hashed");
  auto files = hash_outputs(dir, {"frames/*.bin"}, HashMode::kAuto);
  ASSERT_TRUE(files.ok()) << files.status().message();
  ASSERT_EQ(files->size(), 2u);
  EXPECT_EQ((*files)[0].file, "frames/0001.bin");
  EXPECT_EQ((*files)[0].sha1, sha1_hex("one", 3));
  const std::string lines = "frames/0001.bin\t" + sha1_hex("one", 3) + "\nframes/0002.bin\t" + sha1_hex("two", 3) + "\n";
  EXPECT_EQ(combined_output_sha1(files.value()), sha1_hex(lines.data(), lines.size()));
  EXPECT_EQ(combined_output_sha1({(*files)[1]}), sha1_hex("two", 3));  // one file: its own hash
  // '*' crosses directories.
  EXPECT_EQ(hash_outputs(dir, {"*.bin"}, HashMode::kAuto)->size(), 2u);
  auto missing = hash_outputs(dir, {"frames/*.bin", "latents.safetensors"}, HashMode::kAuto);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("latents.safetensors"), std::string::npos);
  EXPECT_EQ(hash_outputs(dir, {"/etc/passwd"}, HashMode::kAuto).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace wan
