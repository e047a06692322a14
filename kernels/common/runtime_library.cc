#include "kernels/common/runtime_library.h"

#include <filesystem>

namespace wan {

std::vector<std::string> runtime_library_candidates(const std::string& explicit_path, const std::string& soname,
                                                    const std::string& package) {
  namespace fs = std::filesystem;
  std::vector<std::string> out;
  if (!explicit_path.empty()) {
    std::error_code ec;
    out.push_back(fs::is_directory(explicit_path, ec) ? (fs::path(explicit_path) / soname).string() : explicit_path);
    return out;
  }
  out.push_back(soname);  // the loader's own search (LD_LIBRARY_PATH, ld.so.cache)
  out.push_back("/usr/local/cuda/lib64/" + soname);
  // pip wheels: <prefix>/lib/python3.X/{site,dist}-packages/nvidia/<package>/lib.
  for (const char* root : {"/opt", "/usr/local/lib", "/usr/lib/python3", "/root/.local/lib"}) {
    std::error_code ec;
    fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
    for (int visited = 0; !ec && it != end && visited < 200000; it.increment(ec), ++visited) {
      if (it.depth() > 8) {
        it.disable_recursion_pending();
        continue;
      }
      const fs::path& p = it->path();
      if (p.filename() == "lib" && p.parent_path().filename() == package &&
          p.parent_path().parent_path().filename() == "nvidia") {
        out.push_back((p / soname).string());
        it.disable_recursion_pending();
      }
    }
  }
  return out;
}

}  // namespace wan
