// Safetensors reader (mmap + header validation), Checkpoint path resolution (file, index json,
// directory, diffusers transformer/ subfolder) and the atomic writer. See safetensors.h.
// Every error names the file and, where one is involved, the tensor.
#include "engine/model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <tuple>

#include <nlohmann/json.hpp>

#include "engine/core/file_reader.h"
#include "engine/core/json_reader.h"

namespace wan {

// Tensors are views of the file's bytes as they are.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors data is little-endian");

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr size_t kHeaderLengthBytes = 8;  // u64 little-endian length of the JSON header
constexpr size_t kHeaderAlignment = 8;    // writers pad the JSON with spaces to this multiple
constexpr char kMetadataKey[] = "__metadata__";
constexpr char kSupportedDTypes[] = "F32, BF16, F16, I32, I64, U8";
constexpr size_t kSuggestions = 3;  // closest names listed for a missing tensor
// Python safetensors refuses headers above 100 MB; a 1.3B checkpoint's header is ~100 KB.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

// Thrown from the header parser callback at the first structural problem.
struct HeaderProblem {
  std::string what;
};

struct SafetensorsDType {
  const char* name;
  size_t size;
  std::optional<DType> dtype;  // empty: a valid safetensors dtype with no engine DType
};

// Every byte-sized dtype of the safetensors spec; sub-byte ones (F4, F6_*) count as unknown.
constexpr SafetensorsDType kDTypes[] = {
    {"F32", 4, DType::kF32},      {"BF16", 2, DType::kBF16},    {"F16", 2, DType::kF16},
    {"I32", 4, DType::kI32},      {"I64", 8, DType::kI64},      {"U8", 1, DType::kU8},
    {"F64", 8, std::nullopt},     {"I8", 1, std::nullopt},      {"I16", 2, std::nullopt},
    {"U16", 2, std::nullopt},     {"U32", 4, std::nullopt},     {"U64", 8, std::nullopt},
    {"BOOL", 1, std::nullopt},    {"F8_E4M3", 1, std::nullopt}, {"F8_E5M2", 1, std::nullopt},
    {"F8_E8M0", 1, std::nullopt},
};

const SafetensorsDType* find_dtype(const std::string& name) {
  for (const SafetensorsDType& d : kDTypes) {
    if (name == d.name) return &d;
  }
  return nullptr;
}

const char* safetensors_dtype_name(DType dtype) {
  for (const SafetensorsDType& d : kDTypes) {
    if (d.dtype == dtype) return d.name;
  }
  return "?";
}

std::string in_quotes(const std::string& name) { return "'" + name + "'"; }

// An errno failure on `what` ("cannot open /x/model.safetensors: No such file or directory").
Status io_error(int err, const std::string& what) {
  std::string message = what + ": " + std::strerror(err);
  switch (err) {
    case ENOENT:
    case ENOTDIR: return not_found(std::move(message));
    case ENOSPC:
    case EDQUOT: return resource_exhausted(std::move(message));
    default: return failed_precondition(std::move(message));
  }
}

uint64_t read_le64(const char* p) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i)
    v |= static_cast<uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

