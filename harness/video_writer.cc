#include "harness/video_writer.h"

#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

extern char** environ;

namespace wan {
namespace {

namespace fs = std::filesystem;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void put_be32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

uint32_t crc32(const std::string& bytes, size_t begin) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t n = 0; n < 256; ++n) {
      uint32_t c = n;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      t[n] = c;
    }
    return t;
  }();
  uint32_t c = 0xffffffffu;
  for (size_t i = begin; i < bytes.size(); ++i) c = table[(c ^ static_cast<uint8_t>(bytes[i])) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

void png_chunk(std::string& out, const char* type, const std::string& data) {
  put_be32(out, static_cast<uint32_t>(data.size()));
  const size_t start = out.size();
  out.append(type, 4);
  out += data;
  put_be32(out, crc32(out, start));
}

// Full-range BT.601 (JFIF) with 16-bit fixed-point coefficients, rounded: integer-exact.
uint8_t clamp_u8(int32_t v) { return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v)); }

std::string find_on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  if (!path) return "";
  std::string dirs = path;
  size_t start = 0;
  while (start <= dirs.size()) {
    const size_t colon = dirs.find(':', start);
    const std::string dir = dirs.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return "";
}

Status run_ffmpeg(const std::string& ffmpeg, const std::string& input, const std::string& output) {
  std::vector<std::string> args = {ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", input,
                                   "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "12", "-f", "mp4", output};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (const int err = ::posix_spawn(&pid, ffmpeg.c_str(), nullptr, nullptr, argv.data(), environ); err != 0)
    return unavailable("cannot start '" + ffmpeg + "': " + std::strerror(err));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return unavailable("waiting for ffmpeg failed");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return unavailable("ffmpeg could not encode '" + output + "' (exit status " +
                       std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) +
                       ", see its message above); write .y4m instead and convert it yourself");
  return Status();
}

}  // namespace

std::string encode_png(const uint8_t* rgb, int64_t height, int64_t width) {
  std::string out = "\x89PNG\r\n\x1a\n";
  std::string ihdr;
  put_be32(ihdr, static_cast<uint32_t>(width));
  put_be32(ihdr, static_cast<uint32_t>(height));
  ihdr += std::string("\x08\x02\x00\x00\x00", 5);  // 8-bit, RGB, deflate, no filter, no interlace
  png_chunk(out, "IHDR", ihdr);
  // Scanlines (filter byte 0 + row) in stored deflate blocks of at most 65,535 bytes.
  std::string raw;
  raw.reserve(static_cast<size_t>(height * (1 + width * 3)));
  for (int64_t y = 0; y < height; ++y) {
    raw.push_back('\0');
    raw.append(reinterpret_cast<const char*>(rgb + y * width * 3), static_cast<size_t>(width * 3));
  }
  std::string z = "\x78\x01";
  for (size_t at = 0; at < raw.size() || at == 0; at += 65535) {
    const size_t n = std::min<size_t>(65535, raw.size() - at);
    const bool last = at + n >= raw.size();
    z.push_back(last ? '\x01' : '\x00');
    z.push_back(static_cast<char>(n & 0xff));
    z.push_back(static_cast<char>(n >> 8));
    z.push_back(static_cast<char>(~n & 0xff));
    z.push_back(static_cast<char>((~n >> 8) & 0xff));
    z.append(raw, at, n);
    if (last) break;
  }
  uint32_t a = 1, b = 0;  // Adler-32 of the uncompressed data
  for (unsigned char c : raw) {
    a = (a + c) % 65521;
    b = (b + a) % 65521;
  }
  put_be32(z, (b << 16) | a);
  png_chunk(out, "IDAT", z);
  png_chunk(out, "IEND", "");
  return out;
}

