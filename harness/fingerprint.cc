#include "harness/fingerprint.h"

#include <dlfcn.h>
#include <sys/utsname.h>

#include <fstream>

#include "engine/core/device.h"
#include "harness/build_info.h"
#include "harness/hashing.h"
#include "kernels/cpu/parallel.h"

namespace wan {
namespace {

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown";
}

// Version from a dynamically loaded library, 0 if it is not present (no link dependency, so
// the CLI runs where cuBLAS or CUPTI is missing).
int64_t library_version(const char* soname, const char* symbol) {
  void* lib = dlopen(soname, RTLD_LAZY | RTLD_LOCAL);
  if (!lib) return 0;
  int64_t version = 0;
  if (std::string(symbol) == "cuptiGetVersion") {
    using Fn = int (*)(uint32_t*);
    if (auto fn = reinterpret_cast<Fn>(dlsym(lib, symbol))) {
      uint32_t v = 0;
      if (fn(&v) == 0) version = v;
    }
  } else {
    using Fn = size_t (*)();
    if (auto fn = reinterpret_cast<Fn>(dlsym(lib, symbol))) version = static_cast<int64_t>(fn());
  }
  dlclose(lib);
  return version;
}

}  // namespace

Fingerprint make_fingerprint(Device device) {
  Fingerprint f;
  utsname uts{};
  uname(&uts);
  f.fields["engine_commit"] = engine_commit();
  f.fields["compiler"] = std::string("gcc ") + __VERSION__;
  f.fields["build"] = {
#ifdef NDEBUG
      {"mode", "opt"},
#else
      {"mode", "debug"},
#endif
#ifdef __FAST_MATH__
      {"fast_math", true},
#else
      {"fast_math", false},
#endif
      {"fp_contract", "off"},
      {"cuda_archs", "see --//tools/cuda:archs"},
  };
  f.fields["os"] = std::string(uts.sysname) + " " + uts.release;
  f.fields["arch"] = uts.machine;
  f.fields["cpu_model"] = cpu_model();
  f.fields["cpu_threads"] = cpu::cpu_thread_count();
  f.fields["device"] = device.to_string();
  f.fields["cpu_numerics"] = kCpuNumericsVersion;

  const DeviceInventory inv = discover_devices();
  f.fields["driver_version"] = inv.driver_version;
  f.fields["cuda_runtime"] = inv.runtime_version;
  if (device.is_cuda()) {  // loading cuBLAS (500 MB) is not worth it for CPU runs
    f.fields["cublas_version"] = library_version("libcublasLt.so.13", "cublasLtGetVersion");
    f.fields["cupti_version"] = library_version("libcupti.so.13", "cuptiGetVersion");
  }
  if (device.is_cuda() && device.index < static_cast<int>(inv.gpus.size())) {
    const GpuInfo& g = inv.gpus[device.index];
    f.fields["gpu_name"] = g.name;
    f.fields["gpu_sm_count"] = g.sm_count;
    f.fields["gpu_compute_capability"] = std::to_string(g.cc_major) + "." + std::to_string(g.cc_minor);
    f.fields["gpu_memory_mib"] = g.total_memory >> 20;
    f.fields["gpu_pci_bus_id"] = g.pci_bus_id;
    f.class_fields = {{"device_type", "cuda"},
                      {"gpu_name", g.name},
                      {"gpu_sm_count", g.sm_count},
                      {"gpu_compute_capability", f.fields["gpu_compute_capability"]},
                      {"driver_version", inv.driver_version},
                      {"cuda_runtime", inv.runtime_version},
                      {"cublas_version", f.fields["cublas_version"]}};
  } else {
    f.class_fields = {{"device_type", "cpu"},
                      {"arch", uts.machine},
                      {"cpu_numerics", kCpuNumericsVersion}};
  }
  add_class_field(f, "", nullptr);  // class_id
  return f;
}

void add_class_field(Fingerprint& f, const std::string& key, const nlohmann::json& value) {
  if (!key.empty()) {
    f.class_fields[key] = value;
    f.fields[key] = value;
  }
  const std::string canonical = f.class_fields.dump();  // nlohmann sorts object keys
  f.class_id = sha1_hex(canonical.data(), canonical.size()).substr(0, 16);
  f.fields["class_id"] = f.class_id;
}

}  // namespace wan
