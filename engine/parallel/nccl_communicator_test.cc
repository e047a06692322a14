// The NCCL communicator on real GPUs (tagged gpu: skips without one). World size 1 goes through
// the same ncclSend/ncclRecv group and ncclAllGather as any world, and must hand back exactly the
// bytes sent. With 2 or more GPUs, two processes (one per GPU) exchange chunks that encode
// (sender, receiver, element), and every byte must arrive where the Ulysses contract says (not yet
// run: the device machines lent so far have one GPU, where it skips and says so). Bad
// ranks and worlds are refused before anything is created.
#include "engine/parallel/nccl_communicator.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/common/testing/device_buffer.h"
#include "kernels/common/testing/gpu_test.h"

namespace wan {
namespace {

using testing::DeviceBuffer;

std::string temp_path(const std::string& name) {
  return std::string(std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp") + "/" + name + "." +
         std::to_string(::getpid());
}

const NcclLibrary* load_or_null(std::string* why) {
  auto lib = NcclLibrary::load();
  if (!lib.ok()) {
    *why = lib.status().message();
    return nullptr;
  }
  return lib.value();
}

// Element e of the chunk `from` sends to `to` (distinct for every triple).
uint32_t pattern(int from, int to, size_t e) { return (uint32_t(from) << 28) | (uint32_t(to) << 24) | uint32_t(e); }

TEST(NcclCommunicator, RefusesRanksOutsideTheWorld) {
  std::string why;
  const NcclLibrary* nccl = load_or_null(&why);
  if (!nccl) GTEST_SKIP() << "no NCCL: " << why;
  for (auto [world, rank] : {std::pair{2, 2}, std::pair{0, 0}, std::pair{2, -1}}) {
    const Status s = NcclCommunicator::create(*nccl, world, rank, temp_path("never"), 0.1).status();
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.message();
    EXPECT_NE(s.message().find("rank " + std::to_string(rank) + " of " + std::to_string(world)), std::string::npos)
        << s.message();
  }
}

TEST(NcclCommunicator, WorldOfOneHandsBackExactlyWhatWasSent) {
  WAN_SKIP_WITHOUT_GPU();
  std::string why;
  const NcclLibrary* nccl = load_or_null(&why);
  if (!nccl) GTEST_SKIP() << "no NCCL: " << why;
  std::printf("NCCL %s from %s\n", nccl->version_string().c_str(), nccl->path().c_str());
  auto comm = NcclCommunicator::create(*nccl, 1, 0, temp_path("nccl-id-world1"), 5.0);
  ASSERT_TRUE(comm.ok()) << comm.status().message();
  EXPECT_EQ(comm.value()->world(), 1);
  const size_t n = 3 * 1000 + 7;  // odd: no alignment luck
  std::vector<uint32_t> host(n);
  for (size_t e = 0; e < n; ++e) host[e] = pattern(0, 0, e) * 2654435761u;
  DeviceBuffer send = DeviceBuffer::from(host), recv(n * 4), gathered(n * 4);
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  ASSERT_TRUE(comm.value()->all_to_all(send.as<void>(), recv.as<void>(), n, ncclUint32, stream).ok());
  ASSERT_TRUE(comm.value()->all_gather(send.as<void>(), gathered.as<void>(), n, ncclUint32, stream).ok());
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  EXPECT_EQ(recv.to_host<uint32_t>(), host) << "all_to_all at world 1 changed bytes";
  EXPECT_EQ(gathered.to_host<uint32_t>(), host) << "all_gather at world 1 changed bytes";
  // bf16 (what the DiT exchanges) counts elements of 2 bytes.
  ASSERT_TRUE(comm.value()->all_to_all(send.as<void>(), recv.as<void>(), 2 * n, ncclBfloat16, stream).ok());
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  EXPECT_EQ(recv.to_host<uint32_t>(), host);
  const Status bad = comm.value()->all_to_all(send.as<void>(), recv.as<void>(), n, ncclNumTypes, stream);
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument) << bad.message();
  cudaStreamDestroy(stream);
}

// Rank `rank` of `world` in this (forked) process: 0 when every byte arrived as the contract says.
int run_rank(int world, int rank, const std::string& id_file) {
  if (cudaSetDevice(rank) != cudaSuccess) return 10;
  auto nccl = NcclLibrary::load();
  if (!nccl.ok()) return 11;
  auto comm = NcclCommunicator::create(*nccl.value(), world, rank, id_file, 60.0);
  if (!comm.ok()) {
    std::fprintf(stderr, "%s\n", comm.status().message().c_str());
    return 12;
  }
  const size_t chunk = 4099;
  std::vector<uint32_t> host(chunk * world);
  for (int to = 0; to < world; ++to)
    for (size_t e = 0; e < chunk; ++e) host[to * chunk + e] = pattern(rank, to, e);
  DeviceBuffer send = DeviceBuffer::from(host), recv(host.size() * 4), gathered(host.size() * world * 4);
  if (!comm.value()->all_to_all(send.as<void>(), recv.as<void>(), chunk, ncclUint32, nullptr).ok()) return 13;
  if (!comm.value()->all_gather(send.as<void>(), gathered.as<void>(), host.size(), ncclUint32, nullptr).ok()) return 14;
  if (cudaDeviceSynchronize() != cudaSuccess) return 15;
  const std::vector<uint32_t> got = recv.to_host<uint32_t>(), all = gathered.to_host<uint32_t>();
  for (int from = 0; from < world; ++from)
    for (size_t e = 0; e < chunk; ++e) {
      if (got[from * chunk + e] != pattern(from, rank, e)) return 16;           // chunk s came from rank s
      for (int to = 0; to < world; ++to)
        if (all[(from * world + to) * chunk + e] != pattern(from, to, e)) return 17;  // rank s's buffer at s
    }
  return 0;
}

// The rank process of the two-GPU test below: that test runs this binary again, once per rank,
// with the rank in the environment (a fresh process per rank, as a launcher starts them; a forked
// child of a process that initialised CUDA cannot use it).
TEST(NcclCommunicator, RankProcess) {
  const char* rank = std::getenv("WAN_NCCL_TEST_RANK");
  if (!rank) GTEST_SKIP() << "the rank process of TwoProcessesOnTwoGpusExchangeByTheUlyssesContract, run by it";
  EXPECT_EQ(run_rank(std::atoi(std::getenv("WAN_NCCL_TEST_WORLD")), std::atoi(rank), std::getenv("WAN_NCCL_TEST_ID")),
            0)
      << "10 device, 11 load, 12 init, 13/14 collective, 15 sync, 16 all_to_all bytes, 17 all_gather bytes";
}

TEST(NcclCommunicator, TwoProcessesOnTwoGpusExchangeByTheUlyssesContract) {
  if (std::getenv("WAN_NCCL_TEST_RANK")) GTEST_SKIP() << "inside a rank process";
  WAN_SKIP_WITHOUT_GPU();
  int gpus = 0;
  cudaGetDeviceCount(&gpus);
  if (gpus < 2) GTEST_SKIP() << "needs 2 GPUs, this machine has " << gpus << " (one rank per GPU)";
  std::string why;
  if (!load_or_null(&why)) GTEST_SKIP() << "no NCCL: " << why;
  const int world = 2;
  const std::string id_file = temp_path("nccl-id-world2");
  std::remove(id_file.c_str());
  std::vector<pid_t> children;
  for (int rank = 0; rank < world; ++rank) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::setenv("WAN_NCCL_TEST_RANK", std::to_string(rank).c_str(), 1);
      ::setenv("WAN_NCCL_TEST_WORLD", std::to_string(world).c_str(), 1);
      ::setenv("WAN_NCCL_TEST_ID", id_file.c_str(), 1);
      ::execl("/proc/self/exe", "nccl_communicator_test", "--gtest_filter=NcclCommunicator.RankProcess", nullptr);
      ::_exit(127);
    }
    children.push_back(pid);
  }
  for (int rank = 0; rank < world; ++rank) {
    int status = 0;
    ::waitpid(children[rank], &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "rank " << rank << " exited with " << (WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  }
}

}  // namespace
}  // namespace wan
