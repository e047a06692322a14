// Command-line flags for `repro`: --name value or --name=value, boolean --name, positional
// arguments. Every flag a command reads must be declared; unknown flags are errors that list
// the known ones.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "engine/core/status.h"

namespace wan::cli {

class Flags {
 public:
  // value_flags take a value; bool_flags do not. Errors: unknown flag, missing value.
  static Result<Flags> parse(const std::vector<std::string>& args,
                             const std::set<std::string>& value_flags,
                             const std::set<std::string>& bool_flags);
  bool has(const std::string& name) const { return values_.count(name) > 0; }
  std::string get(const std::string& name, const std::string& fallback = "") const;
  Result<int64_t> get_int(const std::string& name, int64_t fallback) const;
  Result<double> get_double(const std::string& name, double fallback) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

}  // namespace wan::cli
