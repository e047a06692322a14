// Golden files: record and check round trip; every malformed golden (non-object `recorded`,
// schema_version that only truncates to 1, non-hex hashes, numbers beyond a double, deep
// nesting, another case's file) is DATA_LOSS naming the file and the fix; concurrent updates
// of one case keep every class.
#include "harness/golden_store.h"

#include <unistd.h>

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

const std::string kSha1A = "0123456789abcdef0123456789abcdef01234567";
const std::string kSha1B = "89abcdef0123456789abcdef0123456789abcdef";

Fingerprint fingerprint(const std::string& id) {
  Fingerprint fp;
  fp.class_fields = {{"device_type", "cpu"}, {"id", id}};
  fp.fields = fp.class_fields;
  fp.class_id = id;
  return fp;
}

class GoldenStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    dir_ = (fs::path(tmp ? tmp : "/tmp") / ("golden_store_test_" + std::to_string(::getpid()) + "_" +
                                            ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Records a fresh golden, then rewrites the file through `edit` of its JSON.
  std::string recorded_then(const std::function<void(nlohmann::json&)>& edit) {
    fs::remove_all(dir_);
    auto u = update_golden(dir_, case_, fingerprint("cls"), kSha1A, false);
    EXPECT_TRUE(u.ok()) << u.status().to_string();
    std::ifstream in(u->file);
    nlohmann::json j = nlohmann::json::parse(in);
    edit(j);
    std::ofstream(u->file) << j.dump(2);
    return u->file;
  }
  void write_raw(const std::string& text) {
    fs::create_directories(dir_);
    std::ofstream(golden_path(dir_, case_)) << text;
  }
  Status check() const { return check_golden(dir_, case_, fingerprint("cls"), kSha1A).status(); }
  static void expect_data_loss(const Status& s, const std::string& fragment) {
    EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s.to_string();
    EXPECT_NE(s.message().find("golden file '"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("repro golden update --force"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find(fragment), std::string::npos) << s.message();
  }

  std::string dir_;
  RunCase case_;
};

TEST_F(GoldenStoreTest, RecordThenCheck) {
  auto u = update_golden(dir_, case_, fingerprint("cls"), kSha1A, false);
  ASSERT_TRUE(u.ok()) << u.status().to_string();
  EXPECT_TRUE(u->changed);
  auto c = check_golden(dir_, case_, fingerprint("cls"), kSha1A);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->verdict, GoldenVerdict::kMatch);
  c = check_golden(dir_, case_, fingerprint("cls"), kSha1B);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->verdict, GoldenVerdict::kMismatch);
  c = check_golden(dir_, case_, fingerprint("other"), kSha1A);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->verdict, GoldenVerdict::kNotComparable);
  // A different hash is refused without force, replaced with it.
  EXPECT_EQ(update_golden(dir_, case_, fingerprint("cls"), kSha1B, false).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_TRUE(update_golden(dir_, case_, fingerprint("cls"), kSha1B, true).ok());
  EXPECT_EQ(check_golden(dir_, case_, fingerprint("cls"), kSha1B)->verdict, GoldenVerdict::kMatch);
}

TEST_F(GoldenStoreTest, RecordedThatIsNotAnObjectIsDataLoss) {
  // Was std::terminate (value() on a string) after the whole generation had run.
  recorded_then([](nlohmann::json& j) { j["goldens"]["cls"]["recorded"] = "yesterday"; });
  expect_data_loss(check(), "goldens.cls.recorded must be an object");
  recorded_then([](nlohmann::json& j) { j["goldens"]["cls"]["recorded"]["engine_commit"] = 5; });
  expect_data_loss(check(), "goldens.cls.recorded.engine_commit must be a string");
}

TEST_F(GoldenStoreTest, SchemaVersionIsCheckedExactly) {
  // get<int>() truncated 4294967297 to 1 and accepted it.
  recorded_then([](nlohmann::json& j) { j["schema_version"] = 4294967297ULL; });
  expect_data_loss(check(), "schema_version 4294967297");
  recorded_then([](nlohmann::json& j) { j["schema_version"] = 1.5; });
  expect_data_loss(check(), "schema_version must be an integer");
}

TEST_F(GoldenStoreTest, HashesMustBeHex) {
  recorded_then([](nlohmann::json& j) { j["goldens"]["cls"]["latents_sha1"] = std::string(40, 'z'); });
  expect_data_loss(check(), "goldens.cls.latents_sha1 must be a SHA-1");
}

TEST_F(GoldenStoreTest, MalformedJsonIsDataLoss) {
  write_raw(R"({"schema_version": 1, "case": {}, "goldens": {}, "x": 1e400})");
  expect_data_loss(check(), "not valid JSON");
  write_raw(std::string(100000, '[') + std::string(100000, ']'));
  expect_data_loss(check(), "deeper than");
  write_raw("[]");
  expect_data_loss(check(), "the top level must be an object");
}

TEST_F(GoldenStoreTest, AnotherCasesFileIsDataLoss) {
  recorded_then([](nlohmann::json& j) { j["case"]["seed"] = 7; });
  expect_data_loss(check(), "renamed or edited by hand");
  EXPECT_EQ(update_golden(dir_, case_, fingerprint("cls"), kSha1A, false).status().code(), StatusCode::kDataLoss);
}

TEST_F(GoldenStoreTest, ConcurrentUpdatesKeepEveryClass) {
  // Without a lock, read-modify-write updates of one file lost all but the last writer's class.
  constexpr int kWriters = 8;
  std::vector<std::thread> threads;
  std::vector<Status> results(kWriters);
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&, t] {
      results[t] = update_golden(dir_, case_, fingerprint("class" + std::to_string(t)), kSha1A, false).status();
    });
  }
  for (auto& th : threads) th.join();
  for (const Status& s : results) EXPECT_TRUE(s.ok()) << s.to_string();
  auto j = read_golden_file(golden_path(dir_, case_));
  ASSERT_TRUE(j.ok()) << j.status().to_string();
  EXPECT_EQ(j.value()["goldens"].size(), static_cast<size_t>(kWriters));
}

TEST(RunCaseFromJson, RoundTripsAndChecksTypesAndRanges) {
  RunCase c;
  auto back = RunCase::from_json(c.to_json());
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->case_id(), c.case_id());
  nlohmann::json j = c.to_json();
  j["steps"] = 4294967297ULL;  // get<int>() made this 1 step
  EXPECT_EQ(RunCase::from_json(j).status().code(), StatusCode::kDataLoss);
  j = c.to_json();
  j["frames"] = -5;
  EXPECT_EQ(RunCase::from_json(j).status().code(), StatusCode::kDataLoss);
  j = c.to_json();
  j["guidance"] = "3";
  const Status s = RunCase::from_json(j).status();
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("guidance must be a finite number"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace wan
