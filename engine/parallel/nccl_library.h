// NCCL loaded at run time (dlopen, never linked): the device machines have libnccl.so.2 only inside
// torch's pip wheels (site-packages/nvidia/nccl/lib), this machine under /usr/local/cuda/lib64.
// The functions the Ulysses path needs are resolved with dlsym; a library that lacks one, or is
// older than 2.18 (ncclCommInitRankConfig-era API), is skipped with the reason. And the
// ncclUniqueId bootstrap over a shared file (works across nodes on a shared filesystem): rank 0
// writes the id atomically, the others wait for it.
#pragma once

#include <string>

#include <nccl.h>

#include "engine/core/status.h"

namespace wan {

struct NcclApi {
#define WAN_NCCL_FN(name) decltype(&::name) name = nullptr;
#define WAN_NCCL_FUNCTIONS(X)                                                                    \
  X(ncclGetVersion) X(ncclGetErrorString) X(ncclGetUniqueId) X(ncclCommInitRank) X(ncclCommDestroy) \
  X(ncclCommCount) X(ncclCommUserRank) X(ncclAllGather) X(ncclSend) X(ncclRecv) X(ncclGroupStart)  \
  X(ncclGroupEnd)
  WAN_NCCL_FUNCTIONS(WAN_NCCL_FN)
#undef WAN_NCCL_FN
};

class NcclLibrary {
 public:
  // Loads once per explicit_path and keeps it for the process. explicit_path: a libnccl.so.2 file
  // or the folder holding it (else searched: kernels/common/runtime_library.h). UNAVAILABLE
  // names every place tried and why.
  static Result<const NcclLibrary*> load(const std::string& explicit_path = "");

  const NcclApi& api() const { return *api_; }
  int version() const { return version_; }            // NCCL_VERSION_CODE form: 22809 = 2.28.9
  std::string version_string() const;                  // "2.28.9"
  const std::string& path() const { return path_; }    // the file actually loaded

 private:
  NcclLibrary() = default;
  const NcclApi* api_ = nullptr;
  int version_ = 0;
  std::string path_;
};

// The bootstrap file: a 16-byte header ("wan-nccl-id/1" padded) and the 128 id bytes. Written
// to `path` through a temporary file and a rename (a reader never sees half an id); an existing
// file is replaced (each launch writes a fresh id).
Status write_nccl_unique_id(const std::string& path, const ncclUniqueId& id);
// Waits up to timeout_seconds for the file, then reads it: UNAVAILABLE naming the path when it
// never appears, DATA_LOSS when it is not an id file of this format.
Result<ncclUniqueId> read_nccl_unique_id(const std::string& path, double timeout_seconds);

}  // namespace wan
