// Trace documents: diff_traces finds the first divergent op, and every malformed trace (a
// non-string schema, dump_file or command, integers that only truncate to valid ones, shapes
// that overflow, non-hex hashes, missing fields, 1e400, deep nesting) is DATA_LOSS naming the
// field instead of an exception that terminated `repro trace --diff`.
#include "harness/trace.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <functional>

#include <gtest/gtest.h>

namespace wan {
namespace {

// A two-op trace; `bump` changes the second op's output by one element.
nlohmann::json make_trace(float bump = 0.0f) {
  TraceRecorder recorder;
  recorder.on_forward_begin(0, 999, "cond");
  Tensor a = Tensor::zeros({2, 3}, DType::kF32).value();
  recorder.on_op(0, "norm1", a);
  Tensor b = Tensor::zeros({2, 3}, DType::kF32).value();
  b.data<float>()[4] = bump;
  recorder.on_op(0, "attn", b);
  return trace_to_json(recorder, {{"model", "wan-tiny"}}, {{"device", "cpu"}}, std::string(40, '0'),
                       {"/bin/repro", "trace"}, "");
}

void expect_data_loss(const Status& s, const std::string& fragment) {
  EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s.to_string();
  EXPECT_NE(s.message().find(fragment), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("repro trace --out"), std::string::npos) << s.message();
}

TEST(Trace, DiffFindsTheFirstDivergentOp) {
  auto same = diff_traces(make_trace(), make_trace());
  ASSERT_TRUE(same.ok()) << same.status().to_string();
  EXPECT_TRUE(same->identical);
  auto d = diff_traces(make_trace(), make_trace(1.0f));
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  EXPECT_FALSE(d->identical);
  EXPECT_FALSE(d->structural);
  EXPECT_EQ(d->index, 1u);
  EXPECT_EQ(d->a.op, "attn");
  EXPECT_EQ(d->a.shape, (Shape{2, 3}));
}

TEST(Trace, MalformedFieldsAreDataLoss) {
  const nlohmann::json good = make_trace();
  auto diff_with = [&](const std::function<void(nlohmann::json&)>& edit) {
    nlohmann::json t = good;
    edit(t);
    return diff_traces(good, t).status();
  };
  // value("schema", "") on a number threw type_error: exit 134.
  expect_data_loss(diff_with([](nlohmann::json& t) { t["schema"] = 5; }), "trace B: schema must be a string");
  expect_data_loss(diff_with([](nlohmann::json& t) { t["schema"] = "wan-repro.run"; }), "not \"wan-repro.trace\"");
  expect_data_loss(diff_with([](nlohmann::json& t) { t["dump_file"] = 5; }), "dump_file must be a string");
  expect_data_loss(diff_with([](nlohmann::json& t) { t["command"] = "repro"; }), "command must be an array");
  expect_data_loss(diff_with([](nlohmann::json& t) { t["command"] = {"repro", 3}; }), "command[1] must be a string");
  // get<int>() truncated these to valid values.
  expect_data_loss(diff_with([](nlohmann::json& t) { t["schema_version"] = 4294967297ULL; }), "schema_version 4294967297");
  expect_data_loss(diff_with([](nlohmann::json& t) { t["records"][1]["step"] = 4294967296ULL; }), "records[1].step must be an integer");
  expect_data_loss(diff_with([](nlohmann::json& t) { t["records"][0]["block"] = -2; }), "records[0].block must be an integer in [-1,");
  expect_data_loss(diff_with([](nlohmann::json& t) { t["records"][0]["step"] = 0.5; }), "records[0].step must be an integer");
  expect_data_loss(diff_with([](nlohmann::json& t) { t["records"][0]["shape"] = {4294967296LL, 4294967296LL}; }),
                   "records[0].shape has more elements than an int64 counts");
  expect_data_loss(diff_with([](nlohmann::json& t) { t["records"][0]["shape"] = {-1}; }), "records[0].shape[0]");
  expect_data_loss(diff_with([](nlohmann::json& t) { t["records"][0]["sha1"] = "xyz"; }), "records[0].sha1 must be a SHA-1");
  expect_data_loss(diff_with([](nlohmann::json& t) { t["records"][1].erase("chain"); }), "records[1] has no field \"chain\"");
  expect_data_loss(diff_with([](nlohmann::json& t) { t["records"] = nlohmann::json::object(); }), "records must be an array");
  expect_data_loss(diff_traces(nlohmann::json::array(), good).status(), "trace A: the top level must be an object");
}

TEST(Trace, ReadTraceFileRejectsMalformedJson) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(tmp ? tmp : "/tmp") + "/trace_test_" + std::to_string(::getpid()) + ".json";
  auto read = [&](const std::string& text) {
    std::ofstream(path) << text;
    return read_trace_file(path).status();
  };
  expect_data_loss(read(R"({"schema": "wan-repro.trace", "x": 1e400})"), "not valid JSON");
  expect_data_loss(read(std::string(100000, '{') ), "not valid JSON");
  expect_data_loss(read(std::string(100000, '[') + std::string(100000, ']')), "deeper than");
  EXPECT_TRUE(read(make_trace().dump()).ok());
  std::remove(path.c_str());
}

}  // namespace
}  // namespace wan
