#include "engine/attention/tiled_backend.h"

#include <cuda_runtime_api.h>

#include "kernels/common/cuda_check.h"

namespace wan {

TokenOrder tiled_token_order(const AttentionShape& shape, const int64_t (&tile)[3]) {
  TokenOrder order;
  order.tiled = true;
  (void)make_tile_layout(shape.frames, shape.height, shape.width, tile, &order.layout);
  return order;
}

Status check_tiled_self_attention(const AttentionShape& shape, std::string_view backend, const int64_t (&tile)[3]) {
  const std::string name(backend);
  if (!shape.frames || shape.q_tokens != shape.kv_tokens ||
      shape.frames * shape.height * shape.width != shape.q_tokens)
    return unimplemented(name + " attention serves self-attention over a video token grid; got " + shape.describe());
  if (shape.heads < 1 || shape.head_dim < 1 || shape.batch < 1)
    return invalid_argument("attention shape must be positive: " + shape.describe());
  TileLayout l;
  const std::string reason = make_tile_layout(shape.frames, shape.height, shape.width, tile, &l);
  if (!reason.empty()) return unimplemented(name + " attention: " + reason);
  return Status();
}

Status check_cuda_bf16(const AttentionShape& shape, std::string_view backend) {
  const std::string name(backend);
  if (!shape.device.is_cuda()) return unimplemented(name + " CUDA attention cannot run on " + shape.device.to_string());
  if (shape.precision != AttentionPrecision::kBf16) return unimplemented(name + " CUDA attention computes in bf16 only");
  return Status();
}

Status check_cuda_self_attention_shape(const AttentionShape& shape, std::string_view backend) {
  WAN_RETURN_IF_ERROR(check_cuda_bf16(shape, backend));
  return check_self_attention_sizes(shape, backend);
}

size_t tile_start_bytes(const TileLayout& layout) {
  return (static_cast<size_t>(layout.tile_count + 1) * 4 + 255) / 256 * 256;
}

Status upload_tile_start(const TileLayout& layout, void* device_dst, Stream stream) {
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  WAN_CUDA_CHECK(cudaMemcpyAsync(device_dst, layout.tile_start.data(), layout.tile_start.size() * 4,
                                 cudaMemcpyHostToDevice, s));
  WAN_CUDA_CHECK(cudaStreamSynchronize(s));  // the host vector may not outlive the copy otherwise
  return Status();
}

}  // namespace wan
