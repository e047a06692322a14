#include "engine/parallel/nccl_communicator.h"

#include <cstdlib>

namespace wan {

size_t nccl_type_bytes(ncclDataType_t type) {
  switch (type) {
    case ncclInt8: case ncclUint8: return 1;
    case ncclFloat16: case ncclBfloat16: return 2;
    case ncclInt32: case ncclUint32: case ncclFloat32: return 4;
    case ncclInt64: case ncclUint64: case ncclFloat64: return 8;
    default: return 0;
  }
}

Result<std::unique_ptr<NcclCommunicator>> NcclCommunicator::create(const NcclLibrary& nccl, int world, int rank,
                                                                   const std::string& id_file,
                                                                   double timeout_seconds) {
  const std::string who = "NCCL rank " + std::to_string(rank) + " of " + std::to_string(world);
  if (world < 1 || rank < 0 || rank >= world)
    return invalid_argument(who + ": the rank must be in [0, world) and the world at least 1");
  int device = -1;
  if (cudaGetDevice(&device) != cudaSuccess) {
    cudaGetLastError();
    return unavailable(who + ": no usable CUDA device for the communicator");
  }
  const NcclApi& api = nccl.api();
  ncclUniqueId id;
  if (rank == 0) {
    if (const ncclResult_t r = api.ncclGetUniqueId(&id); r != ncclSuccess)
      return unavailable(who + ": ncclGetUniqueId: " + api.ncclGetErrorString(r));
    WAN_RETURN_IF_ERROR(write_nccl_unique_id(id_file, id));
  } else {
    WAN_ASSIGN_OR_RETURN(id, read_nccl_unique_id(id_file, timeout_seconds));
  }
  // Multicast (NVLS) off, as the issue asks: it accelerates reductions, which Ulysses does not use.
  ::setenv("NCCL_NVLS_ENABLE", "0", 1);
  ncclComm_t comm = nullptr;
  if (const ncclResult_t r = api.ncclCommInitRank(&comm, world, id, rank); r != ncclSuccess)
    return unavailable(who + " on CUDA device " + std::to_string(device) + ": ncclCommInitRank: " +
                       api.ncclGetErrorString(r) + " (NCCL " + nccl.version_string() + " from " + nccl.path() + ")");
  return std::unique_ptr<NcclCommunicator>(new NcclCommunicator(nccl, comm, world, rank));
}

NcclCommunicator::~NcclCommunicator() {
  if (comm_) nccl_.api().ncclCommDestroy(comm_);
}

Status NcclCommunicator::check(ncclResult_t r, const char* what) const {
  if (r == ncclSuccess) return Status();
  return internal_error("NCCL rank " + std::to_string(rank_) + " of " + std::to_string(world_) + ": " + what + ": " +
                        nccl_.api().ncclGetErrorString(r));
}

Status NcclCommunicator::all_to_all(const void* send, void* recv, size_t chunk_elements, ncclDataType_t type,
                                    cudaStream_t stream) {
  const size_t bytes = nccl_type_bytes(type);
  if (bytes == 0) return invalid_argument("all_to_all: unsupported NCCL data type " + std::to_string(type));
  const NcclApi& api = nccl_.api();
  const char* s = static_cast<const char*>(send);
  char* d = static_cast<char*>(recv);
  const size_t chunk_bytes = chunk_elements * bytes;
  WAN_RETURN_IF_ERROR(check(api.ncclGroupStart(), "ncclGroupStart"));
  Status status;
  for (int peer = 0; peer < world_ && status.ok(); ++peer) {
    status = check(api.ncclSend(s + peer * chunk_bytes, chunk_elements, type, peer, comm_, stream), "ncclSend");
    if (status.ok())
      status = check(api.ncclRecv(d + peer * chunk_bytes, chunk_elements, type, peer, comm_, stream), "ncclRecv");
  }
  const Status end = check(api.ncclGroupEnd(), "ncclGroupEnd");  // always closes the group
  return status.ok() ? end : status;
}

Status NcclCommunicator::all_gather(const void* send, void* recv, size_t count, ncclDataType_t type,
                                    cudaStream_t stream) {
  if (nccl_type_bytes(type) == 0) return invalid_argument("all_gather: unsupported NCCL data type " + std::to_string(type));
  return check(nccl_.api().ncclAllGather(send, recv, count, type, comm_, stream), "ncclAllGather");
}

}  // namespace wan
