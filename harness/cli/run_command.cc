// `repro run`: N repeated seeded generations of one case, in one process or each in a fresh
// process; per-run SHA-1, determinism verdict, golden verdict, times; a JSON report.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/attention/attention_backend.h"
#include "engine/model/safetensors.h"
#include "harness/atomic_file.h"
#include "harness/build_info.h"
#include "harness/cli/commands.h"
#include "harness/cli/exit_codes.h"
#include "harness/cli/subprocess.h"
#include "harness/compare.h"
#include "harness/fingerprint.h"
#include "harness/golden_store.h"
#include "harness/gpu_clock.h"
#include "harness/hashing.h"
#include "harness/video_writer.h"
#include "harness/stats.h"
#include "harness/kernel_tracer.h"
#include "engine/model/wan_dit_cuda.h"

#include <cuda_profiler_api.h>

namespace wan::cli {
namespace {

constexpr const char* kErrorBoundedExactness = "error-bounded";

// The structured attention config of a case: backend, every option resolved, canonical form,
// and the backend's exactness class (the consistency contract it is tested against).
nlohmann::json attention_report(const RunCase& c) {
  const Result<AttentionConfig> config = parse_attention_config(c.backend);
  if (!config.ok()) return {{"backend", c.backend}, {"error", config.status().message()}};
  nlohmann::json j = config.value().to_json();
  j["exactness"] = attention_backend_info(config.value().kind).exactness == AttentionExactness::kExact
                       ? "exact (equals masked dense to bf16 rounding)"
                       : kErrorBoundedExactness;
  return j;
}


// The latents of the same case with the dense backend (one generation of `seed`) against
// `latents`: relative L2, cosine similarity, max abs difference, and the dense hash.
Result<nlohmann::json> latents_error_vs_dense(const RunCase& c, uint64_t seed, const Tensor& latents) {
  RunCase dense = c;
  dense.backend = "dense";
  WAN_ASSIGN_OR_RETURN(std::unique_ptr<Pipeline> pipeline, build_pipeline(dense));
  GenerationRequest r = dense.request;
  r.seed = seed;
  WAN_ASSIGN_OR_RETURN(const Tensor reference, pipeline->generate(r, nullptr, nullptr));
  WAN_ASSIGN_OR_RETURN(const Tensor a, latents.to(Device::cpu()));
  WAN_ASSIGN_OR_RETURN(const Tensor b, reference.to(Device::cpu()));
  if (a.numel() != b.numel() || a.dtype() != DType::kF32 || b.dtype() != DType::kF32)
    return internal_error("dense reference latents do not match the run's: " + a.describe() + " vs " + b.describe());
  double diff = 0, norm = 0, dot = 0, norm_a = 0, max_abs = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double x = a.data<float>()[i], y = b.data<float>()[i];
    diff += (x - y) * (x - y);
    norm += y * y;
    dot += x * y;
    norm_a += x * x;
    max_abs = std::max(max_abs, std::fabs(x - y));
  }
  WAN_ASSIGN_OR_RETURN(const std::string dense_sha1, sha1_tensor(reference));
  return nlohmann::json{{"reference", "the same case with --backend dense, one generation of seed " + std::to_string(seed)},
                        {"latents_rel_l2", std::sqrt(diff / (norm > 0 ? norm : 1))},
                        {"latents_cosine", dot / std::sqrt((norm_a > 0 ? norm_a : 1) * (norm > 0 ? norm : 1))},
                        {"latents_max_abs", max_abs},
                        {"dense_latents_sha1", dense_sha1}};
}

// What a run measures besides wall time.
struct RunOptions {
  bool quiet = false;
  KernelTracer* tracer = nullptr;   // per-kernel timings (null: off or unavailable)
  std::string tracer_unavailable;   // why there is no tracer, when kernels were wanted
  int profile_first = -1, profile_last = -1;  // cudaProfilerStart/Stop around these steps
  int device_index = -1;            // GPU to sample clocks from (-1: CPU run)
  VaeDecoder* decoder = nullptr;    // decodes the latents to video when the case has a VAE
};

// One generation in this process; returns its run record.
Result<nlohmann::json> generate_once(Pipeline& pipeline, const RunCase& run_case, uint64_t seed,
                                     int index, int total, const RunOptions& o, Tensor* latents_out,
                                     VideoFrames* frames_out = nullptr) {
  GenerationRequest r = run_case.request;
  r.seed = seed;
  const bool quiet = o.quiet;
  if (!quiet) std::fprintf(stderr, "run %d/%d seed %llu\n", index + 1, total, static_cast<unsigned long long>(seed));
  std::vector<double> step_seconds;
  nlohmann::json clocks = nlohmann::json::array();
  bool throttled = false;
  auto* cuda_model = dynamic_cast<WanDitCuda*>(&pipeline.model());
  WanDitCuda::FamilyTimes families_before;
  if (cuda_model) families_before = cuda_model->family_times();
  if (o.profile_first == 0) cudaProfilerStart();
  const auto start = std::chrono::steady_clock::now();
  WAN_ASSIGN_OR_RETURN(Tensor latents, pipeline.generate(r, nullptr, [&](const StepProgress& p) {
    step_seconds.push_back(p.seconds);
    if (p.step == o.profile_last) cudaProfilerStop();
    if (p.step + 1 == o.profile_first) cudaProfilerStart();
    if (o.device_index >= 0) {
      const GpuClockSample c = sample_gpu_clock(o.device_index);  // right after the step's kernels
      if (c.available) {
        clocks.push_back(c.sm_mhz);
        throttled = throttled || c.throttled;
        if (c.throttled && !quiet) std::fprintf(stderr, "  step %d: GPU throttled (%s)\n", p.step + 1, c.reasons.c_str());
      }
    }
    if (!quiet) print_step_progress(p.step, p.steps, p.timestep, p.seconds);
  }));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  WAN_ASSIGN_OR_RETURN(std::string sha1, sha1_tensor(latents));
  if (latents_out) *latents_out = latents;
  nlohmann::json record = {{"index", index},       {"seed", seed},
                           {"latents_sha1", sha1}, {"seconds", seconds},
                           {"step_seconds", step_seconds}, {"pid", static_cast<int>(::getpid())}};
  if (o.decoder) {
    // Denoise -> decode: the second stage, timed on its own (seconds stays the denoising time).
    const auto decode_start = std::chrono::steady_clock::now();
    WAN_ASSIGN_OR_RETURN(const VaeTiling tiling, VaeTiling::parse(run_case.vae_tiling));
    WAN_ASSIGN_OR_RETURN(const Tensor video, o.decoder->decode(latents, nullptr, [&](const VaeProgress& p) {
      if (!quiet) std::fprintf(stderr, "  decode latent frame %lld/%lld %.3f s\n", static_cast<long long>(p.latent_frame + 1),
                               static_cast<long long>(p.latent_frames), p.seconds);
    }, tiling));
    WAN_ASSIGN_OR_RETURN(VideoFrames frames, video_to_frames(video));
    record["decode_seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - decode_start).count();
    record["frames_sha1"] = sha1_frames(frames);
    record["video"] = {{"frames", frames.frames}, {"height", frames.height}, {"width", frames.width}};
    if (frames_out) *frames_out = std::move(frames);
  }
  if (o.device_index >= 0) {
    record["sm_clock_mhz"] = clocks;
    record["throttled"] = throttled;
  }
  if (o.tracer) {
    auto records = o.tracer->collect(true);
    if (records.ok()) {
      double total_ms = 0, span_ms = 0;
      record["kernels"] = summarize_kernels(records.value(), &total_ms, &span_ms);
      record["gpu_kernel_ms"] = total_ms;
      record["gpu_span_ms"] = span_ms;
      record["loop_gpu_timeline"] = timeline_json(loop_gpu_timeline(records.value()));
    } else {
      record["kernels_unavailable"] = records.status().message();
    }
  } else if (!o.tracer_unavailable.empty()) {
    record["kernels_unavailable"] = o.tracer_unavailable;
  }
  if (cuda_model && !record.contains("kernels") && cuda_model->family_times().forwards > families_before.forwards) {
    // Fallback: CUDA-event timing of the GEMM and attention ranges of every forward.
    const auto after = cuda_model->family_times();
    record["families_ms"] = {{"gemm", after.gemm_ms - families_before.gemm_ms},
                             {"attention", after.attention_ms - families_before.attention_ms},
                             {"rest", after.rest_ms() - families_before.rest_ms()},
                             {"forwards", after.forwards - families_before.forwards}};
  }
  return record;
}

// One generation in a fresh process of this executable (catches state leaking between runs).
Result<nlohmann::json> generate_in_child(const RunCase& run_case, uint64_t seed, int index,
                                         int total, bool quiet, const std::vector<std::string>& extra_flags) {
  const std::string tmp = "/tmp/repro-child-" + std::to_string(::getpid()) + "-" + std::to_string(index) + ".json";
  std::vector<std::string> args = {self_executable(), "run"};
  for (const std::string& a : run_case.to_args()) args.push_back(a);
  for (const std::string& a : {std::string("--seed"), std::to_string(seed), std::string("--runs"),
                               std::string("1"), std::string("--report"), tmp,
                               std::string("--no-golden"), std::string("--force")})
    args.push_back(a);
  for (const std::string& a : extra_flags) args.push_back(a);
  if (quiet) args.push_back("--quiet");
  if (!quiet) std::fprintf(stderr, "run %d/%d seed %llu (fresh process)\n", index + 1, total, static_cast<unsigned long long>(seed));
  WAN_ASSIGN_OR_RETURN(const int exit_code, run_subprocess(args));
  if (exit_code != 0) {
    ::unlink(tmp.c_str());
    return internal_error("the fresh process for run " + std::to_string(index + 1) + " failed (exit status " +
                          std::to_string(exit_code) + ")");
  }
  auto report = read_run_report(tmp);
  ::unlink(tmp.c_str());
  if (!report.ok()) return internal_error("the fresh process wrote an unreadable report: " + report.status().message());
  const nlohmann::json& child = report.value();
  RunCase expected = run_case;
  expected.request.seed = seed;
  if (child.value("case_id", "") != expected.case_id())
    return internal_error("the fresh process ran case " + child.value("case_id", std::string("?")) + ", not " +
                          expected.case_id() + " (its command line lost precision?)");
  nlohmann::json run = child["runs"][0];
  run["index"] = index;
  run["fresh_process"] = true;
  return run;
}

}  // namespace

std::string utc_stamp(const char* format) {
  const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char buf[64];
  std::strftime(buf, sizeof(buf), format, std::gmtime(&now));
  return buf;
}

int run_command(const std::vector<std::string>& args, const std::vector<std::string>& argv0) {
  std::set<std::string> value_flags = case_value_flags();
  for (const char* f : {"runs", "seeds", "report", "golden-dir", "save-latents", "profile-steps", "warmup", "video",
                        "fps"})
    value_flags.insert(f);
  const std::set<std::string> bool_flags = {"fresh-process", "no-golden", "force", "quiet", "kernels", "no-kernels",
                                            "no-cuda-graphs"};
  auto flags = Flags::parse(args, value_flags, bool_flags);
  if (!flags.ok()) return fail("run", flags.status());
  const Flags& f = flags.value();
  auto run_case = case_from_flags(f);
  if (!run_case.ok()) return fail("run", run_case.status());
  const RunCase& c = run_case.value();
  auto runs_flag = f.get_int("runs", 2);
  if (!runs_flag.ok()) return fail("run", runs_flag.status());
  if (runs_flag.value() < 1 || runs_flag.value() > 100000)
    return fail("run", invalid_argument("--runs must be in [1, 100000], got " + f.get("runs")));
  const int runs = static_cast<int>(runs_flag.value());
  std::vector<uint64_t> seeds = {c.request.seed};
  if (f.has("seeds")) {
    seeds.clear();
    std::stringstream ss(f.get("seeds"));
    for (std::string s; std::getline(ss, s, ',');) {
      if (s.empty() || s.size() > 19 || s.find_first_not_of("0123456789") != std::string::npos)
        return fail("run", invalid_argument("--seeds must be comma-separated integers below 10^19, got '" + f.get("seeds") + "'"));
      seeds.push_back(std::stoull(s));
    }
    if (seeds.empty()) return fail("run", invalid_argument("--seeds needs at least one seed"));
  }
  const bool quiet = f.has("quiet");
  const bool fresh = f.has("fresh-process");
  const Overwrite overwrite = f.has("force") ? Overwrite::kAllow : Overwrite::kRefuse;
  const std::string report_path =
      f.get("report", "repro-out/run-" + c.case_id() + "-" + utc_stamp("%Y%m%dT%H%M%SZ") + "-" +
                          std::to_string(::getpid()) + ".json");

  // Refused before any generation runs (the writes refuse again if a file appears since).
  if (f.has("video") && c.vae.empty())
    return fail("run", invalid_argument("--video needs --vae (synthetic:SEED or a VAE checkpoint) to decode the latents"));
  if (f.has("video")) {
    const Status format = check_video_format_available(f.get("video"));
    if (!format.ok()) return fail("run", format);
  }
  auto fps_flag = f.get_int("fps", 16);
  if (!fps_flag.ok() || fps_flag.value() < 1 || fps_flag.value() > 240)
    return fail("run", invalid_argument("--fps needs an integer in [1, 240] (Wan2.1 videos are 16 fps)"));
  if (const Status free = refuse_existing_outputs({report_path, f.get("save-latents"), f.get("video")}, overwrite);
      !free.ok())
    return fail("run", free);

  auto device = parse_device(c.device);
  const Fingerprint fp = case_fingerprint(c);
  if (!quiet) {
    std::fprintf(stderr, "repro run: case %s, %d run(s) x %zu seed(s)%s\n", c.case_id().c_str(), runs,
                 seeds.size(), fresh ? ", each in a fresh process" : "");
  }

  RunOptions options;
  options.quiet = quiet;
  const bool on_gpu = device.value().is_cuda();
  if (on_gpu) options.device_index = device.value().index;
  // Per-kernel CUPTI timings: default on for CUDA runs (--no-kernels turns them off). Kernels
  // are attributed to NVTX ranges per launch, so CUDA graphs are off while tracing.
  const bool want_kernels = on_gpu && (f.has("kernels") || !f.has("no-kernels"));
  if (f.has("profile-steps")) {
    const std::string ps = f.get("profile-steps");
    const size_t colon = ps.find(':');
    const std::string first = ps.substr(0, colon), last = colon == std::string::npos ? first : ps.substr(colon + 1);
    const auto index = [](const std::string& v) {
      return !v.empty() && v.size() <= 6 && v.find_first_not_of("0123456789") == std::string::npos ? std::stoi(v) : -1;
    };
    const int64_t steps = c.request.explicit_timesteps.empty() ? c.request.steps
                                                               : static_cast<int64_t>(c.request.explicit_timesteps.size());
    options.profile_first = index(first);
    options.profile_last = index(last);
    if (options.profile_first < 0 || options.profile_last < options.profile_first || options.profile_last >= steps)
      return fail("run", invalid_argument("--profile-steps " + ps + ": needs FIRST:LAST step indices (0-based, FIRST <= "
                                          "LAST < the case's " + std::to_string(steps) + " steps), e.g. 0:1"));
  }
  // Warm-up generations (not recorded) absorb one-time costs: GEMM planning, kernel attribute
  // setup, first-touch of the activation arena. Default 1 on a GPU, 0 on the CPU.
  auto warmup_flag = f.get_int("warmup", on_gpu ? 1 : 0);
  if (!warmup_flag.ok() || warmup_flag.value() < 0 || warmup_flag.value() > 1000)
    return fail("run", invalid_argument("--warmup needs an integer in [0, 1000]"));
  const int warmup = static_cast<int>(warmup_flag.value());
  std::vector<std::string> child_flags = {"--warmup", std::to_string(warmup)};
  if (!want_kernels && on_gpu) child_flags.push_back("--no-kernels");
  if (f.has("no-cuda-graphs")) child_flags.push_back("--no-cuda-graphs");
  if (f.has("profile-steps")) {
    child_flags.push_back("--profile-steps");
    child_flags.push_back(f.get("profile-steps"));
  }
  std::vector<std::string> first_child_flags = child_flags;  // run 1 also writes the video and latents
  if (f.has("video")) {
    first_child_flags.insert(first_child_flags.end(), {"--video", f.get("video"), "--fps", f.get("fps", "16")});
  }
  if (f.has("save-latents")) first_child_flags.insert(first_child_flags.end(), {"--save-latents", f.get("save-latents")});

  const auto setup_start = std::chrono::steady_clock::now();
  std::unique_ptr<Pipeline> pipeline;
  std::unique_ptr<VaeDecoder> decoder;
  std::unique_ptr<KernelTracer> tracer;
  if (!fresh) {
    auto built = build_pipeline(c);
    if (!built.ok()) return fail("run", built.status());
    pipeline = std::move(built).value();
    auto vae = build_vae_decoder(c, pipeline.get());
    if (!vae.ok()) return fail("run", vae.status());
    decoder = std::move(vae).value();
    options.decoder = decoder.get();
    if (auto* cuda_model = dynamic_cast<WanDitCuda*>(&pipeline->model())) {
      if (want_kernels || f.has("no-cuda-graphs")) cuda_model->enable_graphs(false);
      if (want_kernels) {
        auto t = KernelTracer::start();
        if (t.ok()) {
          tracer = std::move(t).value();
          options.tracer = tracer.get();
        } else {
          options.tracer_unavailable = t.status().message();
          std::fprintf(stderr, "repro run: %s\n", options.tracer_unavailable.c_str());
        }
        if (!tracer) cuda_model->enable_family_timing(true);
      }
    }
  }
  const double setup_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - setup_start).count();

