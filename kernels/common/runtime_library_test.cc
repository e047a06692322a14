// The run-time library search order: an explicit file alone, an explicit folder as folder/soname
// alone, else the loader's search, the toolkit's lib64, then pip wheels' nvidia/<package>/lib.
#include "kernels/common/runtime_library.h"

#include <cstdlib>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

namespace wan {
namespace {

TEST(RuntimeLibrary, SearchOrder) {
  const std::string dir = std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp";
  EXPECT_EQ(runtime_library_candidates(dir, "libnccl.so.2", "nccl"),
            std::vector<std::string>{(std::filesystem::path(dir) / "libnccl.so.2").string()});
  EXPECT_EQ(runtime_library_candidates("/x/libcudnn.so.9.1", "libcudnn.so.9", "cudnn"),
            std::vector<std::string>{"/x/libcudnn.so.9.1"});
  const std::vector<std::string> searched = runtime_library_candidates("", "libnccl.so.2", "nccl");
  ASSERT_GE(searched.size(), 2u);
  EXPECT_EQ(searched[0], "libnccl.so.2");
  EXPECT_EQ(searched[1], "/usr/local/cuda/lib64/libnccl.so.2");
  for (size_t i = 2; i < searched.size(); ++i)
    EXPECT_NE(searched[i].find("/nvidia/nccl/lib/libnccl.so.2"), std::string::npos) << searched[i];
}

}  // namespace
}  // namespace wan
