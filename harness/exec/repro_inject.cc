// The injection library of `repro exec`: loaded into a program we did not write through
// CUDA_INJECTION64_PATH (the CUDA driver calls InitializeInjection at cuInit) and
// NVTX_INJECTION64_PATH (NVTX 3 calls InitializeInjectionNvtx2 at the first NVTX call). Both
// variables name this one file, so both entry points share the state below.
//
// What it records, per process, into $REPRO_EXEC_TRACE_DIR/proc-<pid>.trace (the line format
// is documented in harness/exec/exec_trace.h, which reads it):
//   - CUPTI CONCURRENT_KERNEL records (name, times, launch shape), streamed from every
//     bufferCompleted, so a worker killed at shutdown loses at most its last buffer; a forced
//     flush at cuProfilerStop and at exit; CUPTI's dropped-record count.
//   - NVTX ranges without libcupti as the NVTX injection (that crashes in CUPTI 13.0): its own
//     per-thread range stacks; each range pushes the CUPTI external correlation id of its full
//     path ("step/3/layer/5/attn"), so every kernel maps to its whole chain of enclosing
//     ranges (torch.cuda.nvtx, emit_nvtx, our engine's).
//   - API records only for the launch APIs where CUPTI can select them (they carry the
//     external ids; recording every CUDA call would slow host-bound programs).
//   - cuProfilerStart/Stop timestamps, for `repro exec --capture-range cudaProfilerApi`.
//   - Host durations of the ranges named by $REPRO_EXEC_TIME_RANGE (`--time-range`).
// When another tool holds CUPTI (Nsight Compute/Systems, a profiler inside the program),
// cuptiSubscribe_v2 names it: the library records "U <who>" and stays out of the way, and
// `repro exec` falls back to wall-clock timing and says so. Without $REPRO_EXEC_TRACE_DIR the
// library is inert. Child processes inherit the variables and write their own files.
#include <cupti.h>
#include <cupti_driver_cbid.h>
#include <cupti_runtime_cbid.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <nvtx3/nvToolsExt.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "harness/exec/range_names.h"

namespace {

constexpr size_t kBufferBytes = 8u << 20;  // HARNESS.md: 1-10 MB activity buffers
constexpr size_t kAlign = 8;
constexpr size_t kPendingFlushBytes = 1u << 16;

uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// Names may hold anything; the line format is tab-separated with the name last.
std::string clean(const char* s) {
  std::string out = s ? s : "";
  for (char& c : out)
    if (c == '\t' || c == '\n' || c == '\r') c = ' ';
  return out;
}

// The per-process trace file. Lines are appended to `pending` and written with write(2) at
// every activity buffer, at a flush and when 64 KiB are pending. The file is created with
// O_EXCL (a reused pid gets its own file, "proc-<pid>-<n>.trace").
class TraceWriter {
 public:
  bool enabled() {
    std::call_once(once_, [this] {
      const char* d = std::getenv("REPRO_EXEC_TRACE_DIR");
      dir_ = d ? d : "";
      disabled_.store(dir_.empty());
    });
    return !disabled_.load(std::memory_order_relaxed);
  }
  void line(const std::string& text) {
    std::lock_guard<std::mutex> lock(mu_);
    pending_ += text;
    pending_ += '\n';
    if (pending_.size() >= kPendingFlushBytes) write_locked();
  }
  void flush() {
    std::lock_guard<std::mutex> lock(mu_);
    write_locked();
  }
  // fork(): the prepare handler holds the lock across it, so the child never inherits it held
  // by a thread that does not exist there; the child writes its own file.
  void lock_for_fork() { mu_.lock(); }
  void unlock_after_fork(bool child) {
    if (child) {
      fd_ = -1;
      pending_.clear();
    }
    mu_.unlock();
  }