std::string le64_bytes(uint64_t v) {
  std::string out(8, '\0');
  for (size_t i = 0; i < 8; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return out;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

size_t common_suffix(const std::string& a, const std::string& b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[a.size() - 1 - n] == b[b.size() - 1 - n]) ++n;
  return n;
}

// "<where>: no tensor 'x' among 812; closest: 'a', 'b', 'c'": ranked by edit distance, then
// by the longest common suffix (same ".weight"/".bias" and layer role).
Status missing_tensor(const std::string& where, const std::string& name,
                      const std::vector<std::string>& names) {
  std::string message = where + ": no tensor " + in_quotes(name);
  if (names.empty()) return not_found(message + "; it holds no tensors");
  std::vector<std::tuple<size_t, size_t, const std::string*>> ranked;
  ranked.reserve(names.size());
  for (const std::string& n : names) {
    ranked.emplace_back(edit_distance(name, n),
                        std::numeric_limits<size_t>::max() - common_suffix(name, n), &n);
  }
  const size_t shown = std::min(kSuggestions, ranked.size());
  std::partial_sort(ranked.begin(), ranked.begin() + shown, ranked.end());
  message += " among " + std::to_string(names.size()) + "; closest: ";
  for (size_t i = 0; i < shown; ++i)
    message += (i ? ", " : "") + in_quotes(*std::get<2>(ranked[i]));
  return not_found(message);
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

// ---- MappedFile ----

class MappedFile {
 public:
  static Result<std::shared_ptr<const MappedFile>> map(const std::string& path) {
    // O_NONBLOCK: a FIFO must not block the open; fstat below refuses it.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return io_error(errno, "cannot open " + path);
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int err = errno;
      ::close(fd);
      return io_error(err, "cannot stat " + path);
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd);
      return invalid_argument(path +
                              (S_ISDIR(st.st_mode) ? " is a directory" : " is not a regular file") +
                              "; pass a .safetensors file (Checkpoint::open takes directories)");
    }
    const size_t size = static_cast<size_t>(st.st_size);
    void* data = nullptr;
    if (size > 0) {  // mmap of 0 bytes fails; an empty file maps to nothing
      data = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
      if (data == MAP_FAILED) {
        const int err = errno;
        ::close(fd);
        return io_error(err, "cannot mmap " + path);
      }
    }
    ::close(fd);  // the mapping stays valid without the descriptor
    return std::shared_ptr<const MappedFile>(new MappedFile(data, size));
  }
  ~MappedFile() {
    if (data_ != nullptr) ::munmap(data_, size_);
  }
  // Copying would munmap twice; share through shared_ptr.
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const char* data() const { return static_cast<const char*>(data_); }
  size_t size() const { return size_; }

 private:
  MappedFile(void* data, size_t size) : data_(data), size_(size) {}
  void* data_;
  size_t size_;
};

// ---- SafetensorsFile ----

Result<std::shared_ptr<SafetensorsFile>> SafetensorsFile::open(const std::string& path) {
  WAN_ASSIGN_OR_RETURN(std::shared_ptr<const MappedFile> mapping, MappedFile::map(path));
  const size_t size = mapping->size();
  if (size < kHeaderLengthBytes) {
    return data_loss(path + ": file is " + std::to_string(size) +
                     " bytes, shorter than the 8-byte header length; it is truncated or not a "
                     "safetensors file");
  }
  const uint64_t header_bytes = read_le64(mapping->data());
  if (header_bytes > size - kHeaderLengthBytes) {
    return data_loss(path + ": header length " + std::to_string(header_bytes) +
                     " is past the end of the file (" + std::to_string(size) +
                     " bytes); it is truncated or not a safetensors file");
  }
  if (header_bytes > kMaxHeaderBytes) {
    return data_loss(path + ": header length " + std::to_string(header_bytes) + " is above the " +
                     std::to_string(kMaxHeaderBytes) +
                     " bytes any safetensors writer produces; the file is corrupt or not a safetensors file");
  }
  auto file = std::shared_ptr<SafetensorsFile>(new SafetensorsFile());
  file->path_ = path;
  file->data_start_ = kHeaderLengthBytes + header_bytes;
  WAN_RETURN_IF_ERROR(file->parse_header(mapping->data() + kHeaderLengthBytes, header_bytes,
                                         size - file->data_start_));
  file->mapping_ = std::move(mapping);
  return file;
}