  if (!fresh && warmup > 0) {
    RunOptions quiet_options;  // warm-up: no tracing, no clocks, no progress
    quiet_options.quiet = true;
    for (int i = 0; i < warmup; ++i) {
      if (!quiet) std::fprintf(stderr, "warm-up generation %d/%d\n", i + 1, warmup);
      auto w = generate_once(*pipeline, c, seeds[0], i, warmup, quiet_options, nullptr);
      if (!w.ok()) return fail("run", w.status());
    }
    if (tracer) (void)tracer->collect(false);  // drop the warm-up's kernels
  }
  nlohmann::json run_records = nlohmann::json::array();
  Tensor first_latents;
  VideoFrames first_frames;
  const int total = runs * static_cast<int>(seeds.size());
  for (int rep = 0, index = 0; rep < runs; ++rep) {
    for (uint64_t seed : seeds) {
      auto record = fresh ? generate_in_child(c, seed, index, total, quiet, index == 0 ? first_child_flags : child_flags)
                          : generate_once(*pipeline, c, seed, index, total, options,
                                          index == 0 ? &first_latents : nullptr, index == 0 ? &first_frames : nullptr);
      if (!record.ok()) return fail("run", record.status());
      run_records.push_back(record.value());
      ++index;
    }
  }

  // Determinism: one distinct hash per seed.
  std::map<uint64_t, std::set<std::string>> hashes;
  std::vector<double> times;
  for (const auto& r : run_records) {
    // A decoding run is identical only when its latents and its frames are.
    hashes[r["seed"].get<uint64_t>()].insert(r["latents_sha1"].get<std::string>() + " " + r.value("frames_sha1", ""));
    times.push_back(r["seconds"].get<double>());
  }
  bool deterministic = true;
  for (const auto& [seed, set] : hashes) deterministic = deterministic && set.size() == 1;

