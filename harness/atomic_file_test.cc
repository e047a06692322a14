// write_file_atomically, write_file_atomically_with, DirectoryLock and read_file: a planted
// symlink is never written through, refusing to overwrite holds against a file created at the
// last moment and under concurrent writers, no descriptor or temporary is left on failure,
// the lock serialises, and FIFOs are refused instead of hanging.
#include "harness/atomic_file.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace wan {
namespace {

namespace fs = std::filesystem;

class AtomicFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    dir_ = fs::path(tmp ? tmp : "/tmp") / ("atomic_file_test_" + std::to_string(::getpid()) + "_" +
                                           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  static std::string slurp(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }
  // Names in the directory other than `keep` (temporaries left behind).
  std::vector<std::string> others(const std::vector<std::string>& keep) const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) {
      const std::string n = e.path().filename().string();
      if (std::find(keep.begin(), keep.end(), n) == keep.end()) out.push_back(n);
    }
    return out;
  }
  static int open_fds() {
    int n = 0;
    for (const auto& e : fs::directory_iterator("/proc/self/fd")) (void)e, ++n;
    return n;
  }

  fs::path dir_;
};

TEST_F(AtomicFileTest, WritesAndLeavesNoTemporary) {
  ASSERT_TRUE(write_file_atomically(path("a.json"), "hello\n", Overwrite::kRefuse).ok());
  EXPECT_EQ(slurp(path("a.json")), "hello\n");
  ASSERT_TRUE(write_file_atomically(path("a.json"), "again\n", Overwrite::kAllow).ok());
  EXPECT_EQ(slurp(path("a.json")), "again\n");
  ASSERT_TRUE(write_file_atomically(path("sub/dir/b.json"), "x", Overwrite::kRefuse).ok());
  EXPECT_EQ(slurp(path("sub/dir/b.json")), "x");
  EXPECT_EQ(others({"a.json", "sub"}), std::vector<std::string>{});
}

// A folder of files (a video's PNG frames): published whole or not at all.
TEST_F(AtomicFileTest, DirectoryWritesAreAllOrNothing) {
  auto two_frames = [](const std::string& dir) -> Status {
    WAN_RETURN_IF_ERROR(write_file_atomically(dir + "/frame_00000.png", "a", Overwrite::kRefuse));
    return write_file_atomically(dir + "/frame_00001.png", "b", Overwrite::kRefuse);
  };
  ASSERT_TRUE(write_directory_atomically(path("frames"), two_frames, Overwrite::kRefuse).ok());
  EXPECT_EQ(slurp(path("frames/frame_00001.png")), "b");
  // A writer that fails halfway (after one frame) leaves nothing under the final name and no
  // temporary folder; the existing folder is untouched.
  auto fails_halfway = [](const std::string& dir) -> Status {
    WAN_RETURN_IF_ERROR(write_file_atomically(dir + "/frame_00000.png", "new", Overwrite::kRefuse));
    return unavailable("disk gone after one frame");
  };
  EXPECT_EQ(write_directory_atomically(path("other"), fails_halfway, Overwrite::kRefuse).code(), StatusCode::kUnavailable);
  EXPECT_FALSE(fs::exists(path("other")));
  EXPECT_EQ(write_directory_atomically(path("frames"), fails_halfway, Overwrite::kAllow).code(), StatusCode::kUnavailable);
  EXPECT_EQ(slurp(path("frames/frame_00000.png")), "a");
  // Refused without overwrite; replaced whole with it.
  EXPECT_EQ(write_directory_atomically(path("frames"), two_frames, Overwrite::kRefuse).code(),
            StatusCode::kFailedPrecondition);
  auto one_frame = [](const std::string& dir) {
    return write_file_atomically(dir + "/frame_00000.png", "c", Overwrite::kRefuse);
  };
  ASSERT_TRUE(write_directory_atomically(path("frames"), one_frame, Overwrite::kAllow).ok());
  EXPECT_EQ(slurp(path("frames/frame_00000.png")), "c");
  EXPECT_FALSE(fs::exists(path("frames/frame_00001.png")));  // replaced, not merged
  EXPECT_EQ(others({"frames"}), std::vector<std::string>{});
}

