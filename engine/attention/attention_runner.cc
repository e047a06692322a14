#include "engine/attention/attention_runner.h"

#include <tuple>

#include <chrono>

#include <cuda_runtime_api.h>

#include "kernels/common/cuda_check.h"
#include "kernels/common/float16.h"

namespace wan {
namespace {

float value_at(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::kF32: return t.data<float>()[i];
    case DType::kBF16: return t.data<BFloat16>()[i].to_float();
    default: return t.data<Float16>()[i].to_float();
  }
}

// Host f32/bf16/f16 [batch, tokens, heads, head_dim] (raster) -> the backend's order and dtype
// on `device`.
Result<Tensor> to_backend(const Tensor& t, const TokenOrder& order, Device device) {
  const int64_t batch = t.size(0), tokens = t.size(1), row = t.size(2) * t.size(3);
  const DType dtype = device.is_cpu() ? DType::kF32 : DType::kBF16;
  WAN_ASSIGN_OR_RETURN(Tensor host, Tensor::empty(t.shape(), dtype));
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t pos = 0; pos < tokens; ++pos) {
      const int64_t src = order.tiled ? order.layout.raster_of_tiled[pos] : pos;
      for (int64_t c = 0; c < row; ++c) {
        const float x = value_at(t, (b * tokens + src) * row + c);
        const int64_t dst = (b * tokens + pos) * row + c;
        if (dtype == DType::kF32) host.data<float>()[dst] = x;
        else host.data<BFloat16>()[dst] = BFloat16(x);
      }
    }
  return host.to(device);
}

}  // namespace

