#include "harness/trace.h"

#include <cmath>
#include <cstring>
#include <sstream>

#include "harness/hashing.h"
#include "kernels/common/float16.h"

namespace wan {

Result<OpSelector> OpSelector::parse(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ':')) parts.push_back(part);
  if (parts.size() != 4) {
    return invalid_argument("op selector '" + text +
                            "' must be STEP:BRANCH:BLOCK:OP (use * as a wildcard), e.g. 3:cond:1:norm3");
  }
  OpSelector s{parts[0], parts[1], parts[2], parts[3]};
  auto is_int = [](const std::string& v) {
    return v == "*" || (!v.empty() && v.find_first_not_of("-0123456789") == std::string::npos);
  };
  if (!is_int(s.step) || !is_int(s.block))
    return invalid_argument("op selector '" + text + "': STEP and BLOCK must be integers or *");
  if (s.branch != "*" && s.branch != "cond" && s.branch != "uncond" && s.branch != "vae")
    return invalid_argument("op selector '" + text + "': BRANCH must be cond, uncond, vae (the decoder) or *");
  return s;
}

bool OpSelector::matches(int st, std::string_view br, int bl, std::string_view o) const {
  return (step == "*" || step == std::to_string(st)) && (branch == "*" || branch == br) &&
         (block == "*" || block == std::to_string(bl)) && (op == "*" || op == o);
}

void TraceRecorder::on_forward_begin(int step, int64_t, std::string_view branch) {
  step_ = step;
  branch_ = std::string(branch);
}

void TraceRecorder::record(int block, std::string_view op, const Tensor& output) {
  TraceRecord r;
  r.step = step_;
  r.branch = branch_;
  r.block = block;
  r.op = std::string(op);
  r.shape = output.shape();
  r.sha1 = sha1_tensor(output).value();
  Sha1 chain;
  chain.update(chain_);
  chain.update(r.sha1);
  chain_ = r.chain = chain.hex_digest();
  for (const OpSelector& s : dump_selectors_) {
    if (s.matches(step_, branch_, block, op)) {
      dumps_.emplace_back(op_key(step_, branch_, block, op), output.clone().value());
      break;
    }
  }
  records_.push_back(std::move(r));
}

void TraceRecorder::on_op(int block, std::string_view op, Tensor& output) { record(block, op, output); }

void TraceRecorder::on_step_end(int step, const Tensor& latents) {
  step_ = step;
  branch_ = "step";
  record(-1, "latents", latents);
}

void TraceRecorder::on_vae_op(int64_t latent_frame, std::string_view name, Tensor& x) {
  step_ = -1;
  branch_ = "vae";
  record(static_cast<int>(latent_frame), name, x);
}

void PerturbObserver::on_vae_op(int64_t latent_frame, std::string_view name, Tensor& x) {
  step_ = -1;
  branch_ = "vae";
  on_op(static_cast<int>(latent_frame), name, x);
}

void PerturbObserver::on_forward_begin(int step, int64_t, std::string_view branch) {
  step_ = step;
  branch_ = std::string(branch);
}

void PerturbObserver::on_op(int block, std::string_view op, Tensor& output) {
  if (fired_ || !where_.matches(step_, branch_, block, op) || output.numel() == 0) return;
  // Element 0 through a host copy, so device tensors work too.
  Tensor first = output.slice(0, 0, 1).value();
  Tensor host = first.to(Device::cpu()).value();
  if (host.dtype() == DType::kBF16) {
    host.data<BFloat16>()[0].bits += 1;  // one bf16 ULP
  } else {
    float& v = host.data<float>()[0];
    v = round_to_bf16(v) == v ? bf16_bits_to_f32(static_cast<uint16_t>(f32_to_bf16_bits(v) + 1))
                              : f32_from_bits(f32_bits(v) + 1);
  }
  // Write back only element 0 of the first row.
  Tensor dst = output.reshape({output.numel()}).value().slice(0, 0, 1).value();
  Tensor src = host.reshape({host.numel()}).value().slice(0, 0, 1).value();
  (void)dst.copy_from(src);
  fired_ = true;
}

void ObserverChain::on_forward_begin(int step, int64_t t, std::string_view branch) {
  for (auto* o : observers_) o->on_forward_begin(step, t, branch);
}
void ObserverChain::on_op(int block, std::string_view op, Tensor& output) {
  for (auto* o : observers_) o->on_op(block, op, output);
}
void ObserverChain::on_step_end(int step, const Tensor& latents) {
  for (auto* o : observers_) o->on_step_end(step, latents);
}

void ObserverChain::on_vae_op(int64_t latent_frame, std::string_view name, Tensor& x) {
  for (auto* o : vae_observers_) o->on_vae_op(latent_frame, name, x);
}

nlohmann::json trace_to_json(const TraceRecorder& recorder, const nlohmann::json& run_case,
                             const nlohmann::json& fingerprint, const std::string& final_sha1,
                             const std::vector<std::string>& command, const std::string& dump_file) {
  nlohmann::json records = nlohmann::json::array();
  for (const TraceRecord& r : recorder.records()) {
    records.push_back({{"step", r.step}, {"branch", r.branch}, {"block", r.block}, {"op", r.op},
                       {"shape", r.shape}, {"sha1", r.sha1}, {"chain", r.chain}});
  }
  return {{"schema", "wan-repro.trace"},
          {"schema_version", kTraceSchemaVersion},
          {"case", run_case},
          {"fingerprint", fingerprint},
          {"command", command},
          {"final_latents_sha1", final_sha1},
          {"dump_file", dump_file},
          {"records", records}};
}

nlohmann::json ErrorStats::to_json() const {
  nlohmann::json j = {{"elements", count},       {"differing", differing}, {"max_abs", max_abs},
                      {"rel_l2", rel_l2},        {"max_ulp_f32", max_ulp_f32}};
  if (max_ulp_bf16 >= 0) j["max_ulp_bf16"] = max_ulp_bf16;
  return j;
}

namespace {
// Maps float bits to a monotone integer line, so |a - b| counts representable values between.
int64_t ordered(uint32_t bits) {
  return (bits & 0x80000000u) ? -static_cast<int64_t>(bits & 0x7fffffffu) : static_cast<int64_t>(bits);
}
}  // namespace

ErrorStats compare_f32(const float* a, const float* b, int64_t count) {
  ErrorStats s;
  s.count = count;
  double num = 0, den = 0;
  bool all_bf16 = true;
  for (int64_t i = 0; i < count; ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    num += d * d;
    den += static_cast<double>(a[i]) * a[i];
    if (std::memcmp(&a[i], &b[i], 4) != 0) ++s.differing;
    s.max_abs = std::max(s.max_abs, std::fabs(d));
    s.max_ulp_f32 = std::max<int64_t>(s.max_ulp_f32, std::llabs(ordered(f32_bits(a[i])) - ordered(f32_bits(b[i]))));
    all_bf16 = all_bf16 && round_to_bf16(a[i]) == a[i] && round_to_bf16(b[i]) == b[i];
  }
  s.rel_l2 = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  if (all_bf16) s.max_ulp_bf16 = s.max_ulp_f32 >> 16;
  return s;
}

}  // namespace wan
