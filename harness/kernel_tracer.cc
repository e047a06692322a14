#include "harness/kernel_tracer.h"

#include <cupti.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <mutex>

#include "kernels/common/cuda_check.h"

namespace wan {
namespace {

constexpr size_t kBufferBytes = 8u << 20;  // HARNESS.md: 1-10 MB buffers
constexpr size_t kAlign = 8;

// State shared with CUPTI's C callbacks: one tracer per process.
struct TracerState {
  std::mutex mu;
  std::vector<std::string> path;                // current NVTX range stack (host thread)
  std::vector<std::string> path_strings;         // external id -> path
  std::map<std::string, uint64_t> path_ids;      // path -> external id (each path stored once)
  std::map<uint32_t, uint64_t> correlation_to_external;
  std::vector<std::pair<KernelRecord, uint32_t>> raw;  // record, correlation id
  uint64_t dropped = 0;
  bool active = false;
};

TracerState& state() {
  static TracerState s;
  return s;
}

void CUPTIAPI buffer_requested(uint8_t** buffer, size_t* size, size_t* max_records) {
  *size = kBufferBytes;
  *buffer = static_cast<uint8_t*>(std::aligned_alloc(kAlign, kBufferBytes));
  *max_records = 0;
}

void CUPTIAPI buffer_completed(CUcontext ctx, uint32_t stream_id, uint8_t* buffer, size_t, size_t valid) {
  TracerState& s = state();
  CUpti_Activity* record = nullptr;
  std::lock_guard<std::mutex> lock(s.mu);
  while (cuptiActivityGetNextRecord(buffer, valid, &record) == CUPTI_SUCCESS) {
    if (record->kind == CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL) {
      const auto* k = reinterpret_cast<const CUpti_ActivityKernel10*>(record);
      KernelRecord r;
      r.name = k->name ? k->name : "?";
      r.start_ns = k->start;
      r.end_ns = k->end;
      r.grid[0] = k->gridX, r.grid[1] = k->gridY, r.grid[2] = k->gridZ;
      r.block[0] = k->blockX, r.block[1] = k->blockY, r.block[2] = k->blockZ;
      r.registers = k->registersPerThread;
      r.static_smem = k->staticSharedMemory;
      r.dynamic_smem = k->dynamicSharedMemory;
      s.raw.emplace_back(std::move(r), k->correlationId);
    } else if (record->kind == CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION) {
      const auto* e = reinterpret_cast<const CUpti_ActivityExternalCorrelation*>(record);
      if (e->externalKind == CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0) s.correlation_to_external[e->correlationId] = e->externalId;
    }
  }
  size_t dropped = 0;
  if (cuptiActivityGetNumDroppedRecords(ctx, stream_id, &dropped) == CUPTI_SUCCESS) s.dropped += dropped;
  std::free(buffer);
}

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "/") + p;
  return out;
}

}  // namespace

Result<std::unique_ptr<KernelTracer>> KernelTracer::start() {
  TracerState& s = state();
  if (s.active) return failed_precondition("a kernel tracer is already running in this process");
  if (const char* inj = std::getenv("CUDA_INJECTION64_PATH")) {
    return unavailable(std::string("CUPTI is held by a profiler (CUDA_INJECTION64_PATH=") + inj +
                       ", e.g. Nsight Compute or Systems); per-kernel timings fall back to CUDA events");
  }
  CUptiResult r = cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed);
  if (r == CUPTI_SUCCESS) r = cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL);
  if (r == CUPTI_SUCCESS) r = cuptiActivityEnable(CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION);
  // External-correlation records are emitted per API call, so API activity must be on too
  // (its own records are ignored).
  if (r == CUPTI_SUCCESS) r = cuptiActivityEnable(CUPTI_ACTIVITY_KIND_RUNTIME);
  if (r == CUPTI_SUCCESS) r = cuptiActivityEnable(CUPTI_ACTIVITY_KIND_DRIVER);
  if (r != CUPTI_SUCCESS) {
    const char* text = "unknown";
    cuptiGetResultString(r, &text);
    return unavailable(std::string("CUPTI activity tracing could not start (") + text +
                       "): another profiler may hold it; per-kernel timings fall back to CUDA events");
  }
  s.active = true;
  s.dropped = 0;
  s.raw.clear();
  s.correlation_to_external.clear();
  s.path.clear();
  s.path_strings = {""};  // external id 0: outside every range
  s.path_ids.clear();
  std::unique_ptr<KernelTracer> t(new KernelTracer());
  set_range_listener(t.get());
  return t;
}

KernelTracer::~KernelTracer() {
  set_range_listener(nullptr);
  cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
  cuptiActivityDisable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL);
  cuptiActivityDisable(CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION);
  cuptiActivityDisable(CUPTI_ACTIVITY_KIND_RUNTIME);
  cuptiActivityDisable(CUPTI_ACTIVITY_KIND_DRIVER);
  state().active = false;
}

void KernelTracer::on_push(const char* name) {
  TracerState& s = state();
  uint64_t id;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.path.emplace_back(name);
    const std::string path = join(s.path);
    const auto it = s.path_ids.find(path);
    if (it != s.path_ids.end()) {
      id = it->second;
    } else {
      id = s.path_strings.size();
      s.path_strings.push_back(path);
      s.path_ids.emplace(path, id);
    }
  }
  cuptiActivityPushExternalCorrelationId(CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0, id);
}

void KernelTracer::on_pop() {
  uint64_t last = 0;
  cuptiActivityPopExternalCorrelationId(CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0, &last);
  TracerState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (!s.path.empty()) s.path.pop_back();
}

uint64_t KernelTracer::dropped_records() const { return state().dropped; }

Result<std::vector<KernelRecord>> KernelTracer::collect(bool expect_kernels) {
  WAN_CUDA_CHECK(cudaDeviceSynchronize());
  WAN_CUPTI_CHECK(cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED));
  TracerState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.dropped > 0) {
    const uint64_t dropped = s.dropped;
    s.dropped = 0;  // the next window starts clean
    s.raw.clear();
    s.correlation_to_external.clear();
    return resource_exhausted("CUPTI dropped " + std::to_string(dropped) +
                              " activity records: the timing window is too long for the buffers");
  }
  if (expect_kernels && s.raw.empty()) {
    return unavailable("CUPTI delivered no kernel records although kernels ran: a profiler (Nsight "
                       "Compute/Systems) holds CUPTI; falling back to CUDA-event timing");
  }
  std::vector<KernelRecord> out;
  out.reserve(s.raw.size());
  for (auto& [record, correlation] : s.raw) {
    const auto it = s.correlation_to_external.find(correlation);
    const uint64_t ext = it == s.correlation_to_external.end() ? 0 : it->second;
    record.range = ext < s.path_strings.size() ? s.path_strings[ext] : "";
    out.push_back(std::move(record));
  }
  s.raw.clear();
  s.correlation_to_external.clear();
  return out;
}

}  // namespace wan
