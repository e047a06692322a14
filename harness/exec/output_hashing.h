// Hashes of the files a program wrote (`repro exec --hash GLOB`), each in a canonical form so
// that equal hashes mean equal content and nothing else:
//   - safetensors: every tensor in the engine's canonical tensor form (harness/hashing.h), with
//     leading dimensions of size 1 dropped (a batch of one), so a program that saves its
//     latents [1, 16, F, H, W] hashes exactly as `repro run` hashes its latents [16, F, H, W];
//     one tensor: the file's hash is the tensor's; several: SHA-1 over "name<TAB>sha1\n" in
//     name order. The header's metadata and tensor order do not count.
//   - Y4M: the pixel planes of every frame and the geometry/colour space, not the header's
//     other tags or the FRAME lines' parameters.
//   - PNG: the decoded (unfiltered) pixel rows, geometry, bit depth, colour type and palette;
//     not the compression, text, time or other ancillary chunks. CRCs are checked.
//   - anything else, or --hash-mode raw: the file's bytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/core/status.h"

namespace wan {

enum class HashMode { kAuto, kRaw };

struct HashedFile {
  std::string file;    // relative to the run directory
  std::string kind;    // "safetensors", "y4m", "png" or "raw"
  std::string sha1;
  uint64_t bytes = 0;  // file size
  std::string detail;  // what was hashed ("latents BF16 [1,4096,1024]", "81 frames 832x480 C444")
};

// One file in the given mode (auto: by content, not by name). Errors: DATA_LOSS for a file
// whose content is not the format its header claims (truncated safetensors, bad PNG CRC),
// UNIMPLEMENTED for a format variant not covered (interlaced PNG, an unsupported tensor dtype:
// the message says to pass --hash-mode raw).
Result<HashedFile> hash_output_file(const std::string& path, const std::string& relative, HashMode mode);

// Every regular file under `dir` whose path relative to `dir` matches one of `globs`
// (fnmatch, '*' also matches '/'), in path order. Globs must be relative. A glob that matches
// nothing is an error (NOT_FOUND: the program wrote no such file).
Result<std::vector<HashedFile>> hash_outputs(const std::string& dir, const std::vector<std::string>& globs,
                                             HashMode mode);

// The run's output hash: the one file's hash, or SHA-1 over "file<TAB>sha1\n" in path order.
std::string combined_output_sha1(const std::vector<HashedFile>& files);

}  // namespace wan
