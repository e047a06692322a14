#include "harness/cli/flags.h"

#include <cerrno>
#include <cstdlib>

namespace wan::cli {

Result<Flags> Flags::parse(const std::vector<std::string>& args, const std::set<std::string>& value_flags,
                           const std::set<std::string>& bool_flags) {
  Flags f;
  auto known = [&] {
    std::string list;
    for (const auto& n : value_flags) list += " --" + n;
    for (const auto& n : bool_flags) list += " --" + n;
    return list;
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) != 0 || a == "--") {
      f.positional_.push_back(a);
      continue;
    }
    std::string name = a.substr(2), value;
    const size_t eq = name.find('=');
    const bool inline_value = eq != std::string::npos;
    if (inline_value) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (bool_flags.count(name)) {
      if (inline_value) return invalid_argument("--" + name + " takes no value");
      f.values_[name] = "true";
    } else if (value_flags.count(name)) {
      if (!inline_value) {
        if (i + 1 >= args.size()) return invalid_argument("--" + name + " needs a value");
        value = args[++i];
      }
      f.values_[name] = value;
    } else {
      return invalid_argument("unknown flag --" + name + "; this command accepts:" + known());
    }
  }
  return f;
}

std::string Flags::get(const std::string& name, const std::string& fallback) const {
  const auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

Result<int64_t> Flags::get_int(const std::string& name, int64_t fallback) const {
  if (!has(name)) return fallback;
  const std::string v = get(name);
  char* end = nullptr;
  errno = 0;
  const long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno != 0)
    return invalid_argument("--" + name + " needs an integer, got '" + v + "'");
  return static_cast<int64_t>(x);
}

Result<double> Flags::get_double(const std::string& name, double fallback) const {
  if (!has(name)) return fallback;
  const std::string v = get(name);
  char* end = nullptr;
  const double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0') return invalid_argument("--" + name + " needs a number, got '" + v + "'");
  return x;
}

}  // namespace wan::cli
