// SHA-1 through OpenSSL's EVP API, and the canonical byte form of a tensor that hashes are
// taken over: a header naming dtype, shape and layout, then the raw little-endian elements in
// row-major order. Equal hashes mean equal tensors (same dtype, shape and bytes), nothing less.
#pragma once

#include <cstddef>
#include <string>

#include "engine/core/status.h"
#include "engine/core/tensor.h"
#include "engine/vae/video_frames.h"

typedef struct evp_md_ctx_st EVP_MD_CTX;

namespace wan {

class Sha1 {
 public:
  Sha1();
  ~Sha1();
  // The EVP context is a unique resource; copying would free it twice.
  Sha1(const Sha1&) = delete;
  Sha1& operator=(const Sha1&) = delete;
  void update(const void* data, size_t bytes);
  void update(const std::string& s) { update(s.data(), s.size()); }
  std::string hex_digest();  // finishes the hash: 40 lowercase hex characters

 private:
  EVP_MD_CTX* ctx_;
};

std::string sha1_hex(const void* data, size_t bytes);

// "wan-tensor/1 dtype=f32 shape=[16,2,8,12] layout=row-major\n"
std::string canonical_tensor_header(const Tensor& t);
// SHA-1 of canonical_tensor_header + the elements (copied to the host and made contiguous
// when needed).
Result<std::string> sha1_tensor(const Tensor& t);
// SHA-1 of canonical_frames_header (engine/vae/video_frames.h) + the frames' rgb bytes: the
// decoded video's identity, independent of the container it is written to.
std::string sha1_frames(const VideoFrames& frames);
// Hashes a host f32 buffer viewed as a tensor of `shape` without copying.
std::string sha1_f32(const float* data, const Shape& shape);

}  // namespace wan
