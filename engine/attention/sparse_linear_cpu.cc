#include "engine/attention/sparse_linear_cpu.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "engine/attention/dense_cpu.h"

namespace wan {

Result<std::string> canonical_sla_ratio_option(const std::string& text) {
  char* end = nullptr;
  const double r = std::strtod(text.c_str(), &end);
  if (text.empty() || !end || *end != '\0' || !std::isfinite(r) || !(r > 0.0) || r > 1.0)
    return invalid_argument("'" + text + "' is not a number in (0, 1] (the fraction of key blocks each query block attends)");
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.10g", r);
  return std::string(buf);
}

SparseLinearBase::SparseLinearBase(const AttentionConfig& config) {
  ratio_ = config.number("ratio");
  feature_map_name_ = config.option("feature_map");
  feature_map_ = feature_map_name_ == "elu"    ? cpu::SlaFeatureMap::kElu
                 : feature_map_name_ == "relu" ? cpu::SlaFeatureMap::kRelu
                                               : cpu::SlaFeatureMap::kSoftmax;
}

Status SparseLinearBase::check_proj_l(const AttentionArgs& args, DType dtype) const {
  const Shape proj_shape = {shape_.head_dim, shape_.head_dim};
  const std::string want = std::string(dtype_name(dtype)) + " on " + shape_.device.to_string();
  auto fits = [&](const Tensor& t, const Shape& shape) {
    return t.shape() == shape && t.dtype() == dtype && t.device() == shape_.device && t.is_contiguous();
  };
  if (args.layer_param && !fits(*args.layer_param, proj_shape))
    return invalid_argument("sparse_linear attention: proj_l weight must be " + want + " " + shape_to_string(proj_shape) +
                            ", got " + args.layer_param->describe());
  if (args.layer_param_bias && !fits(*args.layer_param_bias, Shape{shape_.head_dim}))
    return invalid_argument("sparse_linear attention: proj_l bias must be " + want + " [" +
                            std::to_string(shape_.head_dim) + "], got " + args.layer_param_bias->describe());
  if (args.layer_param_bias && !args.layer_param)
    return invalid_argument("sparse_linear attention: a proj_l bias without its weight");
  return Status();
}

std::string SparseLinearBase::options_text() const {
  char buf[160];
  std::snprintf(buf, sizeof(buf), "ratio %g of 64-token key blocks per 128-token query block, linear branch %s", ratio_,
                feature_map_name_.c_str());
  return buf;
}

Status SparseLinearCpuAttention::can_implement(const AttentionShape& shape) const {
  return check_cpu_self_attention_shape(shape, "sparse_linear");
}

Status SparseLinearCpuAttention::plan(const AttentionShape& shape, AttentionWorkspace, Stream) {
  WAN_RETURN_IF_ERROR(can_implement(shape));
  shape_ = shape;
  planned_ = true;
  return Status();
}

std::string SparseLinearCpuAttention::implementation() const {
  return "attention_sla_f32 (CPU reference; " + options_text() + ")";
}

Status SparseLinearCpuAttention::run(const AttentionArgs& args, Stream) {
  if (!planned_) return failed_precondition("sparse_linear attention: run() before plan()");
  WAN_RETURN_IF_ERROR(check_cpu_self_attention_args(args, shape_, "sparse_linear"));
  WAN_RETURN_IF_ERROR(check_proj_l(args, DType::kF32));
  cpu::SlaAttentionParams p;
  bind_cpu_attention_args(args, shape_, &p);
  p.tokens = shape_.q_tokens;
  p.ratio = ratio_;
  p.feature_map = feature_map_;
  p.proj_weight = args.layer_param ? args.layer_param->data<float>() : nullptr;
  p.proj_bias = args.layer_param_bias ? args.layer_param_bias->data<float>() : nullptr;
  p.round_to_bf16 = shape_.precision == AttentionPrecision::kBf16;
  cpu::attention_sla_f32(p);
  return Status();
}

}  // namespace wan