std::string SafetensorsFile::parse_entry(const json& value, size_t data_bytes, Entry* entry) {
  if (!value.is_object()) {
    return std::string("entry is a JSON ") + value.type_name() +
           ", not an object {\"dtype\", \"shape\", \"data_offsets\"}";
  }
  for (const char* field : {"dtype", "shape", "data_offsets"}) {
    if (!value.contains(field)) return std::string("entry has no \"") + field + "\"";
  }
  const json& dtype = value.at("dtype");
  if (!dtype.is_string()) {
    return std::string("\"dtype\" is a JSON ") + dtype.type_name() + ", not a string";
  }
  entry->dtype_name = dtype.get<std::string>();
  const SafetensorsDType* known = find_dtype(entry->dtype_name);
  if (known == nullptr) {
    return "unknown dtype \"" + entry->dtype_name + "\"; supported: " + kSupportedDTypes;
  }
  entry->dtype = known->dtype;

  const json& shape = value.at("shape");
  const std::string bad_shape =
      "\"shape\" must be an array of non-negative integers, got " + shape.dump();
  if (!shape.is_array()) return bad_shape;
  for (const json& d : shape) {
    if (!d.is_number_unsigned()) return bad_shape;
    const uint64_t dim = d.get<uint64_t>();
    if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return "\"shape\" " + shape.dump() + " has more elements than fit in 64 bits";
    }
    entry->shape.push_back(static_cast<int64_t>(dim));
  }
  // Also for zero-element tensors: the strides multiply out the other dimensions.
  const Result<int64_t> counted = checked_shape_numel(entry->shape);
  if (!counted.ok()) return "\"shape\" " + shape.dump() + " has more elements than fit in 64 bits";
  const uint64_t numel = static_cast<uint64_t>(counted.value());
  uint64_t nbytes = 0;
  if (__builtin_mul_overflow(numel, known->size, &nbytes)) {
    return "\"shape\" " + shape.dump() + " has more bytes than fit in 64 bits";
  }

  const json& offsets = value.at("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned()) {
    return "\"data_offsets\" must be [begin, end] with non-negative integers, got " +
           offsets.dump();
  }
  const uint64_t begin = offsets[0].get<uint64_t>(), end = offsets[1].get<uint64_t>();
  if (end < begin) return "data_offsets " + offsets.dump() + " end before they begin";
  if (end > data_bytes) {
    return "data_offsets " + offsets.dump() + " run past the end of the data section (" +
           std::to_string(data_bytes) +
           " bytes after the header): the file is truncated or the offsets are corrupt";
  }
  if (end - begin != nbytes) {
    return "data_offsets " + offsets.dump() + " hold " + std::to_string(end - begin) +
           " bytes but " + entry->dtype_name + shape_to_string(entry->shape) + " needs " +
           std::to_string(nbytes) + " (" + std::to_string(numel) + " elements x " +
           std::to_string(known->size) + " bytes)";
  }
  entry->begin = static_cast<size_t>(begin);
  entry->end = static_cast<size_t>(end);
  return "";
}

