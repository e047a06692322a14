#include "engine/attention/attention_config.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "engine/attention/attention_backend.h"

namespace wan {
namespace {

std::string backend_list() {
  std::string s;
  for (const AttentionBackendInfo& b : attention_backend_table()) {
    s += "\n  " + std::string(b.name) + " - " + std::string(b.summary);
    for (const AttentionOptionSpec& o : b.options) s += "\n      " + o.describe();
  }
  return s;
}

// The canonical text of a number: shortest %g form that reads back to the same double.
std::string canonical_number(double x) {
  char buf[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, x);
    if (std::strtod(buf, nullptr) == x) break;
  }
  return buf;
}

Result<std::string> validate(const AttentionBackendInfo& b, const AttentionOptionSpec& o, const std::string& value) {
  const std::string where = "backend " + std::string(b.name) + " option '" + o.key + "'";
  if (o.parse_text) {
    Result<std::string> r = o.parse_text(value);
    if (!r.ok()) return Status(r.status().code(), where + ": " + r.status().message());
    return r;
  }
  if (!o.choices.empty()) {
    for (const std::string& c : o.choices)
      if (c == value) return value;
    std::string list;
    for (const std::string& c : o.choices) list += (list.empty() ? "" : ", ") + c;
    return invalid_argument(where + ": '" + value + "' is not one of " + list);
  }
  errno = 0;
  char* end = nullptr;
  const double x = std::strtod(value.c_str(), &end);
  if (value.empty() || *end || errno == ERANGE || !std::isfinite(x))
    return invalid_argument(where + ": '" + value + "' is not a finite number; " + o.describe());
  const bool above = o.max_inclusive ? x > o.max : x >= o.max;
  if (x < o.min || above) return invalid_argument(where + ": " + value + " is outside the valid range; " + o.describe());
  return canonical_number(x);
}

}  // namespace

std::string AttentionOptionSpec::describe() const {
  std::string s = key + ": ";
  if (parse_text) {
    s += is_file ? "path" : "text";
  } else if (!choices.empty()) {
    std::string list;
    for (const std::string& c : choices) list += (list.empty() ? "" : "|") + c;
    s += list;
  } else {
    s += "number in [" + canonical_number(min) + ", " + canonical_number(max) + (max_inclusive ? "]" : ")");
  }
  return s + ", default " + (default_value.empty() ? "none" : default_value) + (help.empty() ? "" : " (" + help + ")");
}

std::string_view AttentionConfig::backend_name() const { return attention_backend_info(kind).name; }

const std::string& AttentionConfig::option(const std::string& key) const {
  static const std::string kEmpty;
  auto it = options.find(key);
  return it == options.end() ? kEmpty : it->second;
}

double AttentionConfig::number(const std::string& key) const { return std::strtod(option(key).c_str(), nullptr); }

std::string AttentionConfig::canonical() const {
  std::string s(backend_name());
  const AttentionBackendInfo& info = attention_backend_info(kind);
  std::string opts;
  for (const auto& [key, value] : options) {  // std::map: keys sorted
    for (const AttentionOptionSpec& o : info.options) {
      if (o.key != key || o.default_value == value) continue;
      const auto digest = file_digests.find(key);
      opts += (opts.empty() ? "" : ",") + key + "=" + value +
              (o.is_file && digest != file_digests.end() ? "@" + digest->second.substr(0, 12) : "");
    }
  }
  return opts.empty() ? s : s + ":" + opts;
}

std::string AttentionConfig::file_tag() const {
  // canonical() without separators; a file option contributes its digest, not its path.
  std::string s(backend_name());
  const AttentionBackendInfo& info = attention_backend_info(kind);
  for (const auto& [key, value] : options) {
    for (const AttentionOptionSpec& o : info.options) {
      if (o.key != key || o.default_value == value) continue;
      const auto digest = file_digests.find(key);
      std::string text = o.is_file && digest != file_digests.end() ? digest->second.substr(0, 12) : value;
      for (char& c : text)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_') c = '_';
      s += "-" + key + text;
    }
  }
  return s;
}

nlohmann::json AttentionConfig::to_json() const {
  nlohmann::json j = {{"backend", std::string(backend_name())}, {"options", options}, {"canonical", canonical()}};
  if (!file_digests.empty()) j["file_sha1"] = file_digests;
  return j;
}

Result<AttentionConfig> parse_attention_config(std::string_view text) {
  const size_t colon = text.find(':');
  const std::string name(text.substr(0, colon));
  const AttentionBackendInfo* info = nullptr;
  for (const AttentionBackendInfo& b : attention_backend_table())
    if (b.name == name) info = &b;
  if (!info)
    return invalid_argument("unknown attention backend '" + name + "'; backends in this build:" + backend_list());
  AttentionConfig config;
  config.kind = info->kind;
  for (const AttentionOptionSpec& o : info->options) config.options[o.key] = o.default_value;
  if (colon == std::string_view::npos) return config;
  std::string_view rest = text.substr(colon + 1);
  if (rest.empty()) return invalid_argument("--backend " + std::string(text) + ": nothing after ':'; give key=value options");
  std::map<std::string, bool> seen;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    const std::string item(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    const size_t eq = item.find('=');
    const std::string key = item.substr(0, eq);
    const AttentionOptionSpec* spec = nullptr;
    for (const AttentionOptionSpec& o : info->options)
      if (o.key == key) spec = &o;
    if (eq == std::string::npos || !spec) {
      std::string valid;
      for (const AttentionOptionSpec& o : info->options) valid += "\n  " + o.describe();
      if (valid.empty()) valid = " none";
      return invalid_argument("backend " + name + ": " +
                              (eq == std::string::npos ? "option '" + item + "' is not key=value"
                                                       : "unknown option '" + key + "'") +
                              "; its options:" + valid);
    }
    if (seen[key]) return invalid_argument("backend " + name + ": option '" + key + "' given twice");
    seen[key] = true;
    std::string given = item.substr(eq + 1), recorded_digest;
    if (spec->is_file) {
      // PATH or PATH@DIGEST (12 hex digits, as canonical() writes it: the digest is checked).
      const size_t at = given.rfind('@');
      if (at != std::string::npos && given.size() - at - 1 == 12 &&
          given.find_first_not_of("0123456789abcdef", at + 1) == std::string::npos) {
        recorded_digest = given.substr(at + 1);
        given.resize(at);
      }
    }
    WAN_ASSIGN_OR_RETURN(std::string value, validate(*info, *spec, given));
    if (spec->is_file) {
      if (!recorded_digest.empty() && value.compare(0, 12, recorded_digest) != 0)
        return data_loss("backend " + name + " option '" + key + "': " + given + " has SHA-1 " + value.substr(0, 12) +
                         "..., not the " + recorded_digest + "... the case was recorded with; the file changed "
                         "(restore it, or drop the @digest to run the new file as a new case)");
      config.file_digests[key] = value;
      value = given;  // the path, as given
    }
    config.options[key] = value;
  }
  return config;
}

}  // namespace wan
