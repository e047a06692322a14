// Safetensors checkpoints: a memory-mapped reader (zero-copy CPU tensors), a Checkpoint over
// one file, a directory or a sharded checkpoint with an index json, and an atomic writer.
// Format: 8-byte little-endian header length N, N bytes of JSON
// {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}, then
// raw little-endian data (offsets relative to its start). Host only: no device copies here.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "engine/core/dtype.h"
#include "engine/core/status.h"
#include "engine/core/tensor.h"

namespace wan {

struct TensorInfo {
  DType dtype = DType::kF32;
  Shape shape;
  size_t nbytes = 0;  // numel * dtype_size(dtype), as the file's data_offsets say
};

class MappedFile;  // read-only mmap of a whole file, defined in safetensors.cc

// One .safetensors file, mapped read-only. The whole header is validated at open(): every
// entry's dtype, shape and data_offsets (in range, size == numel * dtype size, no overlaps).
// Tensors are views into the mapping and keep it alive, so they may outlive this object.
class SafetensorsFile {
 public:
  // Errors: NOT_FOUND (no such file), FAILED_PRECONDITION (unreadable, with errno text),
  // INVALID_ARGUMENT (a directory), DATA_LOSS (corrupt or truncated: names the file, the tensor
  // and what is wrong).
  static Result<std::shared_ptr<SafetensorsFile>> open(const std::string& path);

  const std::string& path() const { return path_; }
  std::vector<std::string> names() const;  // sorted
  bool has(const std::string& name) const { return entries_.count(name) != 0; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // NOT_FOUND (with the closest names) for a missing tensor; UNIMPLEMENTED for a valid
  // safetensors dtype this engine has no DType for (F64, I8, F8_E4M3, ...).
  Result<TensorInfo> info(const std::string& name) const;
  // A contiguous CPU tensor. Zero-copy when the data is aligned to the element size (always
  // so for files this writer or Python's safetensors wrote): such a tensor is READ-ONLY
  // (writing faults); clone() it to modify. Unaligned data is copied into an owned tensor.
  Result<Tensor> tensor(const std::string& name) const;

 private:
  struct Entry {
    std::string dtype_name;      // as in the file: "BF16"
    std::optional<DType> dtype;  // empty for valid safetensors dtypes we do not support
    Shape shape;
    size_t begin = 0, end = 0;   // relative to the data section
  };
  SafetensorsFile() = default;
  Status parse_header(const char* text, size_t text_bytes, size_t data_bytes);
  // Fills `entry` from one header value; returns what is wrong with it, or "" if nothing.
  static std::string parse_entry(const nlohmann::json& value, size_t data_bytes, Entry* entry);

  std::string path_;
  std::shared_ptr<const MappedFile> mapping_;
  size_t data_start_ = 0;  // 8 + header length
  std::map<std::string, Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

// A model's weights: one .safetensors file, an index json ({"weight_map": {name: shard}},
// as diffusers' diffusion_pytorch_model.safetensors.index.json or model.safetensors.index.json),
// or a directory holding either (an index is preferred; a lone transformer/ subfolder, the
// diffusers pipeline layout, is followed). Copies share the mapped files.
class Checkpoint {
 public:
  // Opens every shard and validates its header. Errors: NOT_FOUND (path, or a shard the index
  // names, or a directory with no checkpoint), INVALID_ARGUMENT (a directory with several
  // candidates: pass one), DATA_LOSS (corrupt file or index, a tensor in two shards, an index
  // entry its shard lacks).
  static Result<Checkpoint> open(const std::string& path);

  const std::string& path() const { return path_; }  // the file or index actually opened
  std::vector<std::string> names() const;            // sorted, across all shards
  bool has(const std::string& name) const { return shard_of_.count(name) != 0; }
  Result<TensorInfo> info(const std::string& name) const;
  Result<Tensor> tensor(const std::string& name) const;  // see SafetensorsFile::tensor
  // canonical name -> this checkpoint's key, for every key `canonical` maps ("" skips it).
  // DATA_LOSS when two keys map to one name (a file holding both layouts' names of a weight).
  Result<std::map<std::string, std::string>> canonical_keys(
      const std::function<std::string(const std::string&)>& canonical) const;

 private:
  Checkpoint() = default;
  static Result<Checkpoint> open_file(const std::string& path);
  static Result<Checkpoint> open_index(const std::string& path);
  Status not_found_error(const std::string& name) const;

  std::string path_;
  std::vector<std::shared_ptr<SafetensorsFile>> shards_;
  std::map<std::string, size_t> shard_of_;  // tensor name -> index into shards_
};

// Writes CPU tensors (any strides; written as contiguous bytes) in the order given, with
// contiguous data_offsets. Header: compact JSON, "__metadata__" first (omitted when empty, keys
// sorted), then each tensor as {"dtype","shape","data_offsets"}, padded with spaces to a
// multiple of 8 bytes. That is Python safetensors' layout: tensors given sorted by its dtype
// order (I64, F32, I32, BF16, F16, U8) then by name produce a byte-identical file.
// Atomic: writes path + ".tmp.<pid>", fsyncs, renames over path; on failure path is untouched
// and the temporary is removed. Errors: INVALID_ARGUMENT (duplicate or reserved name, an
// undefined or non-CPU tensor), NOT_FOUND (directory missing), RESOURCE_EXHAUSTED (disk full),
// FAILED_PRECONDITION (other I/O failures, with errno text).
Status write_safetensors(const std::string& path,
                         const std::vector<std::pair<std::string, Tensor>>& tensors,
                         const std::map<std::string, std::string>& metadata = {});

}  // namespace wan