 private:
  void write_locked() {
    if (pending_.empty() || disabled_.load()) return;
    if (fd_ < 0) {
      const int pid = static_cast<int>(getpid());
      std::string path;
      for (int n = 0; n < 100 && fd_ < 0; ++n) {
        path = dir_ + "/proc-" + std::to_string(pid) + (n ? "-" + std::to_string(n) : "") + ".trace";
        fd_ = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
        if (fd_ < 0 && errno != EEXIST) break;
      }
      if (fd_ < 0) {
        std::fprintf(stderr, "repro exec injection: cannot write %s: %s (no trace for this process)\n", path.c_str(),
                     std::strerror(errno));
        disabled_.store(true);
        return;
      }
      const std::string head = "# repro-exec-trace 1\nI\t" + std::to_string(pid) + "\t" + std::to_string(getppid()) + "\n";
      (void)!write(fd_, head.data(), head.size());
    }
    size_t done = 0;
    while (done < pending_.size()) {
      const ssize_t n = write(fd_, pending_.data() + done, pending_.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    pending_.clear();
  }

  std::once_flag once_;
  std::string dir_;                  // written once, under once_
  std::atomic<bool> disabled_{true};
  std::mutex mu_;
  std::string pending_;
  int fd_ = -1;
};

TraceWriter& writer() {
  static TraceWriter* w = new TraceWriter();  // never destroyed: used from atexit handlers
  return *w;
}

// ---- NVTX: range paths and per-thread stacks -----------------------------------------------

// Range paths are interned: (parent id, name) -> id; id 0 is "outside every range". A new path
// is written ("P id path") before any kernel can refer to it.
class PathTable {
 public:
  uint32_t child(uint32_t parent, const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = ids_.find({parent, name});
    if (it != ids_.end()) return it->second;
    const uint32_t id = static_cast<uint32_t>(paths_.size());
    const std::string path = parent == 0 || parent >= paths_.size() ? name : paths_[parent] + "/" + name;
    paths_.push_back(path);
    ids_.emplace(std::make_pair(parent, name), id);
    writer().line("P\t" + std::to_string(id) + "\t" + path);
    return id;
  }
  void lock_for_fork() { mu_.lock(); }
  // The child starts a table of its own: its file must define every id it uses.
  void unlock_after_fork(bool child) {
    if (child) {
      paths_.assign(1, "");
      ids_.clear();
    }
    mu_.unlock();
  }

 private:
  std::mutex mu_;
  std::vector<std::string> paths_{""};
  std::map<std::pair<uint32_t, std::string>, uint32_t> ids_;
};

PathTable& paths() {
  static PathTable* t = new PathTable();
  return *t;
}

std::atomic<bool> g_cupti_ready{false};

// REPRO_EXEC_TIME_RANGE, read once (several NVTX copies in one process each initialise).
const std::string& time_range() {
  static const std::string* t = [] {
    const char* v = std::getenv("REPRO_EXEC_TIME_RANGE");
    return new std::string(v ? v : "");
  }();
  return *t;
}

struct ThreadRanges {
  std::vector<uint32_t> ids;        // path id per open range
  std::vector<uint64_t> starts_ns;  // host start per open range
  std::vector<bool> timed;          // range matched --time-range
  std::vector<bool> pushed;         // its id is on CUPTI's external-id stack of this thread
};
// Heap-allocated and never freed: thread_local objects with destructors die before atexit
// handlers and static destructors, which may still open or close ranges.
thread_local ThreadRanges* t_ranges_ptr = nullptr;
ThreadRanges& thread_ranges() {
  if (!t_ranges_ptr) t_ranges_ptr = new ThreadRanges();
  return *t_ranges_ptr;
}

// fork(): both locks are held across it (paths before writer, the order child() takes them).
void register_fork_handlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    pthread_atfork([] { paths().lock_for_fork(); writer().lock_for_fork(); },
                   [] { writer().unlock_after_fork(false); paths().unlock_after_fork(false); },
                   [] {
                     writer().unlock_after_fork(true);
                     paths().unlock_after_fork(true);
                     // CUDA does not survive fork: the child's CUPTI is not ours to call.
                     g_cupti_ready.store(false);
                     t_ranges_ptr = new ThreadRanges();
                   });
  });
}

// CUPTI keeps a per-thread stack of external ids: each range pushes its path id and pops it,
// one call each. Ranges opened before CUPTI started have none; the innermost such range gets
// its id pushed as soon as it is the current one (at cuInit for the initialising thread, else at
// the next NVTX call of that thread).
void push_external_id_of_top() {
  ThreadRanges& t = thread_ranges();
  if (t.ids.empty() || t.pushed.back() || !g_cupti_ready.load(std::memory_order_acquire)) return;
  cuptiActivityPushExternalCorrelationId(CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM1, t.ids.back());
  t.pushed.back() = true;
}

bool matches_time_range(const std::string& name) {
  const std::string& t = time_range();
  if (t.empty()) return false;
  return name == t || (name.size() > t.size() && name.compare(0, t.size(), t) == 0 && name[t.size()] == '/');
}

