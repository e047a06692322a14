// `repro attention`: one attention backend (with its options, on the CPU or CUDA) on q, k, v
// (and a gate) read from a safetensors file; writes the output to another and times the call,
// so a kernel engineer can hold our backend against any other implementation on the same
// tensors. Tokens are in raster (t, h, w) order of --grid; the backend's own token order is
// applied inside (attention_runner). No backend returns a log-sum-exp through the interface
// yet, so none is written.
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "engine/attention/attention_runner.h"
#include "engine/core/device.h"
#include "engine/model/safetensors.h"
#include "harness/atomic_file.h"
#include "harness/cli/commands.h"
#include "harness/cli/exit_codes.h"

namespace wan::cli {
namespace {

constexpr const char* kUsage =
    "usage: repro attention --backend NAME[:key=value,...] --input IN.safetensors --output OUT.safetensors\n"
    "         [--grid T,H,W] [--device auto|cpu|cuda[:N]] [--layout bshd|bhsd] [--scale S] [--runs N] [--force]\n"
    "  IN holds q, k, v (and optionally gate) as f32/bf16/f16 [batch, tokens, heads, head_dim] (bshd) or\n"
    "  [batch, heads, tokens, head_dim] (bhsd, torch SDPA's layout), tokens in raster order of --grid;\n"
    "  for sparse_linear optionally proj_l.weight [head_dim, head_dim] and proj_l.bias [head_dim].\n"
    "  OUT gets 'out' (f32, the input layout).";

// [b, h, s, d] <-> [b, s, h, d] (contiguous host copies; f32 out).
Result<Tensor> swap_token_head(const Tensor& t) {
  WAN_ASSIGN_OR_RETURN(Tensor host, t.to(Device::cpu()));
  const int64_t b = host.size(0), x = host.size(1), y = host.size(2), d = host.size(3);
  WAN_ASSIGN_OR_RETURN(Tensor out, Tensor::empty({b, y, x, d}, DType::kF32));
  for (int64_t i = 0; i < b; ++i)
    for (int64_t j = 0; j < x; ++j)
      for (int64_t k = 0; k < y; ++k)
        for (int64_t c = 0; c < d; ++c) {
          const int64_t src = ((i * x + j) * y + k) * d + c;
          float v = 0;
          switch (host.dtype()) {
            case DType::kF32: v = host.data<float>()[src]; break;
            case DType::kBF16: v = host.data<BFloat16>()[src].to_float(); break;
            default: v = host.data<Float16>()[src].to_float(); break;
          }
          out.data<float>()[((i * y + k) * x + j) * d + c] = v;
        }
  return out;
}

Result<std::vector<int64_t>> parse_grid(const std::string& text) {
  std::vector<int64_t> g;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    char* end = nullptr;
    const long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end || v < 1) return invalid_argument("--grid must be three positive integers T,H,W, got '" + text + "'");
    g.push_back(v);
  }
  if (g.size() != 3) return invalid_argument("--grid must be three positive integers T,H,W, got '" + text + "'");
  return g;
}

}  // namespace

