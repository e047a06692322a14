// parse_json and JsonValue: every malformed input is a DATA_LOSS Status naming the file, the
// field path and the fix (never an exception, an abort or a silently truncated value).
#include "engine/core/json_reader.h"

#include <string>

#include <gtest/gtest.h>

namespace wan {
namespace {

const JsonSource kSource{"test file 'x.json'", "regenerate it"};

nlohmann::json parse_ok(const std::string& text) {
  auto j = parse_json(text, kSource);
  EXPECT_TRUE(j.ok()) << j.status().to_string();
  return j.ok() ? j.value() : nlohmann::json();
}

void expect_data_loss(const Status& s, const std::string& fragment) {
  EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s.to_string();
  EXPECT_NE(s.message().find("test file 'x.json'"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("regenerate it"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(fragment), std::string::npos) << s.message();
}

TEST(ParseJson, NumberBeyondDoubleIsDataLossNotAnException) {
  // nlohmann throws out_of_range (not parse_error) for 1e400: readers that caught only
  // parse_error terminated the process.
  expect_data_loss(parse_json(R"({"a": 1e400})", kSource).status(), "not valid JSON");
  expect_data_loss(parse_json("-1e400", kSource).status(), "not valid JSON");
}

TEST(ParseJson, SyntaxErrorsAndInvalidUtf8) {
  expect_data_loss(parse_json("{\"a\": ", kSource).status(), "not valid JSON");
  expect_data_loss(parse_json("", kSource).status(), "not valid JSON");
  expect_data_loss(parse_json("\"\xff\"", kSource).status(), "not valid JSON");
  expect_data_loss(parse_json("NaN", kSource).status(), "not valid JSON");
}

TEST(ParseJson, DepthLimit) {
  const int kDeep = 100000;  // overflowed the stack in recursive copies, dump() and ==
  expect_data_loss(parse_json(std::string(kDeep, '[') + std::string(kDeep, ']'), kSource).status(),
                   "deeper than 64 levels");
  std::string objects;
  for (int i = 0; i < 65; ++i) objects += "{\"a\":";
  objects += "1" + std::string(65, '}');
  expect_data_loss(parse_json(objects, kSource).status(), "deeper than 64 levels");
  // Exactly the limit is fine.
  EXPECT_TRUE(parse_json(std::string(64, '[') + std::string(64, ']'), kSource).ok());
  EXPECT_FALSE(parse_json(std::string(65, '[') + std::string(65, ']'), kSource).ok());
  EXPECT_TRUE(parse_json("[[1]]", kSource, 2).ok());
  EXPECT_FALSE(parse_json("[[[1]]]", kSource, 2).ok());
}

TEST(ParseJson, DuplicateKeyInOneObject) {
  expect_data_loss(parse_json(R"({"a": 1, "b": {"c": 1, "c": 2}})", kSource).status(),
                   "key \"c\" appears twice");
  // The same key in different objects is fine.
  EXPECT_TRUE(parse_json(R"({"a": {"c": 1}, "b": {"c": 2}, "c": [{"c": 3}]})", kSource).ok());
}

TEST(JsonValue, MissingFieldNamesThePath) {
  const nlohmann::json doc = parse_ok(R"({"runs": [{"seed": 1}, {"latents_sha1": "x"}]})");
  const JsonValue root(doc, kSource);
  auto runs = root.array_field("runs");
  ASSERT_TRUE(runs.ok());
  auto items = runs->elements();
  ASSERT_TRUE(items.ok());
  ASSERT_EQ(items->size(), 2u);
  EXPECT_EQ(items->at(0).uint_field("seed").value(), 1u);
  expect_data_loss(items->at(1).uint_field("seed").status(), "runs[1] has no field \"seed\"");
}

TEST(JsonValue, WrongTypesAtTheTopLevelAndBelow) {
  const nlohmann::json arr = parse_ok("[]");
  expect_data_loss(JsonValue(arr, kSource).string_field("schema").status(), "the top level must be an object");
  expect_data_loss(JsonValue(arr, kSource).string_field_or("schema", "").status(), "must be an object");
  const nlohmann::json doc = parse_ok(R"({"schema": 5, "recorded": "x", "list": {"a": 1}})");
  const JsonValue root(doc, kSource);
  expect_data_loss(root.string_field("schema").status(), "schema must be a string (got integer 5)");
  expect_data_loss(root.string_field_or("schema", "").status(), "schema must be a string");
  expect_data_loss(root.object_field("recorded").status(), "recorded must be an object");
  expect_data_loss(root.array_field("list").status(), "list must be an array");
  EXPECT_EQ(root.string_field_or("absent", "fallback").value(), "fallback");
}

TEST(JsonValue, IntegersAreExactAndRanged) {
  const nlohmann::json doc =
      parse_ok(R"({"v": 4294967297, "neg": -3, "frac": 1.5, "exp": 1e3, "huge": 18446744073709551615})");
  const JsonValue root(doc, kSource);
  // 4294967297 read as int was 1: the range check refuses it.
  expect_data_loss(root.int_field("v", 0, 2147483647).status(), "v must be an integer in [0, 2147483647]");
  EXPECT_EQ(root.int_field("v").value(), 4294967297LL);
  EXPECT_EQ(root.int_field("neg", -10, 10).value(), -3);
  expect_data_loss(root.uint_field("neg").status(), "neg must be an integer in [0, ");
  expect_data_loss(root.int_field("frac").status(), "frac must be an integer");
  expect_data_loss(root.int_field("exp").status(), "exp must be an integer");
  expect_data_loss(root.int_field("huge").status(), "huge must be an integer");
  EXPECT_EQ(root.uint_field("huge").value(), 18446744073709551615ULL);
  expect_data_loss(root.uint_field("huge", 100).status(), "in [0, 100]");
  EXPECT_EQ(root.int_field_or("absent", 7, 0, 10).value(), 7);
  expect_data_loss(root.int_field_or("v", 7, 0, 10).status(), "v must be an integer in [0, 10]");
}

TEST(JsonValue, NumbersAreFiniteAndRanged) {
  nlohmann::json doc = parse_ok(R"({"x": 0.25, "i": 3, "s": "1"})");
  doc["inf"] = std::numeric_limits<double>::infinity();  // documents built in memory can hold these
  doc["nan"] = std::numeric_limits<double>::quiet_NaN();
  const JsonValue root(doc, kSource);
  EXPECT_EQ(root.number_field("x").value(), 0.25);
  EXPECT_EQ(root.number_field("i").value(), 3.0);
  expect_data_loss(root.number_field("s").status(), "s must be a finite number");
  expect_data_loss(root.number_field("inf").status(), "inf must be a finite number");
  expect_data_loss(root.number_field("nan").status(), "nan must be a finite number");
  expect_data_loss(root.number_field("x", 1.0, 2.0).status(), "x must be a finite number in [1.0, 2.0]");
  EXPECT_EQ(root.number_field_or("absent", 2.5).value(), 2.5);
}

TEST(JsonValue, Sha1IsFortyLowercaseHexDigits) {
  const nlohmann::json doc = parse_ok(
      R"({"ok": "0123456789abcdef0123456789abcdef01234567", "upper": "0123456789ABCDEF0123456789abcdef01234567",
          "short": "abc", "junk": "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"})");
  const JsonValue root(doc, kSource);
  EXPECT_TRUE(root.sha1_field("ok").ok());
  expect_data_loss(root.sha1_field("upper").status(), "upper must be a SHA-1");
  expect_data_loss(root.sha1_field("short").status(), "short must be a SHA-1");
  expect_data_loss(root.sha1_field("junk").status(), "junk must be a SHA-1");
}

TEST(JsonValue, ArraysAndMembers) {
  const nlohmann::json doc = parse_ok(R"({"shape": [1, 16, -2], "cmd": ["a", 3], "goldens": {"cpu.x86": {}, "a b": 1}})");
  const JsonValue root(doc, kSource);
  auto shape = root.field("shape");
  ASSERT_TRUE(shape.ok());
  EXPECT_EQ(shape->as_int_array().value(), (std::vector<int64_t>{1, 16, -2}));
  expect_data_loss(shape->as_int_array(0).status(), "shape[2] must be an integer in [0, ");
  expect_data_loss(root.field("cmd").value().as_string_array().status(), "cmd[1] must be a string");
  auto members = root.field("goldens").value().members();
  ASSERT_TRUE(members.ok());
  ASSERT_EQ(members->size(), 2u);
  // Keys that are not identifiers are quoted in paths.
  EXPECT_EQ(members->at(0).first, "a b");
  expect_data_loss(members->at(0).second.expect_object(), "goldens[\"a b\"] must be an object");
  EXPECT_EQ(members->at(1).second.path(), "goldens[\"cpu.x86\"]");
}

}  // namespace
}  // namespace wan
