// The atomic writers when fsync fails (EIO, ENOSPC), injected by defining fsync in this test
// binary (linked statically, so the library's calls bind here; the real fsync is reached
// through dlsym(RTLD_NEXT)). Contract: a failed flush of the new content leaves the old file or
// folder untouched and no temporary behind, with an error that names what failed and the
// fix; a failed flush of the directory after the rename says the content was written in full
// and, for a folder, where the previous one is kept.
#include <dlfcn.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "harness/atomic_file.h"

namespace {
std::atomic<int> g_succeed_before_failing{-1};  // -1: never fail; n: n more calls succeed, then one fails
std::atomic<int> g_errno{EIO};
std::atomic<int> g_calls{0};
}  // namespace

extern "C" int fsync(int fd) {
  using Fn = int (*)(int);
  static const Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "fsync"));
  ++g_calls;
  const int n = g_succeed_before_failing.load();
  if (n == 0) {
    g_succeed_before_failing = -1;
    errno = g_errno.load();
    return -1;
  }
  if (n > 0) g_succeed_before_failing = n - 1;
  return real(fd);
}

namespace wan {
namespace {

namespace fs = std::filesystem;

class FsyncFailureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    dir_ = fs::path(tmp ? tmp : "/tmp") / ("fsync_test_" + std::to_string(::getpid()) + "_" +
                                           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    g_succeed_before_failing = -1;
    g_errno = EIO;
  }
  void TearDown() override {
    g_succeed_before_failing = -1;
    fs::remove_all(dir_);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  static std::string slurp(const std::string& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }
  fs::path dir_;
};

TEST_F(FsyncFailureTest, FileFlushFailureKeepsTheOldFileAndNoTemporary) {
  ASSERT_TRUE(write_file_atomically(path("report.json"), "old\n", Overwrite::kRefuse).ok());
  g_calls = 0;
  g_succeed_before_failing = 0;  // the temporary's fsync fails
  const Status s = write_file_atomically(path("report.json"), "new\n", Overwrite::kAllow);
  ASSERT_FALSE(s.ok());
  EXPECT_GE(g_calls.load(), 1);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("flushing"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("Input/output error"), std::string::npos) << s.message();
  EXPECT_EQ(slurp(path("report.json")), "old\n");
  EXPECT_EQ(entries(), std::vector<std::string>{"report.json"});
}

TEST_F(FsyncFailureTest, DiskFullIsResourceExhaustedWithTheFix) {
  g_errno = ENOSPC;
  g_succeed_before_failing = 0;
  const Status s = write_file_atomically(path("golden.json"), "x", Overwrite::kRefuse);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(s.message().find("free some disk space"), std::string::npos) << s.message();
  EXPECT_TRUE(entries().empty());
}

TEST_F(FsyncFailureTest, DirectoryFlushAfterTheRenameSaysTheFileIsComplete) {
  g_succeed_before_failing = 1;  // the file's fsync works, its directory's fails
  const Status s = write_file_atomically(path("report.json"), "complete\n", Overwrite::kRefuse);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("was written in full"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("flushing directory"), std::string::npos) << s.message();
  EXPECT_EQ(slurp(path("report.json")), "complete\n");
  EXPECT_EQ(entries(), std::vector<std::string>{"report.json"});
}

TEST_F(FsyncFailureTest, ProducerFileFlushFailureKeepsTheOldFile) {
  ASSERT_TRUE(write_file_atomically(path("latents.safetensors"), "old", Overwrite::kRefuse).ok());
  g_succeed_before_failing = 0;
  const Status s = write_file_atomically_with(
      path("latents.safetensors"),
      [](const std::string& temp) {
        std::ofstream(temp) << "new";
        return Status();
      },
      Overwrite::kAllow);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("flushing"), std::string::npos) << s.message();
  EXPECT_EQ(slurp(path("latents.safetensors")), "old");
  EXPECT_EQ(entries(), std::vector<std::string>{"latents.safetensors"});  // the private folder is gone
}

Status write_frames(const std::string& dir, const std::string& content) {
  for (int i = 0; i < 3; ++i) std::ofstream(dir + "/frame_" + std::to_string(i) + ".png") << content;
  return Status();
}

TEST_F(FsyncFailureTest, FolderFrameFlushFailureKeepsTheOldFolder) {
  ASSERT_TRUE(write_directory_atomically(path("frames"), [](const std::string& d) { return write_frames(d, "old"); },
                                         Overwrite::kRefuse)
                  .ok());
  g_succeed_before_failing = 1;  // the second frame's fsync fails
  const Status s = write_directory_atomically(path("frames"), [](const std::string& d) { return write_frames(d, "new"); },
                                              Overwrite::kAllow);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("flushing"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("frame_"), std::string::npos) << s.message();
  EXPECT_EQ(slurp(path("frames/frame_2.png")), "old");
  EXPECT_EQ(entries(), std::vector<std::string>{"frames"});
}

TEST_F(FsyncFailureTest, FolderDirectoryFlushAfterTheRenameKeepsThePreviousFolderAndSaysWhere) {
  ASSERT_TRUE(write_directory_atomically(path("frames"), [](const std::string& d) { return write_frames(d, "old"); },
                                         Overwrite::kRefuse)
                  .ok());
  // Three frames and the private folder flush, then the parent directory's flush fails.
  g_succeed_before_failing = 4;
  const Status s = write_directory_atomically(path("frames"), [](const std::string& d) { return write_frames(d, "new"); },
                                              Overwrite::kAllow);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("was written in full"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("is kept at"), std::string::npos) << s.message();
  EXPECT_EQ(slurp(path("frames/frame_0.png")), "new");
  const std::vector<std::string> left = entries();
  ASSERT_EQ(left.size(), 2u);  // the new folder and the kept previous one
  EXPECT_EQ(slurp((dir_ / left[1] / "frame_0.png").string()), "old");
}

}  // namespace
}  // namespace wan