int attention_command(const std::vector<std::string>& args) {
  auto flags = Flags::parse(args, {"backend", "input", "output", "grid", "device", "layout", "scale", "runs"},
                            {"force"});
  if (!flags.ok()) {
    std::fprintf(stderr, "%s\n", kUsage);
    return fail("attention", flags.status());
  }
  const Flags& f = flags.value();
  if (!f.has("input") || !f.has("output")) {
    std::fprintf(stderr, "%s\n", kUsage);
    return fail("attention", invalid_argument("--input and --output are required"));
  }
  auto config = parse_attention_config(f.get("backend", "dense"));
  if (!config.ok()) return fail("attention", config.status());
  const std::string layout = f.get("layout", "bshd");
  if (layout != "bshd" && layout != "bhsd")
    return fail("attention", invalid_argument("--layout must be bshd or bhsd, got '" + layout + "'"));
  auto runs = f.get_int("runs", 10);
  if (!runs.ok() || runs.value() < 0 || runs.value() > 100000)
    return fail("attention", runs.ok() ? invalid_argument("--runs must be in [0, 100000]") : runs.status());
  const std::string out_path = f.get("output");
  struct stat st;
  if (!f.has("force") && stat(out_path.c_str(), &st) == 0)
    return fail("attention", failed_precondition("'" + out_path + "' exists; pass --force to replace it"));
  std::string device_text = f.get("device", "auto");
  if (device_text == "auto") device_text = discover_devices().has_gpu() ? "cuda:0" : "cpu";
  auto device = parse_device(device_text);
  if (!device.ok()) return fail("attention", device.status());

  auto file = Checkpoint::open(f.get("input"));
  if (!file.ok()) return fail("attention", file.status());
  Tensor t[4];
  const char* names[4] = {"q", "k", "v", "gate"};
  for (int i = 0; i < 4; ++i) {
    if (i == 3 && !file->has("gate")) break;
    if (!file->has(names[i]))
      return fail("attention", data_loss("'" + f.get("input") + "' has no tensor '" + names[i] +
                                         "'; it must hold q, k, v (and optionally gate)"));
    auto x = file->tensor(names[i]);
    if (!x.ok()) return fail("attention", x.status());
    if (x->dim() != 4 || (x->dtype() != DType::kF32 && x->dtype() != DType::kBF16 && x->dtype() != DType::kF16))
      return fail("attention", invalid_argument(std::string("tensor '") + names[i] + "' must be a 4-d float tensor (" +
                                                layout + "), got " + x->describe()));
    if (layout == "bhsd") {
      auto s = swap_token_head(x.value());
      if (!s.ok()) return fail("attention", s.status());
      t[i] = s.value();
    } else {
      auto c = x->clone();
      if (!c.ok()) return fail("attention", c.status());
      t[i] = c.value();
    }
    if (i > 0 && t[i].shape() != t[0].shape())
      return fail("attention", invalid_argument(std::string("tensor '") + names[i] + "' has shape " +
                                                shape_to_string(t[i].shape()) + ", q has " + shape_to_string(t[0].shape())));
  }
  const Tensor& q = t[0];
  AttentionShape shape;
  shape.batch = q.size(0);
  shape.q_tokens = shape.kv_tokens = q.size(1);
  shape.heads = q.size(2);
  shape.head_dim = q.size(3);
  shape.device = device.value();
  if (f.has("grid")) {
    auto g = parse_grid(f.get("grid"));
    if (!g.ok()) return fail("attention", g.status());
    shape.frames = g.value()[0];
    shape.height = g.value()[1];
    shape.width = g.value()[2];
    if (shape.frames * shape.height * shape.width != shape.q_tokens)
      return fail("attention", invalid_argument("--grid " + f.get("grid") + " has " +
                                                std::to_string(shape.frames * shape.height * shape.width) +
                                                " tokens; the tensors have " + std::to_string(shape.q_tokens)));
  }
  auto scale = f.get_double("scale", 1.0 / std::sqrt(static_cast<double>(shape.head_dim)));
  if (!scale.ok() || !(scale.value() > 0) || !std::isfinite(scale.value()))
    return fail("attention", scale.ok() ? invalid_argument("--scale must be positive and finite") : scale.status());
  std::fprintf(stderr, "repro attention: %s on %s, %s\n", config->canonical().c_str(), shape.device.to_string().c_str(),
               shape.describe().c_str());
  Tensor proj[2];
  for (int i = 0; i < 2; ++i) {
    const char* name = i == 0 ? "proj_l.weight" : "proj_l.bias";
    if (!file->has(name)) continue;
    auto x = file->tensor(name);
    if (!x.ok()) return fail("attention", x.status());
    proj[i] = x.value();
  }
  if (proj[0].defined() != proj[1].defined())
    return fail("attention", data_loss("'" + f.get("input") + "' has only one of proj_l.weight and proj_l.bias; give both"));
  auto run = run_attention_on_raster_tokens(config.value(), shape, t[0], t[1], t[2], t[3].defined() ? &t[3] : nullptr,
                                            static_cast<float>(scale.value()), static_cast<int>(runs.value()),
                                            proj[0].defined() ? &proj[0] : nullptr, proj[1].defined() ? &proj[1] : nullptr);
  if (!run.ok()) return fail("attention", run.status());
  Tensor out = run->out;
  if (layout == "bhsd") {
    auto s = swap_token_head(out);
    if (!s.ok()) return fail("attention", s.status());
    out = s.value();
  }
  std::vector<double> ms = run->milliseconds;
  std::sort(ms.begin(), ms.end());
  const double median = ms.empty() ? 0.0 : ms[ms.size() / 2];
  char timing[96] = "not timed (--runs 0)";
  if (!ms.empty()) std::snprintf(timing, sizeof(timing), "median %.4f ms, min %.4f ms over %zu runs", median, ms.front(), ms.size());
  const std::map<std::string, std::string> metadata = {{"backend", config->canonical()},
                                                        {"implementation", run->implementation},
                                                        {"device", shape.device.to_string()},
                                                        {"layout", layout},
                                                        {"timing", timing}};
  const Status written = write_file_atomically_with(
      out_path, [&](const std::string& temp) { return write_safetensors(temp, {{"out", out}}, metadata); },
      f.has("force") ? Overwrite::kAllow : Overwrite::kRefuse);
  if (!written.ok()) return fail("attention", written);
  std::printf("backend   %s\nkernels   %s\nshape     %s\ntime      %s\noutput    %s (out: f32, %s)\n",
              config->canonical().c_str(), run->implementation.c_str(), shape.describe().c_str(), timing,
              out_path.c_str(), layout.c_str());
  return kExitOk;
}

}  // namespace wan::cli
