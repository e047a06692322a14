#include "harness/exec/output_hashing.h"

#include <fnmatch.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>

#include "engine/core/file_reader.h"
#include "engine/model/safetensors.h"
#include "harness/hashing.h"

namespace wan {
namespace {

std::string shape_text(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
  return out + "]";
}

Result<HashedFile> hash_safetensors(const std::string& path, HashedFile h) {
  WAN_ASSIGN_OR_RETURN(const auto file, SafetensorsFile::open(path));
  const std::vector<std::string> names = file->names();
  if (names.empty()) return data_loss("'" + path + "' is a safetensors file without tensors: nothing to hash");
  std::string lines;
  std::string single;
  for (const std::string& name : names) {
    auto tensor = file->tensor(name);
    if (!tensor.ok()) {
      if (tensor.status().code() == StatusCode::kUnimplemented)
        return unimplemented("'" + path + "': tensor '" + name + "' has a dtype the canonical tensor hash does not cover (" +
                             tensor.status().message() + "); pass --hash-mode raw to hash the file's bytes");
      return tensor.status();
    }
    Shape shape = tensor->shape();
    while (shape.size() > 1 && shape[0] == 1) shape.erase(shape.begin());  // a batch of one
    WAN_ASSIGN_OR_RETURN(const Tensor canonical, tensor->reshape(shape));
    WAN_ASSIGN_OR_RETURN(single, sha1_tensor(canonical));
    lines += name + "\t" + single + "\n";
    if (!h.detail.empty()) h.detail += ", ";
    h.detail += name + " " + std::string(dtype_name(tensor->dtype())) + " " + shape_text(tensor->shape());
  }
  h.kind = "safetensors";
  h.sha1 = names.size() == 1 ? single : sha1_hex(lines.data(), lines.size());
  return h;
}

// Y4M: "YUV4MPEG2 W<w> H<h> [C<colorspace>] ...\n" then frames "FRAME[ params]\n" + planes.
Result<HashedFile> hash_y4m(const std::string& path, const std::string& bytes, HashedFile h) {
  const auto bad = [&](const std::string& what) { return data_loss("'" + path + "' is not a valid Y4M file: " + what); };
  const size_t eol = bytes.find('\n');
  if (eol == std::string::npos) return bad("the header line has no end");
  int64_t w = 0, hgt = 0;
  std::string colorspace = "420jpeg";
  size_t i = 10;
  while (i < eol) {
    size_t j = bytes.find(' ', i);
    if (j == std::string::npos || j > eol) j = eol;
    const std::string tag = bytes.substr(i, j - i);
    if (!tag.empty() && (tag[0] == 'W' || tag[0] == 'H')) {
      if (tag.size() < 2 || tag.size() > 6 || tag.find_first_not_of("0123456789", 1) != std::string::npos)
        return bad("bad size tag '" + tag + "'");
      (tag[0] == 'W' ? w : hgt) = std::stoll(tag.substr(1));
    } else if (!tag.empty() && tag[0] == 'C') {
      colorspace = tag.substr(1);
    }
    i = j + 1;
  }
  if (w <= 0 || hgt <= 0) return bad("the header has no positive W and H");
  int bytes_per_sample = 1;
  std::string base = colorspace;
  for (const char* depth : {"p10", "p12", "p16"}) {
    const size_t at = colorspace.find(depth);
    if (at != std::string::npos) {
      bytes_per_sample = 2;
      base = colorspace.substr(0, at);
    }
  }
  const int64_t cw = (w + 1) / 2, ch = (hgt + 1) / 2;
  int64_t samples = 0;
  if (base.rfind("420", 0) == 0) samples = w * hgt + 2 * cw * ch;
  else if (base == "422") samples = w * hgt + 2 * cw * hgt;
  else if (base == "444") samples = 3 * w * hgt;
  else if (base == "444alpha") samples = 4 * w * hgt;
  else if (base == "mono") samples = w * hgt;
  else return unimplemented("'" + path + "': Y4M colour space C" + colorspace + " is not covered; pass --hash-mode raw");
  const size_t frame_bytes = static_cast<size_t>(samples) * bytes_per_sample;
  Sha1 sha;
  sha.update("y4m-pixels/1 W" + std::to_string(w) + " H" + std::to_string(hgt) + " C" + colorspace + "\n");
  size_t at = eol + 1;
  int64_t frames = 0;
  while (at < bytes.size()) {
    if (bytes.compare(at, 5, "FRAME") != 0) return bad("frame " + std::to_string(frames + 1) + " does not start with FRAME");
    const size_t line_end = bytes.find('\n', at);
    if (line_end == std::string::npos) return bad("frame " + std::to_string(frames + 1) + " has no header end");
    if (bytes.size() - (line_end + 1) < frame_bytes) return bad("frame " + std::to_string(frames + 1) + " is truncated");
    sha.update(bytes.data() + line_end + 1, frame_bytes);
    at = line_end + 1 + frame_bytes;
    ++frames;
  }
  if (frames == 0) return bad("no frames");
  h.kind = "y4m";
  h.sha1 = sha.hex_digest();
  h.detail = std::to_string(frames) + " frames " + std::to_string(w) + "x" + std::to_string(hgt) + " C" + colorspace;
  return h;
}

uint32_t be32(const std::string& s, size_t at) {
  return (uint32_t(uint8_t(s[at])) << 24) | (uint32_t(uint8_t(s[at + 1])) << 16) | (uint32_t(uint8_t(s[at + 2])) << 8) |
         uint32_t(uint8_t(s[at + 3]));
}

int paeth(int a, int b, int c) {
  const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  return (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c);
}

Result<HashedFile> hash_png(const std::string& path, const std::string& bytes, HashedFile h) {
  const auto bad = [&](const std::string& what) { return data_loss("'" + path + "' is not a valid PNG file: " + what); };
  size_t at = 8;
  uint32_t width = 0, height = 0;
  int depth = 0, color = -1, interlace = 0;
  std::string idat, palette, transparency;
  bool ended = false;
  while (!ended) {
    if (bytes.size() - at < 12) return bad("truncated chunk at byte " + std::to_string(at));
    const uint32_t len = be32(bytes, at);
    if (len > bytes.size() - at - 12) return bad("chunk length past the end of the file at byte " + std::to_string(at));
    const std::string type = bytes.substr(at + 4, 4);
    const uint32_t crc = be32(bytes, at + 8 + len);
    const uint32_t want = static_cast<uint32_t>(
        crc32(0L, reinterpret_cast<const Bytef*>(bytes.data() + at + 4), static_cast<uInt>(len + 4)));
    if (crc != want) return bad("CRC mismatch in the " + type + " chunk");
    const std::string data = bytes.substr(at + 8, len);
    if (type == "IHDR") {
      if (len != 13) return bad("IHDR is not 13 bytes");
      width = be32(data, 0);
      height = be32(data, 4);
      depth = uint8_t(data[8]);
      color = uint8_t(data[9]);
      interlace = uint8_t(data[12]);
    } else if (type == "PLTE") {
      palette = data;
    } else if (type == "tRNS") {
      transparency = data;
    } else if (type == "IDAT") {
      idat += data;
    } else if (type == "IEND") {
      ended = true;
    }
    at += 12 + len;
  }
  if (color < 0) return bad("no IHDR chunk");
  if (interlace != 0) return unimplemented("'" + path + "' is an interlaced PNG, which the pixel hash does not cover; pass --hash-mode raw");
  int channels = 0;
  switch (color) {
    case 0: channels = 1; break;
    case 2: channels = 3; break;
    case 3: channels = 1; break;
    case 4: channels = 2; break;
    case 6: channels = 4; break;
    default: return bad("colour type " + std::to_string(color));
  }
  if (width == 0 || height == 0 || width > (1u << 24) || height > (1u << 24) ||
      !(depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16))
    return bad("bad geometry or bit depth");
  const uint64_t row_bytes = (uint64_t(width) * channels * depth + 7) / 8;
  const uint64_t raw_bytes = (row_bytes + 1) * height;
  if (raw_bytes > (uint64_t(1) << 32)) return unimplemented("'" + path + "' decodes to over 4 GiB; pass --hash-mode raw");
  std::string raw(raw_bytes, '\0');
  uLongf out_len = static_cast<uLongf>(raw_bytes);
  const int z = uncompress(reinterpret_cast<Bytef*>(raw.data()), &out_len, reinterpret_cast<const Bytef*>(idat.data()),
                           static_cast<uLong>(idat.size()));
  if (z != Z_OK || out_len != raw_bytes) return bad("the image data does not inflate to " + std::to_string(raw_bytes) + " bytes");
  // Unfilter in place: each row is filter byte + row_bytes.
  const size_t bpp = std::max<size_t>(1, static_cast<size_t>(channels) * depth / 8);
  std::string pixels(row_bytes * height, '\0');
  for (uint32_t y = 0; y < height; ++y) {
    const uint8_t filter = uint8_t(raw[y * (row_bytes + 1)]);
    const uint8_t* in = reinterpret_cast<const uint8_t*>(raw.data()) + y * (row_bytes + 1) + 1;
    uint8_t* out = reinterpret_cast<uint8_t*>(pixels.data()) + y * row_bytes;
    const uint8_t* up = y ? out - row_bytes : nullptr;
    for (size_t x = 0; x < row_bytes; ++x) {
      const int a = x >= bpp ? out[x - bpp] : 0, b = up ? up[x] : 0, c = (up && x >= bpp) ? up[x - bpp] : 0;
      int v;
      switch (filter) {
        case 0: v = in[x]; break;
        case 1: v = in[x] + a; break;
        case 2: v = in[x] + b; break;
        case 3: v = in[x] + (a + b) / 2; break;
        case 4: v = in[x] + paeth(a, b, c); break;
        default: return bad("row " + std::to_string(y) + " has filter type " + std::to_string(filter));
      }
      out[x] = static_cast<uint8_t>(v);
    }
  }
  // Bit depths below 8: the unused low bits of each row's last byte are unspecified (encoders
  // differ); they do not count.
  const int used_bits = static_cast<int>((uint64_t(width) * channels * depth) % 8);
  if (used_bits != 0)
    for (uint32_t y = 0; y < height; ++y)
      pixels[(y + 1) * row_bytes - 1] = static_cast<char>(uint8_t(pixels[(y + 1) * row_bytes - 1]) & uint8_t(0xFF << (8 - used_bits)));
  Sha1 sha;
  sha.update("png-pixels/1 " + std::to_string(width) + "x" + std::to_string(height) + " depth " + std::to_string(depth) +
             " color " + std::to_string(color) + " palette " + std::to_string(palette.size()) + " trns " +
             std::to_string(transparency.size()) + "\n");
  sha.update(palette);
  sha.update(transparency);
  sha.update(pixels);
  h.kind = "png";
  h.sha1 = sha.hex_digest();
  h.detail = std::to_string(width) + "x" + std::to_string(height) + " colour type " + std::to_string(color) + ", " +
             std::to_string(depth) + "-bit";
  return h;
}

}  // namespace

Result<HashedFile> hash_output_file(const std::string& path, const std::string& relative, HashMode mode) {
  WAN_ASSIGN_OR_RETURN(const std::string bytes, read_file(path));
  HashedFile h;
  h.file = relative;
  h.bytes = bytes.size();
  if (mode == HashMode::kAuto) {
    if (bytes.size() >= 9 && bytes.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0) return hash_png(path, bytes, h);
    if (bytes.compare(0, 10, "YUV4MPEG2 ") == 0) return hash_y4m(path, bytes, h);
    // safetensors: 8-byte little-endian header length, then a JSON object within the file.
    if (bytes.size() >= 10 && bytes[8] == '{') {
      uint64_t header = 0;
      for (int i = 7; i >= 0; --i) header = (header << 8) | static_cast<uint8_t>(bytes[i]);
      if (header >= 2 && header <= bytes.size() - 8) return hash_safetensors(path, h);
    }
  }
  h.kind = "raw";
  h.sha1 = sha1_hex(bytes.data(), bytes.size());
  h.detail = std::to_string(bytes.size()) + " bytes";
  return h;
}

Result<std::vector<HashedFile>> hash_outputs(const std::string& dir, const std::vector<std::string>& globs, HashMode mode) {
  for (const std::string& g : globs)
    if (g.empty() || g[0] == '/')
      return invalid_argument("--hash '" + g + "': give a pattern relative to the run directory ({run_dir}), e.g. 'latents.safetensors' or '*.png'");
  std::vector<std::string> files;
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec)) {
    for (auto it = std::filesystem::recursive_directory_iterator(dir, ec); !ec && it != std::filesystem::recursive_directory_iterator();
         it.increment(ec)) {
      if (it->is_regular_file(ec) && !it->is_symlink(ec))
        files.push_back(std::filesystem::relative(it->path(), dir, ec).string());
    }
  }
  if (ec) return unavailable("cannot list the run directory '" + dir + "': " + ec.message());
  std::sort(files.begin(), files.end());
  std::vector<HashedFile> out;
  std::set<std::string> matched_globs;
  for (const std::string& rel : files) {
    bool match = false;
    for (const std::string& g : globs)
      if (fnmatch(g.c_str(), rel.c_str(), 0) == 0) {
        match = true;
        matched_globs.insert(g);
      }
    if (!match) continue;
    WAN_ASSIGN_OR_RETURN(HashedFile h, hash_output_file(dir + "/" + rel, rel, mode));
    out.push_back(std::move(h));
  }
  for (const std::string& g : globs)
    if (!matched_globs.count(g))
      return not_found("the program wrote no file matching --hash '" + g + "' in " + dir);
  return out;
}

std::string combined_output_sha1(const std::vector<HashedFile>& files) {
  if (files.size() == 1) return files[0].sha1;
  std::string lines;
  for (const HashedFile& f : files) lines += f.file + "\t" + f.sha1 + "\n";
  return sha1_hex(lines.data(), lines.size());
}

}  // namespace wan
