#include <string>

#include "engine/attention/attention_backend.h"
#include "engine/attention/dense_cpu.h"
#include "engine/attention/dense_cuda.h"

namespace wan {

std::string AttentionShape::describe() const {
  std::string s = "batch " + std::to_string(batch) + ", heads " + std::to_string(heads) +
                  ", head_dim " + std::to_string(head_dim) + ", q_tokens " +
                  std::to_string(q_tokens) + ", kv_tokens " + std::to_string(kv_tokens);
  if (frames) {
    s += ", grid " + std::to_string(frames) + "x" + std::to_string(height) + "x" +
         std::to_string(width);
  }
  return s + " on " + device.to_string();
}

Result<AttentionBackendKind> parse_attention_backend(std::string_view name) {
  if (name == "dense") return AttentionBackendKind::kDense;
  return not_found("unknown attention backend '" + std::string(name) +
                   "'; available in this build: dense");
}

std::string_view attention_backend_name(AttentionBackendKind kind) {
  switch (kind) {
    case AttentionBackendKind::kDense: return "dense";
  }
  return "?";
}

Result<std::unique_ptr<AttentionBackend>> make_attention_backend(AttentionBackendKind kind,
                                                                 Device device) {
  switch (kind) {
    case AttentionBackendKind::kDense:
      if (device.is_cpu()) return std::unique_ptr<AttentionBackend>(new DenseCpuAttention());
      return std::unique_ptr<AttentionBackend>(new DenseCudaAttention());
  }
  return internal_error("unhandled attention backend kind");
}

}  // namespace wan
