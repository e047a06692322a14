// Checked reading of the JSON files the project trusts nothing about (goldens, run reports,
// trace files, model configs, safetensors headers and shard indexes): one parse with a nesting
// depth limit and duplicate-key rejection, and one accessor whose every read checks presence,
// type and range (integers exactly, numbers finite) and fails with DATA_LOSS naming the file,
// the field path and the fix. Not a schema language: each reader states its fields in code.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/core/status.h"

namespace wan {

// Deeper than any document the project writes (run reports nest 5 levels), shallow enough that
// recursive copies, dump() and operator== of a parsed document cannot overflow the stack.
inline constexpr int kMaxJsonDepth = 64;

// Where a document came from and how to repair it; both appear in every error message:
// {"golden file 'golden/x.json'", "restore it with `git checkout -- golden/x.json`"}.
struct JsonSource {
  std::string what;
  std::string fix;
};

// Parses `text` as one JSON document. DATA_LOSS ("<what> is not valid JSON: ...; <fix>") for
// syntax errors, invalid UTF-8, a number that does not fit a double (1e400), a key repeated in
// one object, or nesting deeper than `max_depth` (the top-level value is depth 1).
Result<nlohmann::json> parse_json(std::string_view text, const JsonSource& source,
                                  int max_depth = kMaxJsonDepth);

// A value inside a parsed document, with its path from the root ("runs[3].kernels[0].grid").
// Copies are cheap; the document and the source must outlive every JsonValue made from them.
// Every accessor returns DATA_LOSS "<what>: <path> <problem> (got <value>); <fix>".
class JsonValue {
 public:
  JsonValue(const nlohmann::json& document, const JsonSource& source)
      : value_(&document), source_(&source) {}

  const nlohmann::json& json() const { return *value_; }
  const std::string& path() const { return path_; }
  bool is_null() const { return value_->is_null(); }
  // True when this is an object holding `key` (whatever its value).
  bool has(std::string_view key) const;

  // This value as one type. Integers must be JSON integers (no fraction, no exponent) within
  // [min, max]; numbers must be finite and within [min, max].
  Status expect_object() const;
  Status expect_array() const;
  Result<std::string> as_string() const;
  Result<bool> as_bool() const;
  Result<int64_t> as_int(int64_t min = std::numeric_limits<int64_t>::min(),
                         int64_t max = std::numeric_limits<int64_t>::max()) const;
  Result<uint64_t> as_uint(uint64_t max = std::numeric_limits<uint64_t>::max()) const;
  Result<double> as_number(double min = -std::numeric_limits<double>::max(),
                           double max = std::numeric_limits<double>::max()) const;
  // A 40-character lowercase hexadecimal SHA-1.
  Result<std::string> as_sha1() const;

  // Members of an object. field() fails when this is not an object or `key` is missing.
  Result<JsonValue> field(std::string_view key) const;
  Result<JsonValue> object_field(std::string_view key) const;  // must be an object
  Result<JsonValue> array_field(std::string_view key) const;   // must be an array
  Result<std::string> string_field(std::string_view key) const;
  Result<bool> bool_field(std::string_view key) const;
  Result<int64_t> int_field(std::string_view key, int64_t min = std::numeric_limits<int64_t>::min(),
                            int64_t max = std::numeric_limits<int64_t>::max()) const;
  Result<uint64_t> uint_field(std::string_view key,
                              uint64_t max = std::numeric_limits<uint64_t>::max()) const;
  Result<double> number_field(std::string_view key, double min = -std::numeric_limits<double>::max(),
                              double max = std::numeric_limits<double>::max()) const;
  Result<std::string> sha1_field(std::string_view key) const;

  // Optional members: the fallback when `key` is absent; an error when it is present with the
  // wrong type or out of range (a present-but-wrong field is corruption, not a default).
  Result<std::string> string_field_or(std::string_view key, std::string fallback) const;
  Result<bool> bool_field_or(std::string_view key, bool fallback) const;
  Result<int64_t> int_field_or(std::string_view key, int64_t fallback,
                               int64_t min = std::numeric_limits<int64_t>::min(),
                               int64_t max = std::numeric_limits<int64_t>::max()) const;
  Result<double> number_field_or(std::string_view key, double fallback,
                                 double min = -std::numeric_limits<double>::max(),
                                 double max = std::numeric_limits<double>::max()) const;

  // Elements of an array (fails when this is not an array), and members of an object in key
  // order (fails when this is not an object).
  Result<std::vector<JsonValue>> elements() const;
  Result<std::vector<std::pair<std::string, JsonValue>>> members() const;
  // Arrays of one element type, e.g. a shape: "[1, 16, 21]".
  Result<std::vector<int64_t>> as_int_array(int64_t min = std::numeric_limits<int64_t>::min(),
                                            int64_t max = std::numeric_limits<int64_t>::max()) const;
  Result<std::vector<std::string>> as_string_array() const;

  // DATA_LOSS for a problem this accessor cannot see (a value inconsistent with another):
  // "<what>: <path> <problem>; <fix>".
  Status error(const std::string& problem) const;

 private:
  JsonValue(const nlohmann::json* value, const JsonSource* source, std::string path)
      : value_(value), source_(source), path_(std::move(path)) {}
  JsonValue child(std::string_view key, const nlohmann::json& value) const;
  JsonValue child(size_t index, const nlohmann::json& value) const;
  Status type_error(const std::string& expected) const;

  const nlohmann::json* value_;
  const JsonSource* source_;
  std::string path_;
};

}  // namespace wan