  nlohmann::json golden = {{"verdict", "skipped"}};
  int exit_code = deterministic ? kExitOk : kExitNondeterministic;
  if (!f.has("no-golden")) {
    const std::string case_sha1 = run_records[0]["latents_sha1"].get<std::string>();
    RunCase checked = c;
    checked.request.seed = run_records[0]["seed"].get<uint64_t>();
    auto check = check_golden(f.get("golden-dir", "golden"), checked, fp, case_sha1,
                              run_records[0].value("frames_sha1", std::string()));
    if (!check.ok()) return fail("run", check.status());
    golden = {{"verdict", golden_verdict_name(check->verdict)}, {"file", check->file},
              {"expected_sha1", check->expected_sha1}, {"message", check->message}};
    if (!check->expected_frames_sha1.empty()) golden["expected_frames_sha1"] = check->expected_frames_sha1;
    if (check->verdict == GoldenVerdict::kMismatch && exit_code == kExitOk) exit_code = kExitGoldenMismatch;
  }

  // Error-bounded backends (sage) approximate dense attention by design: every report that uses
  // one carries its error against dense, measured on the same case (one dense generation of the
  // first seed; the latents compared element-wise).
  nlohmann::json attention = attention_report(c), error_vs_dense;
  if (attention.value("exactness", "") == kErrorBoundedExactness) {
    if (fresh || !first_latents.defined()) {
      error_vs_dense = {{"unavailable", "not measured with --fresh-process (run without it to measure)"}};
    } else {
      if (!quiet) std::fprintf(stderr, "error-bounded backend: one dense generation of the same case for the error\n");
      // A failure here loses only this figure, not the runs: the report says why.
      auto measured = latents_error_vs_dense(c, run_records[0]["seed"].get<uint64_t>(), first_latents);
      error_vs_dense = measured.ok() ? measured.value()
                                     : nlohmann::json{{"unavailable", "the dense reference generation failed: " +
                                                                          measured.status().message()}};
    }
    attention["error_vs_dense"] = error_vs_dense;
  }