int push_range(const std::string& raw_name) {
  if (!writer().enabled()) return 0;
  const std::string name = wan::normalize_range_name(clean(raw_name.c_str()));
  ThreadRanges& t = thread_ranges();
  const uint32_t parent = t.ids.empty() ? 0 : t.ids.back();
  t.ids.push_back(paths().child(parent, name));
  const bool timed = matches_time_range(name);
  t.timed.push_back(timed);
  t.pushed.push_back(false);
  push_external_id_of_top();
  t.starts_ns.push_back(timed ? monotonic_ns() : 0);
  return static_cast<int>(t.ids.size()) - 1;
}

int pop_range() {
  if (!writer().enabled()) return -1;
  ThreadRanges& t = thread_ranges();
  if (t.ids.empty()) return -1;  // unbalanced pop: NVTX's "error" level
  const int level = static_cast<int>(t.ids.size()) - 1;
  if (t.timed.back())
    writer().line("R\t" + std::to_string(t.ids.back()) + "\t" + std::to_string(monotonic_ns() - t.starts_ns.back()));
  if (t.pushed.back()) {
    uint64_t last = 0;
    cuptiActivityPopExternalCorrelationId(CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM1, &last);
  }
  t.ids.pop_back();
  t.timed.pop_back();
  t.starts_ns.pop_back();
  t.pushed.pop_back();
  push_external_id_of_top();
  return level;
}

std::string narrow(const wchar_t* w) {
  std::string out;
  for (; w && *w; ++w) out += (*w > 0 && *w < 128) ? static_cast<char>(*w) : '?';
  return out;
}

std::string message_of(const nvtxEventAttributes_t* a) {
  if (!a) return "";
  switch (a->messageType) {
    case NVTX_MESSAGE_TYPE_ASCII: return a->message.ascii ? a->message.ascii : "";
    case NVTX_MESSAGE_TYPE_UNICODE: return narrow(a->message.unicode);
    case NVTX_MESSAGE_TYPE_REGISTERED:  // handles are the strings registered below
      return a->message.registered ? reinterpret_cast<const char*>(a->message.registered) : "";
    default: return "";
  }
}

int NVTX_API nvtx_push_a(const char* m) { return push_range(m ? m : ""); }
int NVTX_API nvtx_push_w(const wchar_t* m) { return push_range(narrow(m)); }
int NVTX_API nvtx_push_ex(const nvtxEventAttributes_t* a) { return push_range(message_of(a)); }
int NVTX_API nvtx_pop() { return pop_range(); }
int NVTX_API nvtx_domain_push_ex(nvtxDomainHandle_t, const nvtxEventAttributes_t* a) { return push_range(message_of(a)); }
int NVTX_API nvtx_domain_pop(nvtxDomainHandle_t) { return pop_range(); }
nvtxStringHandle_t NVTX_API nvtx_register_a(nvtxDomainHandle_t, const char* s) {
  return reinterpret_cast<nvtxStringHandle_t>(strdup(s ? s : ""));  // lives as long as the process
}
nvtxStringHandle_t NVTX_API nvtx_register_w(nvtxDomainHandle_t, const wchar_t* s) {
  return reinterpret_cast<nvtxStringHandle_t>(strdup(narrow(s).c_str()));
}

bool set_slot(const NvtxExportTableCallbacks* etbl, NvtxCallbackModule module, unsigned int cbid, NvtxFunctionPointer fn) {
  NvtxFunctionTable table = nullptr;
  unsigned int size = 0;
  if (!etbl->GetModuleFunctionTable(module, &table, &size) || !table || cbid >= size || !table[cbid]) return false;
  *table[cbid] = fn;
  return true;
}

// ---- CUPTI -----------------------------------------------------------------------------------

std::atomic<uint64_t> g_dropped{0};
CUpti_SubscriberHandle g_subscriber = nullptr;

void CUPTIAPI buffer_requested(uint8_t** buffer, size_t* size, size_t* max_records) {
  *size = kBufferBytes;
  *buffer = static_cast<uint8_t*>(std::aligned_alloc(kAlign, kBufferBytes));
  *max_records = 0;
}