Status SafetensorsFile::parse_header(const char* text, size_t text_bytes, size_t data_bytes) {
  // nlohmann keeps the last of duplicate keys silently; a duplicate tensor name is corruption.
  std::set<std::string> seen;
  std::string duplicate;
  const json::parser_callback_t on_event = [&](int depth, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::key && depth == 1 &&
        !seen.insert(parsed.get<std::string>()).second && duplicate.empty()) {
      duplicate = parsed.get<std::string>();
    }
    // `depth` counts the containers open around this one; a header nests 3 deep.
    if ((event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) &&
        depth + 1 > kMaxJsonDepth) {
      throw HeaderProblem{"nests deeper than " + std::to_string(kMaxJsonDepth) + " levels"};
    }
    return true;
  };
  json header;
  try {
    header = json::parse(text, text + text_bytes, on_event);
  } catch (const HeaderProblem& e) {
    return data_loss(path_ + ": header is not valid: it " + e.what);
  } catch (const json::exception& e) {
    // parse_error and out_of_range alike (a number beyond a double, 1e400, is out_of_range).
    return data_loss(path_ + ": header is not valid JSON: " + e.what());
  }
  if (!header.is_object()) {
    return data_loss(path_ + ": header is a JSON " + header.type_name() +
                     ", not an object {name: {dtype, shape, data_offsets}}");
  }
  if (!duplicate.empty()) {
    return data_loss(path_ + ": header lists tensor " + in_quotes(duplicate) + " more than once");
  }

  for (const auto& [name, value] : header.items()) {
    if (name == kMetadataKey) {
      if (!value.is_object()) {
        return data_loss(path_ + ": \"__metadata__\" is a JSON " + value.type_name() +
                         ", not an object of strings");
      }
      for (const auto& [key, text_value] : value.items()) {
        if (!text_value.is_string()) {
          return data_loss(path_ + ": \"__metadata__\" entry " + in_quotes(key) + " is a JSON " +
                           text_value.type_name() + ", not a string");
        }
        metadata_[key] = text_value.get<std::string>();
      }
      continue;
    }
    Entry entry;
    const std::string problem = parse_entry(value, data_bytes, &entry);
    if (!problem.empty()) return data_loss(path_ + ": tensor " + in_quotes(name) + ": " + problem);
    entries_.emplace(name, std::move(entry));
  }

  // Overlaps: sorted by begin, each non-empty tensor must start at or after the furthest end
  // so far.
  std::vector<std::pair<const std::string*, const Entry*>> by_offset;
  for (const auto& [name, entry] : entries_) {
    if (entry.end > entry.begin) by_offset.emplace_back(&name, &entry);
  }
  std::sort(by_offset.begin(), by_offset.end(), [](const auto& a, const auto& b) {
    return std::tie(a.second->begin, a.second->end) < std::tie(b.second->begin, b.second->end);
  });
  const std::pair<const std::string*, const Entry*>* furthest = nullptr;
  size_t covered = 0;  // the data section must be tiled exactly: no gaps, no trailing bytes
  for (const auto& item : by_offset) {
    if (item.second->begin > covered) {
      return data_loss(path_ + ": bytes [" + std::to_string(covered) + ", " + std::to_string(item.second->begin) +
                       ") of the data section belong to no tensor (before " + in_quotes(*item.first) +
                       "); the offsets are corrupt");
    }
    covered = std::max(covered, item.second->end);
    if (furthest != nullptr && item.second->begin < furthest->second->end) {
      const auto range = [](const Entry* e) {
        return "[" + std::to_string(e->begin) + ", " + std::to_string(e->end) + ")";
      };
      return data_loss(path_ + ": tensors " + in_quotes(*furthest->first) + " " +
                       range(furthest->second) + " and " + in_quotes(*item.first) + " " +
                       range(item.second) + " overlap");
    }
    if (furthest == nullptr || item.second->end > furthest->second->end) furthest = &item;
  }
  if (covered != data_bytes) {
    return data_loss(path_ + ": " + std::to_string(data_bytes - covered) +
                     " bytes after the last tensor belong to no tensor (data section " +
                     std::to_string(data_bytes) + " bytes, tensors end at " + std::to_string(covered) +
                     "); the file is corrupt or was appended to");
  }
  return Status();
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& [name, entry] : entries_) out.push_back(name);
  return out;
}

Result<TensorInfo> SafetensorsFile::info(const std::string& name) const {
  const auto it = entries_.find(name);
  if (it == entries_.end()) return missing_tensor(path_, name, names());
  const Entry& entry = it->second;
  if (!entry.dtype) {
    return unimplemented(path_ + ": tensor " + in_quotes(name) + " has dtype " + entry.dtype_name +
                         ", which this engine does not support (supported: " + kSupportedDTypes +
                         "); convert the checkpoint");
  }
  return TensorInfo{*entry.dtype, entry.shape, entry.end - entry.begin};
}

Result<Tensor> SafetensorsFile::tensor(const std::string& name) const {
  WAN_ASSIGN_OR_RETURN(const TensorInfo info, this->info(name));
  const char* bytes = mapping_->data() + data_start_ + entries_.at(name).begin;
  if (reinterpret_cast<uintptr_t>(bytes) % dtype_size(info.dtype) != 0) {
    // Typed access needs natural alignment: copy into an owned (64-byte aligned) tensor.
    WAN_ASSIGN_OR_RETURN(Tensor copy, Tensor::empty(info.shape, info.dtype));
    if (info.nbytes > 0) std::memcpy(copy.raw_data(), bytes, info.nbytes);
    return copy;
  }
  // One Storage per tensor, holding a reference to the mapping until the last view goes.
  auto storage = Storage::adopt(const_cast<char*>(bytes), info.nbytes, Device::cpu(),
                                [mapping = mapping_]() mutable { mapping.reset(); });
  return Tensor::view_of(std::move(storage), info.shape, info.dtype);
}

