#include "harness/kernel_names.h"

#include <cxxabi.h>

#include <cctype>
#include <cstdlib>

namespace wan {

std::string stable_kernel_name(const std::string& name) {
  static const std::string kPrefix = "_GLOBAL__N__";
  std::string out = name;
  for (size_t at = out.find(kPrefix); at != std::string::npos; at = out.find(kPrefix, at + kPrefix.size())) {
    // The mangled source-name length precedes the identifier: <digits>_GLOBAL__N__...
    size_t digits = at;
    while (digits > 0 && std::isdigit(static_cast<unsigned char>(out[digits - 1]))) --digits;
    size_t length = 0;
    for (size_t i = digits; i < at; ++i) length = length * 10 + static_cast<size_t>(out[i] - '0');
    if (digits == at || length <= kPrefix.size() || at + length > out.size()) continue;
    const size_t end = at + length;  // one past the identifier
    // <hash1>_<n>_<file>_cu_<hash2>: blank the first hex run and the last '_'-separated run.
    size_t i = at + kPrefix.size();
    while (i < end && std::isxdigit(static_cast<unsigned char>(out[i]))) out[i++] = 'x';
    const size_t last = out.rfind('_', end - 1);
    if (last != std::string::npos && last > at + kPrefix.size()) {
      bool hex = last + 1 < end;
      for (size_t k = last + 1; k < end; ++k) hex = hex && std::isxdigit(static_cast<unsigned char>(out[k]));
      if (hex)
        for (size_t k = last + 1; k < end; ++k) out[k] = 'x';
    }
  }
  return out;
}

std::string readable_kernel_key(const std::string& key) {
  const size_t at = key.find(" @ ");
  const std::string name = key.substr(0, at), rest = at == std::string::npos ? "" : key.substr(at);
  int status = 0;
  char* demangled = abi::__cxa_demangle(name.c_str(), nullptr, nullptr, &status);
  if (status != 0 || !demangled) {
    std::free(demangled);
    return key;
  }
  std::string out = demangled;
  std::free(demangled);
  // Nsight's form: without the build-specific namespace spelling.
  for (size_t p; (p = out.find("wan::(anonymous namespace)::")) != std::string::npos;)
    out.replace(p, 28, "wan::");
  return out + rest;
}

}  // namespace wan