void CUPTIAPI buffer_completed(CUcontext ctx, uint32_t stream_id, uint8_t* buffer, size_t, size_t valid) {
  CUpti_Activity* record = nullptr;
  std::string lines;
  CUptiResult next;
  while ((next = cuptiActivityGetNextRecord(buffer, valid, &record)) == CUPTI_SUCCESS) {
    if (record->kind == CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL) {
      const auto* k = reinterpret_cast<const CUpti_ActivityKernel10*>(record);
      char head[320];
      std::snprintf(head, sizeof(head), "K\t%u\t%llu\t%llu\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%u\t%u\t",
                    k->correlationId, static_cast<unsigned long long>(k->start), static_cast<unsigned long long>(k->end),
                    k->gridX, k->gridY, k->gridZ, k->blockX, k->blockY, k->blockZ, k->registersPerThread,
                    k->staticSharedMemory, k->dynamicSharedMemory, k->deviceId, k->streamId);
      lines += head;
      lines += clean(k->name);
      lines += '\n';
    } else if (record->kind == CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION) {
      const auto* e = reinterpret_cast<const CUpti_ActivityExternalCorrelation*>(record);
      if (e->externalKind == CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM1)
        lines += "X\t" + std::to_string(e->correlationId) + "\t" + std::to_string(e->externalId) + "\n";
    }
  }
  // The end of the buffer is CUPTI_ERROR_MAX_LIMIT_REACHED; anything else (an incomplete
  // record of a forced flush) leaves records unread: say so.
  if (next != CUPTI_ERROR_MAX_LIMIT_REACHED) lines += "W\t" + std::to_string(static_cast<int>(next)) + "\n";
  size_t dropped = 0;
  if (cuptiActivityGetNumDroppedRecords(ctx, stream_id, &dropped) == CUPTI_SUCCESS && dropped > 0) {
    g_dropped += dropped;
    lines += "D\t" + std::to_string(dropped) + "\n";
  }
  std::free(buffer);
  if (!lines.empty()) {
    lines.pop_back();
    writer().line(lines);
  }
  writer().flush();
}

void timestamp_line(const char* tag) {
  uint64_t ts = 0;
  cuptiGetTimestamp(&ts);
  writer().line(std::string(tag) + "\t" + std::to_string(ts));
}

void CUPTIAPI on_callback(void*, CUpti_CallbackDomain domain, CUpti_CallbackId cbid, const void* data) {
  if (domain != CUPTI_CB_DOMAIN_DRIVER_API) return;
  const auto* info = static_cast<const CUpti_CallbackData*>(data);
  if (cbid == CUPTI_DRIVER_TRACE_CBID_cuProfilerStart && info->callbackSite == CUPTI_API_EXIT) {
    timestamp_line("S");
  } else if (cbid == CUPTI_DRIVER_TRACE_CBID_cuProfilerStop && info->callbackSite == CUPTI_API_ENTER) {
    timestamp_line("T");
    // Completed buffers only: a forced flush here would hand over records of kernels still
    // running, incomplete (the capture window is cut by timestamps anyway). Exit forces.
    cuptiActivityFlushAll(0);
    writer().flush();
  }
}

void at_exit() {
  if (g_cupti_ready.load()) cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
  writer().line("E\t" + std::to_string(g_dropped.load()));
  writer().flush();
}

std::string cupti_error(CUptiResult r) {
  const char* text = "unknown";
  cuptiGetResultString(r, &text);
  return text;
}

// A CUPTI function from the libcupti this library is linked against (it was loaded with a local
// dlopen, so RTLD_DEFAULT may not see it, or may see another CUPTI the program loaded).
// Null when that CUPTI does not have it.
void* own_cupti_symbol(const char* name) {
  static void* handle = [] () -> void* {
    Dl_info info;
    if (!dladdr(reinterpret_cast<void*>(&cuptiGetVersion), &info) || !info.dli_fname) return nullptr;
    return dlopen(info.dli_fname, RTLD_NOLOAD | RTLD_NOW | RTLD_LOCAL);
  }();
  return handle ? dlsym(handle, name) : nullptr;
}

using EnableApi = CUptiResult(CUPTIAPI*)(CUpti_CallbackId, uint8_t);

