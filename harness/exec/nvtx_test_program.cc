// A CPU-only program for `repro exec`'s tests: NVTX ranges "denoise" > "step/i" (each step
// sleeps), then writes an output file. Usage: nvtx_test_program STEPS SLEEP_MS [OUT_FILE]
#include <nvtx3/nvToolsExt.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: nvtx_test_program STEPS SLEEP_MS [OUT_FILE]\n");
    return 2;
  }
  const int steps = std::atoi(argv[1]), sleep_ms = std::atoi(argv[2]);
  nvtxRangePushA("denoise");
  for (int i = 0; i < steps; ++i) {
    nvtxRangePushA(("step/" + std::to_string(i)).c_str());
    std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
    nvtxRangePop();
  }
  nvtxRangePop();
  if (argc > 3) {
    FILE* f = std::fopen(argv[3], "w");
    if (!f) return 3;
    std::fprintf(f, "%d steps\n", steps);
    std::fclose(f);
  }
  return 0;
}
