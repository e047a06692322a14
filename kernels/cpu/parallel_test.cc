// parallel_for's pool under churn: 200,000 short regions back to back on 64 threads (workers
// still leaving one region while the next begins), every chunk run exactly once per region, and
// no hang (the test's timeout). Before the pool waited for workers to leave drain(), a worker
// preempted between taking a ticket and comparing it with the region's size could run a chunk
// of the next region twice, and that region never ended. That window is a few instructions: this
// stress test did not catch the old code in 3 runs here, so it guards against regressions by
// chance. The fix is argued in parallel.cc.
#include "kernels/cpu/parallel.h"

#include <atomic>
#include <vector>

#include <gtest/gtest.h>

namespace wan::cpu {
namespace {

TEST(ParallelFor, EveryChunkOnceAcrossManyShortRegions) {
  ASSERT_GT(cpu_thread_count(), 1) << "the BUILD sets WAN_CPU_THREADS=64";
  std::vector<std::atomic<int>> runs(16);
  int64_t wrong = 0;
  for (int region = 0; region < 200000; ++region) {
    const int64_t n = 2 + region % 15;
    for (auto& r : runs) r.store(0, std::memory_order_relaxed);
    parallel_for(n, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) runs[i].fetch_add(1, std::memory_order_relaxed);
    });
    for (int64_t i = 0; i < n; ++i) wrong += runs[i].load() != 1;
    for (int64_t i = n; i < 16; ++i) wrong += runs[i].load() != 0;
  }
  EXPECT_EQ(wrong, 0);
}

}  // namespace
}  // namespace wan::cpu