// External-correlation records come with API activity records. All API records cost every
// CUDA call of the program (~1-2 us each); only the launch APIs are needed, so where the
// CUPTI at run time can select APIs (cuptiActivityEnableRuntimeApi/DriverApi), only those are
// recorded. Returns the mode for the trace's C line.
const char* enable_api_records(CUptiResult* r) {
  auto runtime = reinterpret_cast<EnableApi>(own_cupti_symbol("cuptiActivityEnableRuntimeApi"));
  auto driver = reinterpret_cast<EnableApi>(own_cupti_symbol("cuptiActivityEnableDriverApi"));
  if (runtime && driver) {
    const CUpti_CallbackId runtime_launches[] = {
        CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernel_v7000,        CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernel_ptsz_v7000,
        CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernelExC_v11060,    CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernelExC_ptsz_v11060,
        CUPTI_RUNTIME_TRACE_CBID___cudaLaunchKernel_v13000,     CUPTI_RUNTIME_TRACE_CBID___cudaLaunchKernel_ptsz_v13000,
        CUPTI_RUNTIME_TRACE_CBID_cudaLaunchCooperativeKernel_v9000,
        CUPTI_RUNTIME_TRACE_CBID_cudaLaunchCooperativeKernel_ptsz_v9000,
        CUPTI_RUNTIME_TRACE_CBID_cudaLaunchCooperativeKernelMultiDevice_v9000,
        CUPTI_RUNTIME_TRACE_CBID_cudaGraphLaunch_v10000,        CUPTI_RUNTIME_TRACE_CBID_cudaGraphLaunch_ptsz_v10000};
    const CUpti_CallbackId driver_launches[] = {
        CUPTI_DRIVER_TRACE_CBID_cuLaunch,                   CUPTI_DRIVER_TRACE_CBID_cuLaunchGrid,
        CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel,             CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel_ptsz,
        CUPTI_DRIVER_TRACE_CBID_cuLaunchKernelEx,           CUPTI_DRIVER_TRACE_CBID_cuLaunchKernelEx_ptsz,
        CUPTI_DRIVER_TRACE_CBID_cuLaunchCooperativeKernel,  CUPTI_DRIVER_TRACE_CBID_cuLaunchCooperativeKernel_ptsz,
        CUPTI_DRIVER_TRACE_CBID_cuLaunchCooperativeKernelMultiDevice,
        CUPTI_DRIVER_TRACE_CBID_cuGraphLaunch,              CUPTI_DRIVER_TRACE_CBID_cuGraphLaunch_ptsz};
    bool ok = true;
    for (CUpti_CallbackId id : runtime_launches) ok = ok && runtime(id, 1) == CUPTI_SUCCESS;
    for (CUpti_CallbackId id : driver_launches) ok = ok && driver(id, 1) == CUPTI_SUCCESS;
    if (ok) return "launch-apis";
  }
  *r = cuptiActivityEnable(CUPTI_ACTIVITY_KIND_RUNTIME);
  if (*r == CUPTI_SUCCESS) *r = cuptiActivityEnable(CUPTI_ACTIVITY_KIND_DRIVER);
  return "all-apis";
}

using SubscribeV2 = CUptiResult(CUPTIAPI*)(CUpti_SubscriberHandle*, CUpti_CallbackFunc, void*, CUpti_SubscriberParams*);

// Subscribes through cuptiSubscribe_v2 where the CUPTI at run time has it (it names the tool
// that holds CUPTI), else cuptiSubscribe. Returns "" or why tracing is unavailable.
std::string subscribe() {
  char old_name[CUPTI_OLD_SUBSCRIBER_NAME_MIN_LEN + 1] = {0};
  CUptiResult r;
  if (auto v2 = reinterpret_cast<SubscribeV2>(own_cupti_symbol("cuptiSubscribe_v2"))) {
    CUpti_SubscriberParams params;
    std::memset(&params, 0, sizeof(params));
    params.structSize = CUpti_SubscriberParams_STRUCT_SIZE;
    params.subscriberName = "repro exec";
    params.oldSubscriberName = old_name;
    params.oldSubscriberSize = CUPTI_OLD_SUBSCRIBER_NAME_MIN_LEN;
    r = v2(&g_subscriber, on_callback, nullptr, &params);
  } else {
    r = cuptiSubscribe(&g_subscriber, on_callback, nullptr);
  }
  if (r == CUPTI_SUCCESS) return "";
  if (r == CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED)
    return std::string("CUPTI is held by ") + (old_name[0] ? old_name : "another tool (it did not say which)") +
           "; kernels are not traced";
  return "cuptiSubscribe failed: " + cupti_error(r);
}

}  // namespace