// ---- Checkpoint ----

namespace {

// The file a checkpoint directory stands for: its only *.safetensors.index.json, else its only
// *.safetensors, else the same inside transformer/ (diffusers pipeline layout).
Result<std::string> resolve_directory(const fs::path& dir) {
  std::vector<std::string> indexes, files;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    const bool candidate = ends_with(name, ".safetensors.index.json") || ends_with(name, ".safetensors");
    std::error_code entry_ec;  // one entry's failure is not the listing's
    if (candidate && e.is_symlink(entry_ec) && !fs::exists(e.path(), entry_ec)) {
      return not_found(e.path().string() + " is a symbolic link to a missing file (" +
                       fs::read_symlink(e.path(), entry_ec).string() + "); fix or remove the link");
    }
    if (!e.is_regular_file(entry_ec)) continue;
    if (ends_with(name, ".safetensors.index.json")) indexes.push_back(e.path().string());
    if (ends_with(name, ".safetensors")) files.push_back(e.path().string());
  }
  if (ec) return io_error(ec.value(), "cannot list " + dir.string());
  std::sort(indexes.begin(), indexes.end());
  std::sort(files.begin(), files.end());
  const auto list = [](const std::vector<std::string>& paths) {
    std::string out;
    for (const std::string& p : paths)
      out += (out.empty() ? "" : ", ") + fs::path(p).filename().string();
    return out;
  };
  if (indexes.size() == 1) return indexes[0];
  if (indexes.size() > 1) {
    return invalid_argument(dir.string() + " holds several index files (" + list(indexes) +
                            "); pass the one to load");
  }
  if (files.size() == 1) return files[0];
  if (files.size() > 1) {
    return invalid_argument(dir.string() + " holds " + std::to_string(files.size()) +
                            " .safetensors files (" + list(files) +
                            ") and no *.safetensors.index.json; pass the file to load");
  }
  if (fs::is_directory(dir / "transformer", ec)) return resolve_directory(dir / "transformer");
  return not_found(dir.string() +
                   " holds no .safetensors file, no *.safetensors.index.json and no transformer/ "
                   "subfolder");
}

}  // namespace

Result<Checkpoint> Checkpoint::open(const std::string& path) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (!fs::exists(status)) {
    return not_found("checkpoint " + path + " does not exist" +
                     (ec ? " (" + ec.message() + ")" : ""));
  }
  if (fs::is_directory(status)) {
    WAN_ASSIGN_OR_RETURN(const std::string resolved, resolve_directory(path));
    return ends_with(resolved, ".json") ? open_index(resolved) : open_file(resolved);
  }
  return ends_with(path, ".json") ? open_index(path) : open_file(path);
}

Result<Checkpoint> Checkpoint::open_file(const std::string& path) {
  WAN_ASSIGN_OR_RETURN(std::shared_ptr<SafetensorsFile> file, SafetensorsFile::open(path));
  Checkpoint checkpoint;
  checkpoint.path_ = path;
  for (const std::string& name : file->names()) checkpoint.shard_of_[name] = 0;
  checkpoint.shards_.push_back(std::move(file));
  return checkpoint;
}

