#include "engine/core/json_reader.h"

#include <cctype>
#include <cmath>
#include <set>
#include <stdexcept>

namespace wan {
namespace {

// Thrown from the parser callback to stop at the first structural problem (the parser unwinds
// cleanly: what it built so far is at most max_depth deep).
struct StopParse : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// What a value looks like in an error message: its type and a short preview.
std::string describe(const nlohmann::json& v) {
  // Containers by size (dumping a large one for a message would cost as much as the parse).
  if (v.is_array() && !v.empty()) return "array of " + std::to_string(v.size());
  if (v.is_object() && !v.empty()) return "object of " + std::to_string(v.size()) + " fields";
  std::string text = v.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  std::string type = v.type_name();
  if (v.is_number_integer()) type = "integer";
  if (v.is_number_float()) type = "number";
  return type + " " + text;
}

bool is_identifier(std::string_view key) {
  if (key.empty()) return false;
  for (char c : key)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return !std::isdigit(static_cast<unsigned char>(key[0]));
}

}  // namespace

Result<nlohmann::json> parse_json(std::string_view text, const JsonSource& source, int max_depth) {
  // One key set per open object, to reject a key repeated in one object (the parser keeps the
  // last silently, so two readers of one file could disagree).
  std::vector<std::set<std::string>> keys;
  const nlohmann::json::parser_callback_t check = [&](int depth, nlohmann::json::parse_event_t event,
                                                      nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    switch (event) {
      case Event::object_start:
      case Event::array_start:
        // `depth` counts the containers already open around this one.
        if (depth + 1 > max_depth)
          throw StopParse("nesting is deeper than " + std::to_string(max_depth) + " levels");
        if (event == Event::object_start) keys.emplace_back();
        break;
      case Event::object_end:
        keys.pop_back();
        break;
      case Event::key:
        if (!keys.back().insert(parsed.get<std::string>()).second)
          throw StopParse("key \"" + parsed.get<std::string>() + "\" appears twice in one object");
        break;
      default:
        break;
    }
    return true;
  };
  try {
    return nlohmann::json::parse(text.begin(), text.end(), check);
  } catch (const StopParse& e) {
    return data_loss(source.what + " is not valid: " + e.what() + "; " + source.fix);
  } catch (const nlohmann::json::exception& e) {
    // parse_error (syntax, UTF-8) and out_of_range (a number beyond a double, 1e400) alike.
    return data_loss(source.what + " is not valid JSON (" + e.what() + "); " + source.fix);
  }
}

bool JsonValue::has(std::string_view key) const {
  return value_->is_object() && value_->find(key) != value_->end();
}

Status JsonValue::error(const std::string& problem) const {
  return data_loss(source_->what + ": " + (path_.empty() ? std::string("the top level") : path_) + " " +
                   problem + "; " + source_->fix);
}

Status JsonValue::type_error(const std::string& expected) const {
  return error("must be " + expected + " (got " + describe(*value_) + ")");
}

JsonValue JsonValue::child(std::string_view key, const nlohmann::json& value) const {
  std::string path = path_;
  if (is_identifier(key)) {
    path += (path.empty() ? "" : ".") + std::string(key);
  } else {
    path += "[" + nlohmann::json(std::string(key)).dump(-1, ' ', true, nlohmann::json::error_handler_t::replace) + "]";
  }
  return JsonValue(&value, source_, std::move(path));
}

JsonValue JsonValue::child(size_t index, const nlohmann::json& value) const {
  return JsonValue(&value, source_, path_ + "[" + std::to_string(index) + "]");
}

Status JsonValue::expect_object() const {
  return value_->is_object() ? Status() : type_error("an object");
}

Status JsonValue::expect_array() const {
  return value_->is_array() ? Status() : type_error("an array");
}

Result<std::string> JsonValue::as_string() const {
  if (!value_->is_string()) return type_error("a string");
  return value_->get<std::string>();
}

Result<bool> JsonValue::as_bool() const {
  if (!value_->is_boolean()) return type_error("true or false");
  return value_->get<bool>();
}

Result<int64_t> JsonValue::as_int(int64_t min, int64_t max) const {
  const std::string range = "an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
  if (value_->is_number_unsigned()) {
    const uint64_t u = value_->get<uint64_t>();
    if (max < 0 || u > static_cast<uint64_t>(max)) return type_error(range);
    const int64_t v = static_cast<int64_t>(u);
    if (v < min) return type_error(range);
    return v;
  }
  if (value_->is_number_integer()) {
    const int64_t v = value_->get<int64_t>();
    if (v < min || v > max) return type_error(range);
    return v;
  }
  return type_error(range);
}

Result<uint64_t> JsonValue::as_uint(uint64_t max) const {
  const std::string range = "an integer in [0, " + std::to_string(max) + "]";
  if (value_->is_number_unsigned()) {
    const uint64_t u = value_->get<uint64_t>();
    if (u > max) return type_error(range);
    return u;
  }
  if (value_->is_number_integer() && value_->get<int64_t>() >= 0) {
    const uint64_t u = static_cast<uint64_t>(value_->get<int64_t>());
    if (u > max) return type_error(range);
    return u;
  }
  return type_error(range);
}

Result<double> JsonValue::as_number(double min, double max) const {
  auto range = [&] {
    std::string r = "a finite number";
    if (min != -std::numeric_limits<double>::max() || max != std::numeric_limits<double>::max()) {
      r += " in [" + nlohmann::json(min).dump() + ", " + nlohmann::json(max).dump() + "]";
    }
    return r;
  };
  if (!value_->is_number()) return type_error(range());
  const double v = value_->get<double>();
  if (!std::isfinite(v) || v < min || v > max) return type_error(range());
  return v;
}

Result<std::string> JsonValue::as_sha1() const {
  constexpr size_t kSha1HexChars = 40;
  if (value_->is_string()) {
    const std::string& s = value_->get_ref<const std::string&>();
    if (s.size() == kSha1HexChars && s.find_first_not_of("0123456789abcdef") == std::string::npos) return s;
  }
  return type_error("a SHA-1 (40 lowercase hexadecimal digits)");
}

Result<JsonValue> JsonValue::field(std::string_view key) const {
  if (!value_->is_object()) return type_error("an object");
  const auto it = value_->find(key);
  if (it == value_->end()) return error("has no field \"" + std::string(key) + "\"");
  return child(key, *it);
}

Result<JsonValue> JsonValue::object_field(std::string_view key) const {
  WAN_ASSIGN_OR_RETURN(JsonValue v, field(key));
  WAN_RETURN_IF_ERROR(v.expect_object());
  return v;
}

Result<JsonValue> JsonValue::array_field(std::string_view key) const {
  WAN_ASSIGN_OR_RETURN(JsonValue v, field(key));
  WAN_RETURN_IF_ERROR(v.expect_array());
  return v;
}

Result<std::string> JsonValue::string_field(std::string_view key) const {
  WAN_ASSIGN_OR_RETURN(JsonValue v, field(key));
  return v.as_string();
}

Result<bool> JsonValue::bool_field(std::string_view key) const {
  WAN_ASSIGN_OR_RETURN(JsonValue v, field(key));
  return v.as_bool();
}

Result<int64_t> JsonValue::int_field(std::string_view key, int64_t min, int64_t max) const {
  WAN_ASSIGN_OR_RETURN(JsonValue v, field(key));
  return v.as_int(min, max);
}

Result<uint64_t> JsonValue::uint_field(std::string_view key, uint64_t max) const {
  WAN_ASSIGN_OR_RETURN(JsonValue v, field(key));
  return v.as_uint(max);
}

Result<double> JsonValue::number_field(std::string_view key, double min, double max) const {
  WAN_ASSIGN_OR_RETURN(JsonValue v, field(key));
  return v.as_number(min, max);
}

Result<std::string> JsonValue::sha1_field(std::string_view key) const {
  WAN_ASSIGN_OR_RETURN(JsonValue v, field(key));
  return v.as_sha1();
}

Result<std::string> JsonValue::string_field_or(std::string_view key, std::string fallback) const {
  if (!value_->is_object()) return type_error("an object");
  if (!has(key)) return fallback;
  return string_field(key);
}

Result<bool> JsonValue::bool_field_or(std::string_view key, bool fallback) const {
  if (!value_->is_object()) return type_error("an object");
  if (!has(key)) return fallback;
  return bool_field(key);
}

Result<int64_t> JsonValue::int_field_or(std::string_view key, int64_t fallback, int64_t min, int64_t max) const {
  if (!value_->is_object()) return type_error("an object");
  if (!has(key)) return fallback;
  return int_field(key, min, max);
}

Result<double> JsonValue::number_field_or(std::string_view key, double fallback, double min, double max) const {
  if (!value_->is_object()) return type_error("an object");
  if (!has(key)) return fallback;
  return number_field(key, min, max);
}

Result<std::vector<JsonValue>> JsonValue::elements() const {
  WAN_RETURN_IF_ERROR(expect_array());
  std::vector<JsonValue> out;
  out.reserve(value_->size());
  for (size_t i = 0; i < value_->size(); ++i) out.push_back(child(i, (*value_)[i]));
  return out;
}

Result<std::vector<std::pair<std::string, JsonValue>>> JsonValue::members() const {
  WAN_RETURN_IF_ERROR(expect_object());
  std::vector<std::pair<std::string, JsonValue>> out;
  for (auto it = value_->begin(); it != value_->end(); ++it) out.emplace_back(it.key(), child(it.key(), it.value()));
  return out;
}

Result<std::vector<int64_t>> JsonValue::as_int_array(int64_t min, int64_t max) const {
  WAN_ASSIGN_OR_RETURN(std::vector<JsonValue> items, elements());
  std::vector<int64_t> out;
  out.reserve(items.size());
  for (const JsonValue& item : items) {
    WAN_ASSIGN_OR_RETURN(const int64_t v, item.as_int(min, max));
    out.push_back(v);
  }
  return out;
}

Result<std::vector<std::string>> JsonValue::as_string_array() const {
  WAN_ASSIGN_OR_RETURN(std::vector<JsonValue> items, elements());
  std::vector<std::string> out;
  out.reserve(items.size());
  for (const JsonValue& item : items) {
    WAN_ASSIGN_OR_RETURN(std::string v, item.as_string());
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace wan