TEST_F(AtomicFileTest, RefusesExistingFileAndDanglingSymlink) {
  ASSERT_TRUE(write_file_atomically(path("a.json"), "old", Overwrite::kRefuse).ok());
  const Status s = write_file_atomically(path("a.json"), "new", Overwrite::kRefuse, "--force");
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.to_string();
  EXPECT_NE(s.message().find("pass --force"), std::string::npos);
  EXPECT_EQ(slurp(path("a.json")), "old");
  // A dangling symlink is something there too (std::filesystem::exists said no).
  fs::create_symlink(path("nowhere"), path("link.json"));
  EXPECT_EQ(write_file_atomically(path("link.json"), "new", Overwrite::kRefuse).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_FALSE(fs::exists(path("nowhere")));
  EXPECT_EQ(others({"a.json", "link.json"}), std::vector<std::string>{});
}

// The check commands make before any work: files, folders and dangling links are occupied, a
// missing name is free, empty entries are skipped, a path that cannot be looked at (a symlink
// loop on the way) is an error rather than free; kAllow checks nothing.
TEST_F(AtomicFileTest, RefuseExistingOutputsBeforeAnyWork) {
  ASSERT_TRUE(write_file_atomically(path("taken.md"), "x", Overwrite::kRefuse).ok());
  fs::create_symlink(path("nowhere"), path("dangling.json"));
  fs::create_symlink(path("loop"), path("loop"));
  EXPECT_TRUE(refuse_existing_outputs({"", path("free.json")}, Overwrite::kRefuse).ok());
  for (const std::string& p : {path("taken.md"), path("dangling.json"), dir_.string()}) {
    const Status s = refuse_existing_outputs({path("free.json"), p}, Overwrite::kRefuse);
    EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << p;
    EXPECT_NE(s.message().find("'" + p + "' exists and was not overwritten; pass --force"), std::string::npos) << s.message();
  }
  const Status loop = refuse_existing_outputs({path("loop") + "/report.json"}, Overwrite::kRefuse);
  EXPECT_EQ(loop.code(), StatusCode::kUnavailable) << loop.to_string();
  EXPECT_TRUE(refuse_existing_outputs({path("taken.md")}, Overwrite::kAllow).ok());
}

TEST_F(AtomicFileTest, PlantedSymlinkAtTheTemporaryNameIsNotWrittenThrough) {
  // The temporary was path + ".tmp.<pid>", opened O_CREAT|O_TRUNC without O_NOFOLLOW: a
  // symlink planted there truncated and overwrote its target.
  std::ofstream(path("victim")) << "precious";
  fs::create_symlink(path("victim"), path("a.json.tmp." + std::to_string(::getpid())));
  ASSERT_TRUE(write_file_atomically(path("a.json"), "report", Overwrite::kAllow).ok());
  EXPECT_EQ(slurp(path("victim")), "precious");
  EXPECT_EQ(slurp(path("a.json")), "report");
}

TEST_F(AtomicFileTest, FileCreatedBeforeTheRenameIsKept) {
  // Someone creates the target after the existence check: the rename itself must refuse.
  const Status s = write_file_atomically_with(
      path("a.safetensors"),
      [&](const std::string& temp) {
        std::ofstream(path("a.safetensors")) << "theirs";
        std::ofstream(temp) << "ours";
        return Status();
      },
      Overwrite::kRefuse);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.to_string();
  EXPECT_EQ(slurp(path("a.safetensors")), "theirs");
  EXPECT_EQ(others({"a.safetensors"}), std::vector<std::string>{});
}

TEST_F(AtomicFileTest, ConcurrentRefusingWritersCreateOnceAndNeverReplace) {
  // Check-then-rename let several writers "succeed", each replacing the previous file.
  constexpr int kRounds = 40, kThreads = 6;
  for (int round = 0; round < kRounds; ++round) {
    const std::string target = path("r" + std::to_string(round));
    std::atomic<int> succeeded{0}, refused{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        while (!go) std::this_thread::yield();
        const Status s = write_file_atomically(target, "writer " + std::to_string(t), Overwrite::kRefuse);
        if (s.ok()) ++succeeded;
        else if (s.code() == StatusCode::kFailedPrecondition) ++refused;
      });
    }
    go = true;
    for (auto& th : threads) th.join();
    ASSERT_EQ(succeeded.load(), 1) << "round " << round;
    ASSERT_EQ(refused.load(), kThreads - 1) << "round " << round;
  }
  std::vector<std::string> keep;
  for (int round = 0; round < kRounds; ++round) keep.push_back("r" + std::to_string(round));
  EXPECT_EQ(others(keep), std::vector<std::string>{});
}