Result<Checkpoint> Checkpoint::open_index(const std::string& path) {
  auto text = read_file(path);  // regular files only: a FIFO is refused, not waited on
  if (!text.ok()) return text.status().with_context("index " + path);
  const JsonSource source{path + ": index", "restore the checkpoint's index file"};
  WAN_ASSIGN_OR_RETURN(const json index, parse_json(text.value(), source));
  if (!index.is_object() || !index.contains("weight_map") || !index.at("weight_map").is_object()) {
    return data_loss(path + ": index has no \"weight_map\" object {tensor name: shard file}");
  }

  Checkpoint checkpoint;
  checkpoint.path_ = path;
  const fs::path dir = fs::path(path).parent_path();
  std::map<std::string, size_t> shard_by_path;
  for (const auto& [name, file] : index.at("weight_map").items()) {
    if (!file.is_string()) {
      return data_loss(path + ": weight_map entry for tensor " + in_quotes(name) + " is a JSON " +
                       file.type_name() + ", not a shard file name");
    }
    const std::string shard_name = file.get<std::string>();
    // A shard is a file beside the index: never an absolute path or one that climbs out.
    if (shard_name.empty() || shard_name.find('/') != std::string::npos || shard_name == "." || shard_name == "..") {
      return data_loss(path + ": weight_map entry for tensor " + in_quotes(name) + " names shard " +
                       in_quotes(shard_name) + "; shards must be plain file names in the index's directory");
    }
    const std::string shard_path = (dir / shard_name).lexically_normal().string();
    auto it = shard_by_path.find(shard_path);
    if (it == shard_by_path.end()) {
      Result<std::shared_ptr<SafetensorsFile>> shard = SafetensorsFile::open(shard_path);
      if (!shard.ok()) {
        return shard.status().with_context(path + ": shard " + in_quotes(shard_name) +
                                           " (holding tensor " + in_quotes(name) + ")");
      }
      it = shard_by_path.emplace(shard_path, checkpoint.shards_.size()).first;
      checkpoint.shards_.push_back(std::move(shard).value());
    }
    if (!checkpoint.shards_[it->second]->has(name)) {
      return data_loss(path + ": weight_map puts tensor " + in_quotes(name) + " in shard " +
                       in_quotes(shard_name) + ", which does not contain it");
    }
    checkpoint.shard_of_[name] = it->second;
  }

  // A tensor stored in two shards is ambiguous even if the index picks one.
  std::map<std::string, size_t> holder;
  for (size_t s = 0; s < checkpoint.shards_.size(); ++s) {
    for (const std::string& name : checkpoint.shards_[s]->names()) {
      const auto [it, inserted] = holder.emplace(name, s);
      if (!inserted) {
        return data_loss(path + ": tensor " + in_quotes(name) + " is in two shards, " +
                         in_quotes(checkpoint.shards_[it->second]->path()) + " and " +
                         in_quotes(checkpoint.shards_[s]->path()));
      }
    }
  }
  return checkpoint;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(shard_of_.size());
  for (const auto& [name, shard] : shard_of_) out.push_back(name);
  return out;
}

Status Checkpoint::not_found_error(const std::string& name) const {
  return missing_tensor(path_, name, names());
}

Result<TensorInfo> Checkpoint::info(const std::string& name) const {
  const auto it = shard_of_.find(name);
  if (it == shard_of_.end()) return not_found_error(name);
  return shards_[it->second]->info(name);
}

Result<std::map<std::string, std::string>> Checkpoint::canonical_keys(
    const std::function<std::string(const std::string&)>& canonical) const {
  std::map<std::string, std::string> keys;
  for (const std::string& key : names()) {
    const std::string name = canonical(key);
    if (name.empty()) continue;
    const auto [it, inserted] = keys.emplace(name, key);
    // Both layouts' names for one weight: which one is meant is not ours to guess.
    if (!inserted)
      return data_loss("checkpoint '" + path_ + "' holds '" + it->second + "' and '" + key +
                       "', the diffusers and original-Wan names of one weight; keep one layout");
  }
  return keys;
}

Result<Tensor> Checkpoint::tensor(const std::string& name) const {
  const auto it = shard_of_.find(name);
  if (it == shard_of_.end()) return not_found_error(name);
  return shards_[it->second]->tensor(name);
}

// ---- Writer ----

