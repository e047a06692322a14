#include "harness/hashing.h"

#include <openssl/evp.h>

#include <cstdio>
#include <cstdlib>

namespace wan {

Sha1::Sha1() : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_ || EVP_DigestInit_ex(ctx_, EVP_sha1(), nullptr) != 1) {
    std::fprintf(stderr, "OpenSSL: cannot initialise SHA-1\n");
    std::abort();
  }
}

Sha1::~Sha1() { EVP_MD_CTX_free(ctx_); }

void Sha1::update(const void* data, size_t bytes) {
  if (bytes) EVP_DigestUpdate(ctx_, data, bytes);
}

std::string Sha1::hex_digest() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_, digest, &len);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  EVP_DigestInit_ex(ctx_, EVP_sha1(), nullptr);  // ready for reuse
  return out;
}

std::string sha1_hex(const void* data, size_t bytes) {
  Sha1 h;
  h.update(data, bytes);
  return h.hex_digest();
}

namespace {
std::string header(DType dtype, const Shape& shape) {
  std::string dims;
  for (size_t i = 0; i < shape.size(); ++i) dims += (i ? "," : "") + std::to_string(shape[i]);
  return "wan-tensor/1 dtype=" + std::string(dtype_name(dtype)) + " shape=[" + dims +
         "] layout=row-major\n";
}
}  // namespace

std::string canonical_tensor_header(const Tensor& t) { return header(t.dtype(), t.shape()); }

Result<std::string> sha1_tensor(const Tensor& t) {
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "canonical form is little-endian");
  Tensor host = t;
  if (!t.device().is_cpu() || !t.is_contiguous()) {
    WAN_ASSIGN_OR_RETURN(host, t.to(Device::cpu()));
  }
  Sha1 h;
  h.update(canonical_tensor_header(host));
  h.update(host.raw_data(), host.nbytes());
  return h.hex_digest();
}

std::string sha1_f32(const float* data, const Shape& shape) {
  Sha1 h;
  h.update(header(DType::kF32, shape));
  h.update(data, static_cast<size_t>(shape_numel(shape)) * sizeof(float));
  return h.hex_digest();
}

std::string sha1_frames(const VideoFrames& frames) {
  Sha1 h;
  h.update(canonical_frames_header(frames));
  h.update(frames.rgb.data(), frames.rgb.size());
  return h.hex_digest();
}

}  // namespace wan