extern "C" {

// CUDA driver entry point (CUDA_INJECTION64_PATH), called once at cuInit.
__attribute__((visibility("default"))) int InitializeInjection(void) {
  static std::atomic<bool> done{false};
  if (done.exchange(true) || !writer().enabled()) return 1;
  register_fork_handlers();
  const std::string unavailable = subscribe();
  if (!unavailable.empty()) {
    writer().line("U\t" + clean(unavailable.c_str()));
    writer().flush();
    return 1;
  }
  cuptiEnableCallback(1, g_subscriber, CUPTI_CB_DOMAIN_DRIVER_API, CUPTI_DRIVER_TRACE_CBID_cuProfilerStart);
  cuptiEnableCallback(1, g_subscriber, CUPTI_CB_DOMAIN_DRIVER_API, CUPTI_DRIVER_TRACE_CBID_cuProfilerStop);
  CUptiResult r = cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed);
  for (CUpti_ActivityKind kind : {CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL, CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION})
    if (r == CUPTI_SUCCESS) r = cuptiActivityEnable(kind);
  const char* api_mode = r == CUPTI_SUCCESS ? enable_api_records(&r) : "";
  if (r != CUPTI_SUCCESS) {
    // Give CUPTI back: the program (or its own profiler) may want it.
    for (CUpti_ActivityKind kind : {CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL, CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION,
                                    CUPTI_ACTIVITY_KIND_RUNTIME, CUPTI_ACTIVITY_KIND_DRIVER})
      cuptiActivityDisable(kind);
    cuptiUnsubscribe(g_subscriber);
    writer().line("U\tCUPTI activity tracing could not start: " + cupti_error(r));
    writer().flush();
    return 1;
  }
  uint32_t version = 0;
  cuptiGetVersion(&version);
  writer().line("C\t" + std::to_string(version) + "\t" + api_mode);
  g_cupti_ready.store(true, std::memory_order_release);
  push_external_id_of_top();  // the range this thread is in at cuInit
  std::atexit(at_exit);
  return 1;
}

// NVTX 3 entry point (NVTX_INJECTION64_PATH), called at the first NVTX call of the process.
__attribute__((visibility("default"))) int InitializeInjectionNvtx2(NvtxGetExportTableFunc_t get_export_table) {
  if (!writer().enabled()) return 0;  // NVTX then keeps its no-op implementation
  register_fork_handlers();
  const auto* etbl = static_cast<const NvtxExportTableCallbacks*>(get_export_table(NVTX_ETID_CALLBACKS));
  if (!etbl || !etbl->GetModuleFunctionTable) return 0;
  bool ok = set_slot(etbl, NVTX_CB_MODULE_CORE, NVTX_CBID_CORE_RangePushA, reinterpret_cast<NvtxFunctionPointer>(nvtx_push_a));
  ok = ok && set_slot(etbl, NVTX_CB_MODULE_CORE, NVTX_CBID_CORE_RangePushW, reinterpret_cast<NvtxFunctionPointer>(nvtx_push_w));
  ok = ok && set_slot(etbl, NVTX_CB_MODULE_CORE, NVTX_CBID_CORE_RangePushEx, reinterpret_cast<NvtxFunctionPointer>(nvtx_push_ex));
  ok = ok && set_slot(etbl, NVTX_CB_MODULE_CORE, NVTX_CBID_CORE_RangePop, reinterpret_cast<NvtxFunctionPointer>(nvtx_pop));
  // Domain ranges (libraries' own domains) and registered strings are best effort: an NVTX
  // older than the CORE2 module still gets the core ranges.
  set_slot(etbl, NVTX_CB_MODULE_CORE2, NVTX_CBID_CORE2_DomainRangePushEx, reinterpret_cast<NvtxFunctionPointer>(nvtx_domain_push_ex));
  set_slot(etbl, NVTX_CB_MODULE_CORE2, NVTX_CBID_CORE2_DomainRangePop, reinterpret_cast<NvtxFunctionPointer>(nvtx_domain_pop));
  set_slot(etbl, NVTX_CB_MODULE_CORE2, NVTX_CBID_CORE2_DomainRegisterStringA, reinterpret_cast<NvtxFunctionPointer>(nvtx_register_a));
  set_slot(etbl, NVTX_CB_MODULE_CORE2, NVTX_CBID_CORE2_DomainRegisterStringW, reinterpret_cast<NvtxFunctionPointer>(nvtx_register_w));
  if (!ok) return 0;
  writer().line("N\t1");
  writer().flush();
  static std::atomic<bool> exit_hook{false};
  if (!exit_hook.exchange(true) && !g_cupti_ready.load()) std::atexit([] { writer().flush(); });
  return 1;
}

}  // extern "C"