namespace {

// Python safetensors' header: compact, "__metadata__" first, then tensors in data order with
// fields dtype, shape, data_offsets; spaces up to a multiple of 8 bytes.
Result<std::string> build_header(const std::string& path,
                                 const std::vector<std::pair<std::string, Tensor>>& tensors,
                                 const std::map<std::string, std::string>& metadata) {
  std::string out = "{";
  try {
    if (!metadata.empty()) out += std::string("\"") + kMetadataKey + "\":" + json(metadata).dump();
    size_t offset = 0;
    for (const auto& [name, tensor] : tensors) {
      if (out.size() > 1) out += ',';
      out += json(name).dump() + ":{\"dtype\":\"" + safetensors_dtype_name(tensor.dtype()) +
             "\",\"shape\":[";
      for (int64_t d = 0; d < tensor.dim(); ++d)
        out += (d ? "," : "") + std::to_string(tensor.size(d));
      out += "],\"data_offsets\":[" + std::to_string(offset) + "," +
             std::to_string(offset + tensor.nbytes()) + "]}";
      offset += tensor.nbytes();
    }
  } catch (const json::type_error& e) {  // strings must be valid UTF-8
    return invalid_argument(path +
                            ": a tensor name or metadata string is not valid UTF-8: " + e.what());
  }
  out += '}';
  out.append((kHeaderAlignment - out.size() % kHeaderAlignment) % kHeaderAlignment, ' ');
  return out;
}

// The temporary file of an atomic write: closed and removed on destruction unless committed.
class TempFile {
 public:
  TempFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
  }
  // Copying would close and unlink twice.
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  Status write(const char* data, size_t bytes) {
    while (bytes > 0) {
      const ssize_t n = ::write(fd_, data, bytes);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return io_error(errno, "cannot write " + path_);
      data += n;
      bytes -= static_cast<size_t>(n);
    }
    return Status();
  }
  // fsync, close, rename over `target`.
  Status commit(const std::string& target) {
    if (::fsync(fd_) != 0) return io_error(errno, "cannot fsync " + path_);
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) return io_error(errno, "cannot close " + path_);
    if (std::rename(path_.c_str(), target.c_str()) != 0) {
      return io_error(errno, "cannot rename " + path_ + " to " + target);
    }
    committed_ = true;
    return Status();
  }

 private:
  std::string path_;
  int fd_;
  bool committed_ = false;
};

// Makes a finished rename durable; best effort (some filesystems refuse fsync on directories).
void sync_directory(const std::string& file_path) {
  std::string dir = fs::path(file_path).parent_path().string();
  if (dir.empty()) dir = ".";
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

Status write_safetensors(const std::string& path,
                         const std::vector<std::pair<std::string, Tensor>>& tensors,
                         const std::map<std::string, std::string>& metadata) {
  std::set<std::string> seen;
  for (const auto& [name, tensor] : tensors) {
    if (name == kMetadataKey) {
      return invalid_argument(
          path + ": tensor name \"__metadata__\" is reserved for the metadata map; rename it");
    }
    if (!seen.insert(name).second) {
      return invalid_argument(path + ": tensor " + in_quotes(name) +
                              " is given twice; names must be unique");
    }
    if (!tensor.defined()) {
      return invalid_argument(path + ": tensor " + in_quotes(name) + " is undefined");
    }
    if (!tensor.device().is_cpu()) {
      return invalid_argument(path + ": tensor " + in_quotes(name) + " is " + tensor.describe() +
                              "; copy it to the CPU first (tensor.to(Device::cpu()))");
    }
  }
  WAN_ASSIGN_OR_RETURN(const std::string header, build_header(path, tensors, metadata));

  const std::string temp_path = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return io_error(errno, "cannot create " + temp_path);
  TempFile temp(temp_path, fd);
  const std::string length = le64_bytes(header.size());
  WAN_RETURN_IF_ERROR(temp.write(length.data(), length.size()));
  WAN_RETURN_IF_ERROR(temp.write(header.data(), header.size()));
  for (const auto& [name, tensor] : tensors) {
    if (tensor.numel() == 0) continue;
    if (tensor.is_contiguous()) {
      WAN_RETURN_IF_ERROR(temp.write(static_cast<const char*>(tensor.raw_data()), tensor.nbytes()));
    } else {
      WAN_ASSIGN_OR_RETURN(const Tensor packed, tensor.clone());
      WAN_RETURN_IF_ERROR(temp.write(static_cast<const char*>(packed.raw_data()), packed.nbytes()));
    }
  }
  WAN_RETURN_IF_ERROR(temp.commit(path));
  sync_directory(path);
  return Status();
}

}  // namespace wan
