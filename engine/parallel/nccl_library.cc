#include "engine/parallel/nccl_library.h"

#include <dlfcn.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "kernels/common/runtime_library.h"

namespace wan {

namespace {
constexpr int kMinVersion = 21800;  // 2.18
constexpr char kMagic[16] = "wan-nccl-id/1";
}  // namespace

Result<const NcclLibrary*> NcclLibrary::load(const std::string& explicit_path) {
  static std::mutex mutex;
  static std::map<std::string, const NcclLibrary*>* loaded = new std::map<std::string, const NcclLibrary*>();
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = loaded->find(explicit_path); it != loaded->end()) return it->second;
  std::string tried;
  for (const std::string& path : runtime_library_candidates(explicit_path, "libnccl.so.2", "nccl")) {
    void* so = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!so) {
      tried += "\n  " + path + ": " + ::dlerror();
      continue;
    }
    auto* api = new NcclApi();
    std::string missing;
#define WAN_NCCL_RESOLVE(name)                                                       \
  api->name = reinterpret_cast<decltype(&::name)>(::dlsym(so, #name));              \
  if (!api->name) missing += std::string(missing.empty() ? "" : ", ") + #name;
    WAN_NCCL_FUNCTIONS(WAN_NCCL_RESOLVE)
#undef WAN_NCCL_RESOLVE
    int version = 0;
    if (missing.empty() && api->ncclGetVersion(&version) != ncclSuccess) missing = "a working ncclGetVersion";
    if (!missing.empty()) {
      tried += "\n  " + path + ": lacks " + missing;
      delete api;
      ::dlclose(so);
      continue;
    }
    auto* lib = new NcclLibrary();  // kept for the process: communicators may live until exit
    lib->api_ = api;
    lib->version_ = version;
    Dl_info info;
    lib->path_ = ::dladdr(reinterpret_cast<void*>(api->ncclGetVersion), &info) && info.dli_fname ? info.dli_fname : path;
    if (version < kMinVersion) {
      tried += "\n  " + lib->path_ + ": NCCL " + lib->version_string() + " is older than 2.18";
      continue;
    }
    loaded->emplace(explicit_path, lib);
    return lib;
  }
  return unavailable("NCCL 2 (libnccl.so.2) was not found; tried:" + tried +
                     "\n  install it, or point at the folder holding it (e.g. a torch venv's "
                     "site-packages/nvidia/nccl/lib)");
}

std::string NcclLibrary::version_string() const {
  // NCCL >= 2.9: code = major * 10000 + minor * 100 + patch.
  return std::to_string(version_ / 10000) + "." + std::to_string(version_ / 100 % 100) + "." +
         std::to_string(version_ % 100);
}

Status write_nccl_unique_id(const std::string& path, const ncclUniqueId& id) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return unavailable("cannot write the NCCL id file " + tmp + ": " + std::strerror(errno));
    out.write(kMagic, sizeof(kMagic));
    out.write(id.internal, sizeof(id.internal));
    out.flush();
    if (!out) return unavailable("writing the NCCL id file " + tmp + " failed: " + std::strerror(errno));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    return unavailable("cannot move the NCCL id file into place at " + path);
  }
  return Status();
}

Result<ncclUniqueId> read_nccl_unique_id(const std::string& path, double timeout_seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_seconds);
  std::error_code ec;
  while (!std::filesystem::exists(path, ec)) {
    if (std::chrono::steady_clock::now() >= deadline)
      return unavailable("no NCCL id file appeared at " + path + " within " + std::to_string(timeout_seconds) +
                         " s: is rank 0 running, and is the path on a filesystem every rank shares?");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::ifstream in(path, std::ios::binary);
  char magic[sizeof(kMagic)] = {};
  ncclUniqueId id;
  in.read(magic, sizeof(magic));
  in.read(id.internal, sizeof(id.internal));
  if (!in || std::memcmp(magic, kMagic, sizeof(kMagic)) != 0 || in.peek() != std::ifstream::traits_type::eof())
    return data_loss(path + " is not an NCCL id file of this tool (" + std::to_string(sizeof(kMagic)) +
                     "-byte header \"wan-nccl-id/1\" and " + std::to_string(sizeof(id.internal)) + " id bytes)");
  return id;
}

}  // namespace wan