TEST_F(AtomicFileTest, FailuresCloseTheDescriptorAndRemoveTheTemporary) {
  // The target is a non-empty directory: the rename fails after the file was written.
  fs::create_directories(path("busy/child"));
  const int before = open_fds();
  for (int i = 0; i < 20; ++i) {
    const Status s = write_file_atomically(path("busy"), "x", Overwrite::kAllow);
    EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.to_string();
    const Status w = write_file_atomically_with(path("busy"), [](const std::string& t) {
      std::ofstream(t) << "x";
      return Status();
    }, Overwrite::kAllow);
    EXPECT_EQ(w.code(), StatusCode::kUnavailable) << w.to_string();
    // The producer's own error comes back as is, and its partial output is removed.
    const Status p = write_file_atomically_with(path("p.bin"), [](const std::string& t) {
      std::ofstream(t) << "partial";
      return invalid_argument("duplicate tensor name");
    }, Overwrite::kRefuse);
    EXPECT_EQ(p.code(), StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(open_fds(), before);
  EXPECT_EQ(others({"busy"}), std::vector<std::string>{});
  // A directory that cannot be created: an error, not a crash.
  std::ofstream(path("plainfile")) << "x";
  EXPECT_FALSE(write_file_atomically(path("plainfile/a.json"), "x", Overwrite::kAllow).ok());
}

TEST_F(AtomicFileTest, DirectoryLockSerialises) {
  std::atomic<bool> second_holds{false};
  std::thread other;
  {
    auto lock = DirectoryLock::acquire(path("golden"));
    ASSERT_TRUE(lock.ok()) << lock.status().to_string();
    other = std::thread([&] {
      auto l = DirectoryLock::acquire(path("golden"));
      ASSERT_TRUE(l.ok());
      second_holds = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    EXPECT_FALSE(second_holds.load()) << "the second lock was granted while the first was held";
  }
  other.join();
  EXPECT_TRUE(second_holds.load());
}

TEST_F(AtomicFileTest, ReadFileRefusesFifoDirectoryAndMissing) {
  ASSERT_EQ(::mkfifo(path("fifo").c_str(), 0600), 0);
  // Was std::ifstream: blocked forever waiting for a writer.
  const auto fifo = read_file(path("fifo"));
  EXPECT_EQ(fifo.status().code(), StatusCode::kInvalidArgument) << fifo.status().to_string();
  EXPECT_NE(fifo.status().message().find("not a regular file"), std::string::npos);
  EXPECT_EQ(read_file(dir_.string()).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(read_file(path("missing")).status().code(), StatusCode::kNotFound);
  std::ofstream(path("ok")) << std::string(200000, 'z');
  const auto ok = read_file(path("ok"));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok.value(), std::string(200000, 'z'));
}

}  // namespace
}  // namespace wan
