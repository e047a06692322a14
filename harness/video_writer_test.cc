// The video writers: PNG frames decode back to the exact RGB bytes (stored deflate blocks,
// CRCs and Adler-32 checked here by an independent reader), Y4M carries 4:4:4 full-range
// YCbCr whose inverse is within 2 levels of the RGB, and every writer refuses to overwrite.
#include "harness/video_writer.h"

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <gtest/gtest.h>

namespace wan {
namespace {

namespace fs = std::filesystem;

uint32_t be32(const std::string& s, size_t at) {
  return (uint32_t(uint8_t(s[at])) << 24) | (uint32_t(uint8_t(s[at + 1])) << 16) | (uint32_t(uint8_t(s[at + 2])) << 8) |
         uint32_t(uint8_t(s[at + 3]));
}

uint32_t crc32_of(const std::string& bytes) {
  uint32_t c = 0xffffffffu;
  for (unsigned char b : bytes) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
  }
  return c ^ 0xffffffffu;
}

// Decodes a PNG made of stored (uncompressed) deflate blocks: 8-bit RGB, filter 0 rows.
std::vector<uint8_t> decode_stored_png(const std::string& png, int64_t* h, int64_t* w) {
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  std::string idat;
  for (size_t at = 8; at + 12 <= png.size();) {
    const uint32_t len = be32(png, at);
    const std::string type = png.substr(at + 4, 4), data = png.substr(at + 8, len);
    EXPECT_EQ(be32(png, at + 8 + len), crc32_of(type + data)) << type;
    if (type == "IHDR") {
      *w = be32(data, 0);
      *h = be32(data, 4);
      EXPECT_EQ(data[8], 8);  // bit depth
      EXPECT_EQ(data[9], 2);  // RGB
    }
    if (type == "IDAT") idat += data;
    at += 12 + len;
  }
  std::string raw;
  size_t at = 2;  // zlib header
  for (bool last = false; !last;) {
    last = idat[at] & 1;
    const size_t n = uint8_t(idat[at + 1]) | (uint8_t(idat[at + 2]) << 8);
    EXPECT_EQ(n ^ 0xffff, size_t(uint8_t(idat[at + 3]) | (uint8_t(idat[at + 4]) << 8)));
    raw += idat.substr(at + 5, n);
    at += 5 + n;
  }
  uint32_t a = 1, b = 0;
  for (unsigned char c : raw) {
    a = (a + c) % 65521;
    b = (b + a) % 65521;
  }
  EXPECT_EQ(be32(idat, at), (b << 16) | a);  // Adler-32
  std::vector<uint8_t> rgb;
  for (int64_t y = 0; y < *h; ++y) {
    EXPECT_EQ(raw[y * (1 + *w * 3)], 0);  // filter type 0
    rgb.insert(rgb.end(), raw.begin() + y * (1 + *w * 3) + 1, raw.begin() + (y + 1) * (1 + *w * 3));
  }
  return rgb;
}

VideoFrames random_frames(int64_t t, int64_t h, int64_t w, uint64_t seed) {
  VideoFrames f;
  f.frames = t;
  f.height = h;
  f.width = w;
  std::mt19937_64 gen(seed);
  f.rgb.resize(static_cast<size_t>(t * h * w * 3));
  for (uint8_t& v : f.rgb) v = static_cast<uint8_t>(gen() & 0xff);
  return f;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(VideoWriter, PngIsLosslessAndValid) {
  // 200 x 120: rows of 601 bytes, 120,120 bytes of scanlines: two stored blocks.
  const VideoFrames f = random_frames(1, 200, 120, 1);
  int64_t h = 0, w = 0;
  EXPECT_EQ(decode_stored_png(encode_png(f.frame(0), f.height, f.width), &h, &w), f.rgb);
  EXPECT_EQ(h, 200);
  EXPECT_EQ(w, 120);
}

TEST(VideoWriter, Y4mIsFullRange444WithinTwoLevels) {
  const VideoFrames f = random_frames(2, 9, 7, 2);
  const std::string y4m = encode_y4m(f, 16);
  const std::string header = "YUV4MPEG2 W7 H9 F16:1 Ip A1:1 C444 XCOLORRANGE=FULL\n";
  ASSERT_EQ(y4m.substr(0, header.size()), header);
  ASSERT_EQ(y4m.size(), header.size() + 2 * (6 + 3 * 63));
  int worst = 0;
  for (int64_t t = 0; t < 2; ++t) {
    const size_t base = header.size() + t * (6 + 3 * 63);
    ASSERT_EQ(y4m.substr(base, 6), "FRAME\n");
    for (int64_t i = 0; i < 63; ++i) {
      const double Y = uint8_t(y4m[base + 6 + i]), Cb = uint8_t(y4m[base + 6 + 63 + i]) - 128.0,
                   Cr = uint8_t(y4m[base + 6 + 126 + i]) - 128.0;
      const double rgb[3] = {Y + 1.402 * Cr, Y - 0.344136 * Cb - 0.714136 * Cr, Y + 1.772 * Cb};
      for (int c = 0; c < 3; ++c) {
        const double back = std::min(255.0, std::max(0.0, std::round(rgb[c])));
        worst = std::max(worst, static_cast<int>(std::fabs(back - f.frame(t)[3 * i + c])));
      }
    }
  }
  std::printf("Y4M round trip: worst %d level(s)\n", worst);
  EXPECT_LE(worst, 2);
}

TEST(VideoWriter, WritersRefuseToOverwriteAndPublishWhole) {
  const std::string dir = ::testing::TempDir() + "/video_writer_test";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const VideoFrames f = random_frames(3, 4, 5, 3);
  for (const std::string name : {"v.y4m", "frames"}) {
    const std::string path = dir + "/" + name;
    auto first = write_video(path, f, 16, Overwrite::kRefuse);
    ASSERT_TRUE(first.ok()) << first.status().message();
    auto again = write_video(path, f, 16, Overwrite::kRefuse);
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(again.status().message().find("--force"), std::string::npos);
    EXPECT_TRUE(write_video(path, f, 16, Overwrite::kAllow).ok());
  }
  EXPECT_EQ(slurp(dir + "/v.y4m"), encode_y4m(f, 16));
  for (int64_t t = 0; t < 3; ++t) {
    char name[32];
    std::snprintf(name, sizeof(name), "/frames/frame_%05lld.png", static_cast<long long>(t));
    int64_t h = 0, w = 0;
    const std::vector<uint8_t> rgb = decode_stored_png(slurp(dir + name), &h, &w);
    EXPECT_TRUE(std::equal(rgb.begin(), rgb.end(), f.frame(t)));
  }
  size_t entries = 0;
  for (const auto& e : fs::directory_iterator(dir)) entries += e.path().filename().string().find(".tmp.") == std::string::npos;
  EXPECT_EQ(entries, 2u);  // no temporaries left beside
  EXPECT_FALSE(write_video(dir + "/empty.y4m", VideoFrames{}, 16, Overwrite::kRefuse).ok());
  EXPECT_FALSE(write_video(dir + "/bad.y4m", f, 0, Overwrite::kRefuse).ok());
}

}  // namespace
}  // namespace wan
