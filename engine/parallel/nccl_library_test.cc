// NCCL found and loaded at run time without a GPU (ncclGetVersion needs none): where the CUDA
// toolkit ships it (/usr/local/cuda/lib64 on the build machines) the loaded version must be the
// headers' NCCL_VERSION_CODE major.minor; an explicit path that is not NCCL is refused with every
// place tried named. The ncclUniqueId file bootstrap: a round trip, a wait that times out with the
// path named, and a file of another format refused.
#include "engine/parallel/nccl_library.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace wan {
namespace {

std::string temp_dir() { return std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp"; }

TEST(NcclLibrary, LoadsTheToolkitsNcclAtRunTime) {
  if (!std::filesystem::exists("/usr/local/cuda/lib64/libnccl.so.2"))
    GTEST_SKIP() << "no /usr/local/cuda/lib64/libnccl.so.2 on this machine";
  auto lib = NcclLibrary::load("/usr/local/cuda/lib64");
  ASSERT_TRUE(lib.ok()) << lib.status().message();
  EXPECT_EQ(lib.value()->version() / 100, NCCL_VERSION_CODE / 100) << lib.value()->version_string();
  EXPECT_NE(lib.value()->path().find("libnccl.so"), std::string::npos) << lib.value()->path();
  EXPECT_NE(lib.value()->api().ncclSend, nullptr);
  EXPECT_EQ(NcclLibrary::load("/usr/local/cuda/lib64").value(), lib.value()) << "loaded once per path";
}

TEST(NcclLibrary, RefusesWhatIsNotNccl) {
  const std::string fake = temp_dir() + "/libnotnccl.so";
  std::ofstream(fake) << "not a shared library";
  const Status s = NcclLibrary::load(fake).status();
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find(fake), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("nvidia/nccl/lib"), std::string::npos) << s.message();
}

TEST(NcclUniqueIdFile, RoundTripTimeoutAndForeignFile) {
  const std::string path = temp_dir() + "/nccl.id";
  std::filesystem::remove(path);
  ncclUniqueId id;
  for (size_t i = 0; i < sizeof(id.internal); ++i) id.internal[i] = static_cast<char>(i * 7 + 3);
  // A reader waiting before the writer has written (rank 1 started first).
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_TRUE(write_nccl_unique_id(path, id).ok());
  });
  auto got = read_nccl_unique_id(path, 10.0);
  writer.join();
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(std::memcmp(got.value().internal, id.internal, sizeof(id.internal)), 0);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp." + std::to_string(::getpid()))) << "temporary file left";

  const Status late = read_nccl_unique_id(temp_dir() + "/never.id", 0.1).status();
  EXPECT_EQ(late.code(), StatusCode::kUnavailable);
  EXPECT_NE(late.message().find("never.id"), std::string::npos) << late.message();

  std::ofstream(path, std::ios::trunc) << "a file of something else";
  const Status foreign = read_nccl_unique_id(path, 1.0).status();
  EXPECT_EQ(foreign.code(), StatusCode::kDataLoss);
  EXPECT_NE(foreign.message().find("not an NCCL id file"), std::string::npos) << foreign.message();
}

}  // namespace
}  // namespace wan