Result<AttentionRun> run_attention_on_raster_tokens(const AttentionConfig& config, const AttentionShape& shape,
                                                    const Tensor& q, const Tensor& k, const Tensor& v,
                                                    const Tensor* gate, float scale, int timed_runs,
                                                    const Tensor* layer_param, const Tensor* layer_param_bias) {
  const Shape want = {shape.batch, shape.q_tokens, shape.heads, shape.head_dim};
  for (const Tensor* t : {&q, &k, &v, gate}) {
    if (!t) continue;
    if (t->shape() != want || !t->device().is_cpu() || !t->is_contiguous() ||
        (t->dtype() != DType::kF32 && t->dtype() != DType::kBF16 && t->dtype() != DType::kF16))
      return invalid_argument("attention inputs must be host f32/bf16/f16 " + shape_to_string(want) +
                              " [batch, tokens, heads, head_dim], got " + t->describe());
  }
  if (shape.q_tokens != shape.kv_tokens) return invalid_argument("self-attention needs q_tokens == kv_tokens");
  bool takes_gate = false, takes_param = false;
  for (const LayerWeightSpec& w : attention_backend_info(config.kind).layer_weights)
    (w.kind == LayerWeightKind::kInputProjection ? takes_gate : takes_param) = true;
  if (gate && !takes_gate) return invalid_argument("backend " + std::string(config.backend_name()) + " takes no gate");
  if ((layer_param || layer_param_bias) && !takes_param)
    return invalid_argument("backend " + std::string(config.backend_name()) + " takes no per-layer head_dim projection (proj_l)");
  // The backend's own projection: f32 on the host for the CPU backends, bf16 on the device for
  // the CUDA ones (as the models pass it).
  Tensor param, param_bias;
  for (const auto& [in, out, want] : {std::tuple<const Tensor*, Tensor*, Shape>{layer_param, &param, {shape.head_dim, shape.head_dim}},
                                      {layer_param_bias, &param_bias, {shape.head_dim}}}) {
    if (!in) continue;
    if (in->shape() != want || (in->dtype() != DType::kF32 && in->dtype() != DType::kBF16 && in->dtype() != DType::kF16))
      return invalid_argument("proj_l tensors must be float " + shape_to_string(want) + ", got " + in->describe());
    WAN_ASSIGN_OR_RETURN(const Tensor host, in->to(Device::cpu()));
    const bool cpu = shape.device.is_cpu();
    WAN_ASSIGN_OR_RETURN(Tensor converted, Tensor::empty(want, cpu ? DType::kF32 : DType::kBF16));
    for (int64_t i = 0; i < host.numel(); ++i) {
      if (cpu) converted.data<float>()[i] = value_at(host, i);
      else converted.data<BFloat16>()[i] = BFloat16(value_at(host, i));
    }
    WAN_ASSIGN_OR_RETURN(*out, converted.to(shape.device));
  }
  WAN_ASSIGN_OR_RETURN(std::unique_ptr<AttentionBackend> backend, make_attention_backend(config, shape.device));
  WAN_RETURN_IF_ERROR(backend->can_implement(shape));
  const TokenOrder order = backend->token_order(shape);
  WAN_ASSIGN_OR_RETURN(Tensor dq, to_backend(q, order, shape.device));
  WAN_ASSIGN_OR_RETURN(Tensor dk, to_backend(k, order, shape.device));
  WAN_ASSIGN_OR_RETURN(Tensor dv, to_backend(v, order, shape.device));
  Tensor dg;
  if (gate) {
    WAN_ASSIGN_OR_RETURN(dg, to_backend(*gate, order, shape.device));
  }
  const DType dtype = shape.device.is_cpu() ? DType::kF32 : DType::kBF16;
  WAN_ASSIGN_OR_RETURN(Tensor dout, Tensor::zeros(want, dtype, shape.device));
  const int64_t ws_bytes = static_cast<int64_t>(std::max<size_t>(backend->workspace_bytes(shape), 1));
  WAN_ASSIGN_OR_RETURN(Tensor ws, Tensor::empty({ws_bytes}, DType::kU8, shape.device));
  cudaStream_t stream = nullptr;  // the legacy stream: the runner synchronises around each run
  WAN_RETURN_IF_ERROR(backend->plan(shape, {ws.raw_data(), ws.nbytes()}, stream));
  AttentionArgs args{&dq, &dk, &dv, &dout, scale};
  if (gate) args.gate = &dg;
  if (param.defined()) args.layer_param = &param;
  if (param_bias.defined()) args.layer_param_bias = &param_bias;
  AttentionRun result;
  const bool cuda = shape.device.is_cuda();
  cudaEvent_t start = nullptr, stop = nullptr;
  if (cuda) {
    WAN_CUDA_CHECK(cudaEventCreate(&start));
    WAN_CUDA_CHECK(cudaEventCreate(&stop));
  }
  Status status;
  for (int run = 0; run <= timed_runs && status.ok(); ++run) {  // run 0: warm-up
    const auto t0 = std::chrono::steady_clock::now();
    if (cuda) WAN_CUDA_CHECK(cudaEventRecord(start, stream));
    status = backend->run(args, stream);
    if (cuda) {
      WAN_CUDA_CHECK(cudaEventRecord(stop, stream));
      WAN_CUDA_CHECK(cudaEventSynchronize(stop));
    }
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (cuda) {
      float event_ms = 0;
      WAN_CUDA_CHECK(cudaEventElapsedTime(&event_ms, start, stop));
      ms = event_ms;
    }
    if (run > 0) result.milliseconds.push_back(ms);
  }
  if (cuda) {
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
  }
  WAN_RETURN_IF_ERROR(status);
  WAN_ASSIGN_OR_RETURN(Tensor out_dev, dout.to(Device::cpu()));
  WAN_ASSIGN_OR_RETURN(result.out, Tensor::empty(want, DType::kF32));
  const int64_t tokens = shape.q_tokens, row = shape.heads * shape.head_dim;
  for (int64_t b = 0; b < shape.batch; ++b)
    for (int64_t pos = 0; pos < tokens; ++pos) {
      const int64_t dst = order.tiled ? order.layout.raster_of_tiled[pos] : pos;
      for (int64_t c = 0; c < row; ++c)
        result.out.data<float>()[(b * tokens + dst) * row + c] = value_at(out_dev, (b * tokens + pos) * row + c);
    }
  result.implementation = backend->implementation();
  return result;
}

}  // namespace wan