  nlohmann::json video_written;
  if (f.has("video") && !fresh) {
    auto written = write_video(f.get("video"), first_frames, static_cast<int>(fps_flag.value()), overwrite);
    if (!written.ok()) return fail("run", written.status());
    video_written = {{"path", written->path}, {"format", written->format}, {"bytes", written->bytes}};
  }
  nlohmann::json report = {
      {"schema", "wan-repro.run"},
      {"schema_version", kRunReportSchemaVersion},
      {"created", utc_stamp("%Y-%m-%dT%H:%M:%SZ")},
      {"tool", {{"name", "repro"}, {"engine_commit", engine_commit()}}},
      {"command", argv0},
      {"case", c.to_json()},
      {"case_id", c.case_id()},
      {"attention", attention},
      {"fingerprint", fp.fields},
      {"fingerprint_class", fp.class_fields},
      {"fresh_process", fresh},
      {"warmup_generations", warmup},
      {"kernel_tracing", tracer != nullptr || (fresh && want_kernels)},
      {"cuda_graphs", on_gpu && !want_kernels && !f.has("no-cuda-graphs")},
      {"setup_seconds", setup_seconds},
      {"runs", run_records},
      {"determinism", {{"verdict", deterministic ? "identical" : "differ"},
                       {"distinct_hashes_per_seed", [&] {
                          nlohmann::json j = nlohmann::json::object();
                          for (const auto& [seed, set] : hashes) j[std::to_string(seed)] = set.size();
                          return j;
                        }()}}},
      {"golden", golden},
      {"engine", pipeline ? nlohmann::json{{"model", pipeline->model().describe()},
                                          {"kernels", pipeline->model().kernel_choices()},
                                          {"vae", decoder ? decoder->describe() : std::string("none (latents only)")}}
                          : nlohmann::json{{"model", "in fresh processes"}}},
      {"timing", {{"median_seconds", stats::median(times)},
                  {"min_seconds", *std::min_element(times.begin(), times.end())},
                  {"max_seconds", *std::max_element(times.begin(), times.end())}}},
  };
  if (!video_written.is_null()) report["video_output"] = video_written;
  const Status written = write_file_atomically(report_path, report.dump(2) + "\n", overwrite);
  if (!written.ok()) return fail("run", written);
  if (f.has("save-latents") && first_latents.defined()) {
    const std::string path = f.get("save-latents");
    auto shaped = first_latents.reshape({1, first_latents.size(0), first_latents.size(1),
                                         first_latents.size(2), first_latents.size(3)});
    const std::map<std::string, std::string> metadata = {
        {"case", c.to_json().dump()}, {"latents_sha1", run_records[0]["latents_sha1"].get<std::string>()}};
    const Status s = write_file_atomically_with(
        path, [&](const std::string& temp) { return write_safetensors(temp, {{"latents", shaped.value()}}, metadata); },
        overwrite);
    if (!s.ok()) return fail("run", s);
  }

