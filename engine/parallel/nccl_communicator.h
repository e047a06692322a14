// One process's rank in an NCCL communicator (issue 17's exchange for Ulysses sequence
// parallelism), on NCCL loaded at run time (nccl_library.h): bootstrapped by the ncclUniqueId
// file, one rank per process and GPU, NVLink multicast off (NCCL_NVLS_ENABLE=0: multicast serves
// reductions only, and the exchanges here are data movement). The two collectives Ulysses needs,
// both pure data movement (deterministic: no arithmetic), asynchronous on the caller's stream:
//   all_to_all: the contract of engine/parallel/ulysses.h (chunk c of send goes to rank c; chunk s
//               of recv came from rank s), as one NCCL group of send/recv pairs;
//   all_gather: rank r's `count` elements land at recv + r * count on every rank.
// At world size 1 both are copies of send to recv through the same NCCL calls.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include <cuda_runtime_api.h>
#include <nccl.h>

#include "engine/core/status.h"
#include "engine/parallel/nccl_library.h"

namespace wan {

class NcclCommunicator {
 public:
  // Rank `rank` of `world` on the current CUDA device. Rank 0 creates the unique id and writes
  // it to id_file; the others wait up to timeout_seconds for it (read_nccl_unique_id), so a
  // launcher gives each launch a path of its own (a stale file would hand out an old id). Errors
  // name the rank, the world and NCCL's own message.
  static Result<std::unique_ptr<NcclCommunicator>> create(const NcclLibrary& nccl, int world, int rank,
                                                          const std::string& id_file, double timeout_seconds);
  ~NcclCommunicator();
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int world() const { return world_; }
  int rank() const { return rank_; }
  const NcclLibrary& library() const { return nccl_; }

  // send, recv: device buffers of world * chunk_elements elements of `type` (not overlapping).
  Status all_to_all(const void* send, void* recv, size_t chunk_elements, ncclDataType_t type, cudaStream_t stream);
  // send: count elements; recv: world * count elements.
  Status all_gather(const void* send, void* recv, size_t count, ncclDataType_t type, cudaStream_t stream);

 private:
  NcclCommunicator(const NcclLibrary& nccl, ncclComm_t comm, int world, int rank)
      : nccl_(nccl), comm_(comm), world_(world), rank_(rank) {}
  Status check(ncclResult_t r, const char* what) const;

  const NcclLibrary& nccl_;
  ncclComm_t comm_;
  int world_, rank_;
};

// Bytes of one element of `type` (0 for a type this file does not use).
size_t nccl_type_bytes(ncclDataType_t type);

}  // namespace wan