std::string encode_y4m(const VideoFrames& f, int fps) {
  std::string out = "YUV4MPEG2 W" + std::to_string(f.width) + " H" + std::to_string(f.height) + " F" +
                    std::to_string(fps) + ":1 Ip A1:1 C444 XCOLORRANGE=FULL\n";
  const int64_t plane = f.height * f.width;
  out.reserve(out.size() + static_cast<size_t>(f.frames * (6 + 3 * plane)));
  std::string y(plane, '\0'), cb(plane, '\0'), cr(plane, '\0');
  for (int64_t t = 0; t < f.frames; ++t) {
    const uint8_t* px = f.frame(t);
    for (int64_t i = 0; i < plane; ++i) {
      const int32_t r = px[3 * i], g = px[3 * i + 1], b = px[3 * i + 2];
      y[i] = static_cast<char>(clamp_u8((19595 * r + 38470 * g + 7471 * b + 32768) >> 16));
      cb[i] = static_cast<char>(clamp_u8((-11056 * r - 21712 * g + 32768 * b + (128 << 16) + 32768) >> 16));
      cr[i] = static_cast<char>(clamp_u8((32768 * r - 27440 * g - 5328 * b + (128 << 16) + 32768) >> 16));
    }
    out += "FRAME\n";
    out += y;
    out += cb;
    out += cr;
  }
  return out;
}

Status check_video_format_available(const std::string& path) {
  if (ends_with(path, ".mp4") && find_on_path("ffmpeg").empty())
    return unavailable("--video " + path + ": no ffmpeg on PATH to encode MP4 (install it, e.g. `apt-get install "
                       "ffmpeg`), or write .y4m (plays in mpv/VLC/ffplay; `ffmpeg -i x.y4m x.mp4` converts it) or "
                       "a folder of PNG frames (any other path)");
  return Status();
}

Result<VideoWriteResult> write_video(const std::string& path, const VideoFrames& frames, int fps,
                                     Overwrite overwrite) {
  if (frames.frames < 1 || frames.height < 1 || frames.width < 1 ||
      frames.rgb.size() != static_cast<size_t>(frames.frames * frames.frame_bytes()))
    return invalid_argument("write_video: no frames to write");
  if (fps < 1) return invalid_argument("write_video: fps must be >= 1");
  VideoWriteResult result;
  result.path = path;
  if (ends_with(path, ".y4m")) {
    const std::string bytes = encode_y4m(frames, fps);
    WAN_RETURN_IF_ERROR(write_file_atomically(path, bytes, overwrite));
    result.format = "y4m";
    result.bytes = bytes.size();
    return result;
  }
  if (ends_with(path, ".mp4")) {
    WAN_RETURN_IF_ERROR(check_video_format_available(path));
    const std::string ffmpeg = find_on_path("ffmpeg");
    const std::string y4m = encode_y4m(frames, fps);
    WAN_RETURN_IF_ERROR(write_file_atomically_with(
        path,
        [&](const std::string& temp) -> Status {
          const std::string input = temp + ".y4m";
          WAN_RETURN_IF_ERROR(write_file_atomically(input, y4m, Overwrite::kRefuse));
          const Status s = run_ffmpeg(ffmpeg, input, temp);
          ::unlink(input.c_str());
          return s;
        },
        overwrite));
    std::error_code ec;
    result.format = "mp4 (" + ffmpeg + ", libx264 crf 12)";
    result.bytes = static_cast<size_t>(fs::file_size(path, ec));
    return result;
  }
  WAN_RETURN_IF_ERROR(write_directory_atomically(
      path,
      [&](const std::string& dir) -> Status {
        for (int64_t t = 0; t < frames.frames; ++t) {
          char name[32];
          std::snprintf(name, sizeof(name), "frame_%05lld.png", static_cast<long long>(t));
          const std::string png = encode_png(frames.frame(t), frames.height, frames.width);
          WAN_RETURN_IF_ERROR(write_file_atomically((fs::path(dir) / name).string(), png, Overwrite::kRefuse));
          result.bytes += png.size();
        }
        return Status();
      },
      overwrite));
  result.format = "png folder (" + std::to_string(frames.frames) + " frames)";
  return result;
}

}  // namespace wan