  if (!quiet) {
    const auto& r = c.request;
    std::printf("case      %s\n", c.case_id().c_str());
    std::printf("          model %s, weights %s, backend %s, %s %s, %lldx%lldx%lld, %d steps %s, guidance %g, shift %g\n",
                c.model.c_str(), c.weights.c_str(), c.backend.c_str(), c.device.c_str(), c.precision.c_str(),
                static_cast<long long>(r.frames), static_cast<long long>(r.height), static_cast<long long>(r.width),
                r.steps, r.scheduler.c_str(), r.guidance, r.shift);
    std::printf("env       %s on %s; fingerprint class %s\n", fp.fields["device"].get<std::string>().c_str(),
                (c.device == "cpu" ? fp.fields["cpu_model"] : fp.fields.value("gpu_name", nlohmann::json("?"))).get<std::string>().c_str(),
                fp.class_id.c_str());
    if (error_vs_dense.contains("latents_rel_l2"))
      std::printf("vs dense  latents rel L2 %.3e, cosine %.6f, max abs %.3e (%s is error-bounded)\n",
                  error_vs_dense["latents_rel_l2"].get<double>(), error_vs_dense["latents_cosine"].get<double>(),
                  error_vs_dense["latents_max_abs"].get<double>(), c.backend.c_str());
    else if (error_vs_dense.contains("unavailable"))
      std::printf("vs dense  %s\n", error_vs_dense["unavailable"].get<std::string>().c_str());
    for (const auto& rec : run_records) {
      std::printf("run %-3d   seed %-8llu sha1 %s  %.3f s%s\n", rec["index"].get<int>() + 1,
                  static_cast<unsigned long long>(rec["seed"].get<uint64_t>()),
                  rec["latents_sha1"].get<std::string>().c_str(), rec["seconds"].get<double>(),
                  rec.value("fresh_process", false) ? " (fresh process)" : "");
      if (rec.contains("frames_sha1"))
        std::printf("          frames %s  %lldx%lldx%lld, decode %.3f s\n", rec["frames_sha1"].get<std::string>().c_str(),
                    static_cast<long long>(rec["video"]["frames"].get<int64_t>()),
                    static_cast<long long>(rec["video"]["height"].get<int64_t>()),
                    static_cast<long long>(rec["video"]["width"].get<int64_t>()), rec["decode_seconds"].get<double>());
    }
    std::printf("determinism %s (%d runs, %zu seed(s))\n",
                deterministic ? "IDENTICAL: every run of each seed gave the same hash" : "DIFFER: repeated runs gave different hashes",
                total, hashes.size());
    std::printf("golden    %s\n", golden.value("message", std::string("skipped (--no-golden)")).c_str());
    std::printf("time      median %.3f s, min %.3f s, max %.3f s per generation; setup %.3f s\n", stats::median(times),
                *std::min_element(times.begin(), times.end()), *std::max_element(times.begin(), times.end()),
                setup_seconds);
    const auto& first = run_records[0];
    if (first.contains("kernels")) {
      std::printf("kernels   GPU %.3f ms in kernels over a %.3f ms span (run 1); top:\n", first.value("gpu_kernel_ms", 0.0),
                  first.value("gpu_span_ms", 0.0));
      std::map<std::string, std::pair<double, int64_t>> by_name;  // name -> (us, launches)
      for (const auto& k : first["kernels"]) {
        auto& e = by_name[k["name"].get<std::string>()];
        e.first += k["total_us"].get<double>();
        e.second += k["count"].get<int64_t>();
      }
      std::vector<std::pair<double, std::string>> top;
      for (const auto& [name, e] : by_name) top.emplace_back(e.first, name);
      std::sort(top.rbegin(), top.rend());
      for (size_t i = 0; i < top.size() && i < 6; ++i) {
        std::string name = top[i].second;
        if (name.size() > 90) name = name.substr(0, 87) + "...";
        std::printf("          %9.3f ms  %5lld launches  %s\n", top[i].first / 1e3,
                    static_cast<long long>(by_name[top[i].second].second), name.c_str());
      }
    } else if (first.contains("kernels_unavailable")) {
      std::printf("kernels   %s\n", first["kernels_unavailable"].get<std::string>().c_str());
    }
    if (first.contains("families_ms")) {
      const auto& fm = first["families_ms"];
      std::printf("families  GEMM %.3f ms, attention %.3f ms, the rest %.3f ms over %d forwards (CUDA events)\n",
                  fm["gemm"].get<double>(), fm["attention"].get<double>(), fm["rest"].get<double>(), fm["forwards"].get<int>());
    }
    if (!video_written.is_null())
      std::printf("video     %s (%s, %zu bytes)\n", video_written["path"].get<std::string>().c_str(),
                  video_written["format"].get<std::string>().c_str(), video_written["bytes"].get<size_t>());
    std::printf("report    %s\n", report_path.c_str());
  }
  return exit_code;
}

}  // namespace wan::cli
