// A main for the fuzz targets under plain `bazel test` (no libFuzzer): runs the target once on
// every file of the corpus directories given as arguments, so the seeds and every regression
// input found by fuzzing are checked in CI. Fails when a directory holds no input.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  int total = 0;
  for (int i = 1; i < argc; ++i) {
    int here = 0;
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::recursive_directory_iterator(argv[i]))
      if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& path : files) {
      std::ifstream in(path, std::ios::binary);
      const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      std::fprintf(stderr, "replay %s (%zu bytes)\n", path.c_str(), bytes.size());
      LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
      ++here;
    }
    if (here == 0) {
      std::fprintf(stderr, "no inputs in %s\n", argv[i]);
      return 1;
    }
    total += here;
  }
  std::printf("replayed %d inputs\n", total);
  return total > 0 ? 0 : 1;
}
